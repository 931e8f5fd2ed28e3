// The daemon's config file: keys, selector lines (compiled regexes) and the service rule,
// then the selectors and the rule applied to one fixed process, as discovery applies them.
#include <cstddef>
#include <cstdint>
#include <map>
#include <string>

#include "daemon/daemon_config.h"
#include "daemon/selectors.h"
#include "daemon/service_rule.h"

namespace {

stallscope::ContainerInfo InPod(pid_t) {
  stallscope::ContainerInfo info;
  info.cgroup.cgroup_path = "/kubepods/burstable/pod1234/abcdef";
  info.meta.pod = "shop-7d9f8b6c5d-x2x9z";
  info.meta.pod_namespace = "prod";
  info.meta.container = "web";
  info.meta.labels = {{"app", "shop"}, {"io.kubernetes.pod.name", "shop-7d9f8b6c5d-x2x9z"}};
  return info;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  auto config = stallscope::ParseDaemonConfig(std::string(reinterpret_cast<const char*>(data), size));
  if (!config.ok()) return 0;
  stallscope::ProcessFacts facts;
  facts.stat.pid = 1;  // no /proc reads: the fake root below does not exist
  facts.argv = {"/usr/bin/python3", "/usr/bin/gunicorn", "shop.wsgi:app"};
  facts.cmdline = "/usr/bin/python3 /usr/bin/gunicorn shop.wsgi:app";
  facts.exe = "/usr/bin/python3.11";
  facts.stat.comm = "gunicorn";
  if (auto selectors = stallscope::SelectorSet::Create(config->select, config->exclude); selectors.ok()) {
    stallscope::Candidate candidate(facts, InPod, "/nonexistent-proc");
    selectors->Selects(candidate);
  }
  if (auto rule = stallscope::ParseServiceRule(config->service); rule.ok()) {
    std::map<std::string, std::string> labels = InPod(1).meta.labels;
    stallscope::ServiceInputs in;
    in.env = [](const std::string& name) { return name == "STALLSCOPE_SERVICE" ? "" : "x"; };
    in.labels = &labels;
    in.pod = "shop-7d9f8b6c5d-x2x9z";
    in.app = "shop.wsgi:app";
    in.comm = "gunicorn";
    stallscope::EvaluateServiceRule(*rule, in);
  }
  return 0;
}
