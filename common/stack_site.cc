#include "stack_site.h"

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "safe_text.h"

namespace stallscope {
namespace {

constexpr size_t kMaxSiteLabelBytes = 8192;

}  // namespace

bool IsApplicationFile(absl::string_view file) {
  if (file.empty() || file.front() == '<') return false;  // <frozen importlib._bootstrap>
  return !absl::StrContains(file, "/site-packages/") && !absl::StrContains(file, "/dist-packages/") &&
         !absl::StrContains(file, "/lib/python") && !absl::StrContains(file, "/lib64/python");
}

const v1::Frame* SiteFrame(const google::protobuf::RepeatedPtrField<v1::Frame>& stack) {
  const v1::Frame* python = nullptr;
  const v1::Frame* named_native = nullptr;
  for (const v1::Frame& f : stack) {
    if (f.kind() != v1::Frame::PYTHON) {
      if (named_native == nullptr && !f.function().empty()) named_native = &f;
      continue;
    }
    if (IsApplicationFile(f.file())) return &f;
    if (python == nullptr) python = &f;
  }
  if (python != nullptr) return python;
  if (named_native != nullptr) return named_native;
  return stack.empty() ? nullptr : &stack.Get(0);
}

std::string SiteLabel(const v1::Frame& f) {
  std::string label;
  if (f.kind() == v1::Frame::PYTHON) {
    label = absl::StrCat(f.file(), ":", f.line(), " ", f.function());
  } else {
    std::string function = f.function().empty() ? absl::StrCat("0x", absl::Hex(f.address())) : f.function();
    label = f.module().empty() ? function : absl::StrCat(function, " (", f.module(), ")");
  }
  // Names a target chose, whichever agent sent them (an old one may send them raw): safe text
  // (docs/security.md, "Target strings"); a no-op on what this agent already made safe.
  return SafeText(label, kMaxSiteLabelBytes);
}

std::string StackSite(const google::protobuf::RepeatedPtrField<v1::Frame>& stack) {
  const v1::Frame* site = SiteFrame(stack);
  return site == nullptr ? "" : SiteLabel(*site);
}

}  // namespace stallscope
