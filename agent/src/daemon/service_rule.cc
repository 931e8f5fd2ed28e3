#include "daemon/service_rule.h"

#include <set>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "absl/strings/strip.h"

namespace stallscope {
namespace {

const std::set<std::string> kPlain = {"workload", "pod", "namespace", "container", "app", "server", "comm"};
const std::set<std::string> kWithArg = {"env", "label", "text"};

// Kubernetes generates name suffixes from this alphabet (no vowels, no look-alikes:
// k8s.io/apimachinery/pkg/util/rand), which tells them apart from words in a name.
bool IsGeneratedSuffix(absl::string_view s, size_t min_len, size_t max_len) {
  if (s.size() < min_len || s.size() > max_len) return false;
  for (char c : s)
    if (!absl::StrContains("bcdfghjklmnpqrstvwxz2456789", c)) return false;
  return true;
}

bool AllDigits(absl::string_view s) {
  return !s.empty() && s.find_first_not_of("0123456789") == absl::string_view::npos;
}

}  // namespace

absl::StatusOr<ServiceRule> ParseServiceRule(const std::string& text) {
  ServiceRule rule;
  for (absl::string_view part : absl::StrSplit(text, ',', absl::SkipWhitespace())) {
    part = absl::StripAsciiWhitespace(part);
    ServiceSource src;
    size_t colon = part.find(':');
    src.kind = std::string(part.substr(0, colon));
    if (colon != absl::string_view::npos) src.arg = std::string(part.substr(colon + 1));
    bool ok = kPlain.count(src.kind) ? src.arg.empty() : kWithArg.count(src.kind) && !src.arg.empty();
    if (!ok)
      return absl::InvalidArgumentError(absl::StrCat(
          "'", part, "' is not a service source (env:NAME, label:KEY, text:VALUE, workload, pod, namespace, "
          "container, app, server, comm)"));
    rule.push_back(std::move(src));
  }
  if (rule.empty()) return absl::InvalidArgumentError("no service source given");
  return rule;
}

std::string EvaluateServiceRule(const ServiceRule& rule, const ServiceInputs& in) {
  for (const ServiceSource& s : rule) {
    std::string v;
    if (s.kind == "env") v = in.env ? in.env(s.arg) : "";
    else if (s.kind == "label") {
      if (in.labels)
        if (auto it = in.labels->find(s.arg); it != in.labels->end()) v = it->second;
    } else if (s.kind == "workload") v = WorkloadFromPodName(in.pod);
    else if (s.kind == "pod") v = in.pod;
    else if (s.kind == "namespace") v = in.pod_namespace;
    else if (s.kind == "container") v = in.container;
    else if (s.kind == "app") v = ServiceFromApp(in.app);
    else if (s.kind == "server") v = in.server;
    else if (s.kind == "comm") v = in.comm;
    else if (s.kind == "text") v = s.arg;
    if (!v.empty()) return v;
  }
  return "";
}

std::string WorkloadFromPodName(const std::string& pod) {
  std::vector<absl::string_view> parts = absl::StrSplit(pod, '-');
  if (parts.size() < 2) return pod;
  if (AllDigits(parts.back())) {  // StatefulSet ordinal
    parts.pop_back();
  } else if (IsGeneratedSuffix(parts.back(), 5, 5)) {  // pod suffix
    parts.pop_back();
    // ReplicaSet pod-template-hash (Deployment) or a CronJob's scheduled time.
    if (parts.size() >= 2 && (IsGeneratedSuffix(parts.back(), 6, 10) || AllDigits(parts.back()))) parts.pop_back();
  }
  return absl::StrJoin(parts, "-");
}

std::string ServiceFromApp(const std::string& app) {
  absl::string_view a = app;
  if (size_t slash = a.rfind('/'); slash != absl::string_view::npos) a = a.substr(slash + 1);
  a = a.substr(0, a.find(':'));
  absl::ConsumeSuffix(&a, ".py");
  absl::ConsumeSuffix(&a, ".ini");
  return std::string(a.substr(0, a.find('.')));
}

}  // namespace stallscope
