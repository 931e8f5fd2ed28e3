#include "flamegraph.h"

#include "absl/strings/str_cat.h"
#include "json.h"
#include "report_index.h"

namespace stallscope::collector {

void FlameGraph::Add(const google::protobuf::RepeatedPtrField<v1::Frame>& stack, uint64_t ns) {
  root_.value += ns;
  Node* node = &root_;
  if (stack.empty()) {
    auto& child = node->children["(no stack)"];
    if (!child) child = std::make_unique<Node>();
    child->value += ns;
    return;
  }
  for (int i = stack.size() - 1; i >= 0; --i) {  // root (outermost) first
    auto& child = node->children[FrameLabel(stack.Get(i))];
    if (!child) child = std::make_unique<Node>();
    child->value += ns;
    node = child.get();
  }
}

void FlameGraph::Write(const std::string& name, const Node& node, uint64_t min_value, std::string& out) {
  absl::StrAppend(&out, "{\"name\":", JsonString(name), ",\"value\":", node.value);
  bool any = false;
  for (const auto& [child_name, child] : node.children) {
    if (child->value < min_value) continue;
    out += any ? "," : ",\"children\":[";
    any = true;
    Write(child_name, *child, min_value, out);
  }
  if (any) out += "]";
  out += "}";
}

std::string FlameGraph::ToJson(double min_fraction) const {
  std::string out;
  Write("all", root_, static_cast<uint64_t>(root_.value * min_fraction), out);
  return out;
}

}  // namespace stallscope::collector
