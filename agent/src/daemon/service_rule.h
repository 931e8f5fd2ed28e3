// The `service` label of a process: an ordered list of sources. What the orchestrator says wins
// over what the process says of itself: the first orchestrator source (label, workload, pod,
// namespace, container) that gives a non-empty value names the service; only when none does,
// the first of the others (env, app, server, comm, text), in the rule's order. A process sets
// its own environment, script and name (and can re-exec itself with any of them): read alone
// they would let a pod pose as another service. Sources:
//   env:NAME     the process's environment variable NAME
//   label:KEY    a container label / OCI annotation
//   workload     the Kubernetes pod name without its controller suffixes (checkout-7d9f8b6c5-x2x9k -> checkout)
//   pod, namespace, container   the Kubernetes names as they are
//   app          the server's app module or script (shop.wsgi:app -> shop, app.py -> app)
//   server       gunicorn, uwsgi, tornado, ...
//   comm         the process name
//   text:VALUE   VALUE itself (a fallback)
#ifndef STALLSCOPE_AGENT_DAEMON_SERVICE_RULE_H_
#define STALLSCOPE_AGENT_DAEMON_SERVICE_RULE_H_

#include <functional>
#include <map>
#include <string>
#include <vector>

#include "absl/status/statusor.h"

namespace stallscope {

struct ServiceSource {
  std::string kind;  // env, label, workload, pod, namespace, container, app, server, comm, text
  std::string arg;
};

using ServiceRule = std::vector<ServiceSource>;

// "env:OTEL_SERVICE_NAME, label:app, workload, comm"
absl::StatusOr<ServiceRule> ParseServiceRule(const std::string& text);

struct ServiceInputs {
  std::function<std::string(const std::string&)> env;  // reads the process's environment on demand
  const std::map<std::string, std::string>* labels = nullptr;
  std::string pod, pod_namespace, container, app, server, comm;
};

// What the rule gave and from where.
struct ServiceName {
  std::string value;
  std::string source;  // the source as written in the rule: "workload", "env:OTEL_SERVICE_NAME"
  bool hint = false;   // the process's own word (env, app, server, comm): no orchestrator source gave one
};

// Orchestrator sources first (a process cannot change them), then the rest.
ServiceName EvaluateServiceRule(const ServiceRule& rule, const ServiceInputs& in);

// True for the sources whose value the process itself controls: env, app, server, comm.
bool IsProcessSource(const ServiceSource& source);

// checkout-7d9f8b6c5-x2x9k -> checkout (Deployment), web-0 -> web (StatefulSet),
// agent-x2x9k -> agent (DaemonSet/Job); other names unchanged.
std::string WorkloadFromPodName(const std::string& pod);

// shop.wsgi:app -> shop; /srv/app.py -> app; aiohttp.web -> aiohttp
std::string ServiceFromApp(const std::string& app);

}  // namespace stallscope

#endif  // STALLSCOPE_AGENT_DAEMON_SERVICE_RULE_H_
