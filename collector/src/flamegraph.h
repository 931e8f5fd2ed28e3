// A flame graph of stalled time: the stacks of stall reports merged into one tree, each
// node weighted by the stalled nanoseconds of the reports that pass through it.
#ifndef STALLSCOPE_COLLECTOR_FLAMEGRAPH_H_
#define STALLSCOPE_COLLECTOR_FLAMEGRAPH_H_

#include <cstdint>
#include <map>
#include <memory>
#include <string>

#include "stallscope/v1/report.pb.h"

namespace stallscope::collector {

class FlameGraph {
 public:
  // Adds a stack (innermost frame first, as reports carry it) weighted by `ns`.
  void Add(const google::protobuf::RepeatedPtrField<v1::Frame>& stack, uint64_t ns);
  // {"name":"all","value":N,"children":[...]}; nodes under `min_fraction` of the total are
  // folded into their parent to keep the page light.
  std::string ToJson(double min_fraction = 0.001) const;
  uint64_t total_ns() const { return root_.value; }

 private:
  struct Node {
    uint64_t value = 0;
    std::map<std::string, std::unique_ptr<Node>> children;
  };
  static void Write(const std::string& name, const Node& node, uint64_t min_value, std::string& out);
  Node root_;
};

}  // namespace stallscope::collector

#endif  // STALLSCOPE_COLLECTOR_FLAMEGRAPH_H_
