// The ProcessIdentity every daemon report carries: container and Kubernetes names (from the
// cgroup path and the runtime's / kubelet's files), the server and app that discovery saw, and
// the service label from the configured rule. Cached per process; container metadata is
// cached per container, so a pod's workers cost one lookup.
#ifndef STALLSCOPE_AGENT_DAEMON_PROCESS_IDENTITY_H_
#define STALLSCOPE_AGENT_DAEMON_PROCESS_IDENTITY_H_

#include <sys/types.h>

#include <string>

#include "absl/container/flat_hash_map.h"
#include "daemon/selectors.h"
#include "daemon/server_detect.h"
#include "daemon/service_rule.h"
#include "stallscope/v1/report.pb.h"

namespace stallscope {

class IdentityResolver {
 public:
  IdentityResolver(std::string host_root, ServiceRule rule, std::string proc_root = "/proc");

  // Cgroup identity and container metadata of a live process.
  ContainerInfo Container(pid_t pid);
  // The identity for reports about `pid` (computed on first use, while the process lives).
  const v1::ProcessIdentity& For(pid_t pid);
  // What discovery matched for a process it tracks; its workers inherit it.
  void RememberServer(pid_t pid, const ServerMatch& match);
  void Forget(pid_t pid);
  // A new rule or host root (config reload): identities are recomputed on next use.
  void Reset(std::string host_root, ServiceRule rule);
  size_t cached() const { return identities_.size(); }

 private:
  std::optional<ServerMatch> ServerOf(pid_t pid);

  std::string host_root_;
  ServiceRule rule_;
  std::string proc_root_;
  absl::flat_hash_map<pid_t, v1::ProcessIdentity> identities_;
  absl::flat_hash_map<pid_t, ServerMatch> servers_;
  absl::flat_hash_map<std::string, ContainerMetadata> containers_;  // by container id
};

}  // namespace stallscope

#endif  // STALLSCOPE_AGENT_DAEMON_PROCESS_IDENTITY_H_
