#include "daemon/process_identity.h"

#include <sstream>

#include "absl/strings/str_cat.h"
#include "target_files/target_files.h"
#include "target_files/target_strings.h"

namespace stallscope {
namespace {

// Bounds on the caches: identities are dropped when processes exit, container metadata
// when there are more containers than this (a busy node; they are re-read on demand).
constexpr size_t kMaxIdentities = 65536;
constexpr size_t kMaxContainers = 4096;

// /proc/PID/cgroup and the like, bounded, through the target-files door.
std::string ReadText(const std::string& path) {
  return target_files::ReadProcFile(path).value_or("");
}

}  // namespace

IdentityResolver::IdentityResolver(std::string host_root, ServiceRule rule, std::string proc_root)
    : host_root_(std::move(host_root)), rule_(std::move(rule)), proc_root_(std::move(proc_root)) {}

ContainerInfo IdentityResolver::Container(pid_t pid) {
  ContainerInfo info;
  info.cgroup = ParseCgroupFile(ReadText(absl::StrCat(proc_root_, "/", pid, "/cgroup")));
  const std::string& id = info.cgroup.container_id;
  if (id.empty() && info.cgroup.pod_uid.empty()) return info;
  std::string key = id.empty() ? "pod:" + info.cgroup.pod_uid : id;
  auto it = containers_.find(key);
  if (it == containers_.end()) {
    if (containers_.size() >= kMaxContainers) containers_.clear();
    it = containers_.emplace(key, ReadContainerMetadata(host_root_, id, info.cgroup.runtime, info.cgroup.pod_uid)).first;
  }
  info.meta = it->second;
  return info;
}

std::optional<ServerMatch> IdentityResolver::ServerOf(pid_t pid) {
  if (auto it = servers_.find(pid); it != servers_.end()) return it->second;
  // A worker forked by a tracked master: the master's match (walk up a few parents).
  pid_t p = pid;
  for (int depth = 0; depth < 4; ++depth) {
    auto stat = ReadProcessStat(p, proc_root_);
    if (!stat || stat->ppid <= 1) break;
    p = stat->ppid;
    if (auto it = servers_.find(p); it != servers_.end()) return it->second;
  }
  auto facts = ReadProcessFacts(pid, proc_root_);
  return facts ? DetectServer(*facts, proc_root_) : std::nullopt;
}

const v1::ProcessIdentity& IdentityResolver::For(pid_t pid) {
  if (auto it = identities_.find(pid); it != identities_.end()) return it->second;
  if (identities_.size() >= kMaxIdentities) identities_.clear();
  v1::ProcessIdentity& id = identities_[pid];
  ContainerInfo c = Container(pid);
  id.set_container_id(c.cgroup.container_id);
  id.set_container_runtime(c.cgroup.runtime);
  id.set_pod_uid(c.cgroup.pod_uid);
  id.set_pod(c.meta.pod);
  id.set_pod_namespace(c.meta.pod_namespace);
  id.set_container(c.meta.container);
  id.set_workload(WorkloadFromPodName(c.meta.pod));
  std::optional<ServerMatch> server = ServerOf(pid);
  if (server) {
    id.set_server(server->server);
    id.set_app(server->app);
  }
  auto stat = ReadProcessStat(pid, proc_root_);
  ServiceInputs in;
  in.env = [this, pid](const std::string& name) { return ReadEnvironVar(pid, name, proc_root_); };
  in.labels = &c.meta.labels;
  in.pod = c.meta.pod;
  in.pod_namespace = c.meta.pod_namespace;
  in.container = c.meta.container;
  in.app = id.app();
  in.server = id.server();
  in.comm = stat ? stat->comm : "";
  ServiceName service = EvaluateServiceRule(rule_, in);
  id.set_service(service.value);
  id.set_service_source(service.source);
  id.set_service_hint(service.hint);
  // Everything above comes from the target (its environment, command line, cgroup) or its
  // container's metadata: safe text before any log line, label or report shows it.
  for (std::string* s : {id.mutable_container_id(), id.mutable_container_runtime(), id.mutable_pod_uid(),
                         id.mutable_pod(), id.mutable_pod_namespace(), id.mutable_container(), id.mutable_workload(),
                         id.mutable_server(), id.mutable_app(), id.mutable_service()}) {
    SanitizeTargetStringInPlace(s, kMaxLabelTextBytes);
  }
  return id;
}

void IdentityResolver::RememberServer(pid_t pid, const ServerMatch& match) {
  servers_[pid] = match;
  identities_.erase(pid);
}

void IdentityResolver::Forget(pid_t pid) {
  identities_.erase(pid);
  servers_.erase(pid);
}

void IdentityResolver::Reset(std::string host_root, ServiceRule rule) {
  host_root_ = std::move(host_root);
  rule_ = std::move(rule);
  identities_.clear();
  containers_.clear();
}

}  // namespace stallscope
