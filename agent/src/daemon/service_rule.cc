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

bool IsOrchestratorSource(const ServiceSource& s) {
  return s.kind == "label" || s.kind == "workload" || s.kind == "pod" || s.kind == "namespace" ||
         s.kind == "container";
}

std::string ValueOf(const ServiceSource& s, const ServiceInputs& in) {
  if (s.kind == "env") return in.env ? in.env(s.arg) : "";
  if (s.kind == "label") {
    if (in.labels == nullptr) return "";
    auto it = in.labels->find(s.arg);
    return it == in.labels->end() ? "" : it->second;
  }
  if (s.kind == "workload") return WorkloadFromPodName(in.pod);
  if (s.kind == "pod") return in.pod;
  if (s.kind == "namespace") return in.pod_namespace;
  if (s.kind == "container") return in.container;
  if (s.kind == "app") return ServiceFromApp(in.app);
  if (s.kind == "server") return in.server;
  if (s.kind == "comm") return in.comm;
  if (s.kind == "text") return s.arg;
  return "";
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

bool IsProcessSource(const ServiceSource& source) {
  return source.kind == "env" || source.kind == "app" || source.kind == "server" || source.kind == "comm";
}

ServiceName EvaluateServiceRule(const ServiceRule& rule, const ServiceInputs& in) {
  for (bool orchestrator : {true, false}) {
    for (const ServiceSource& s : rule) {
      if (IsOrchestratorSource(s) != orchestrator) continue;
      std::string v = ValueOf(s, in);
      if (v.empty()) continue;
      return {std::move(v), s.arg.empty() ? s.kind : absl::StrCat(s.kind, ":", s.arg), IsProcessSource(s)};
    }
  }
  return {};
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
