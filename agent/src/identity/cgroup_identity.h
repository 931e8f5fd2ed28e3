// Which container a process runs in, read from its /proc/PID/cgroup: the container id, the
// runtime that created it, and for Kubernetes the pod's UID and QoS class. Works for cgroup v1
// (one line per hierarchy) and v2 ("0::/..."), with the systemd and cgroupfs drivers, for
// containerd, CRI-O, Docker and Podman.
#ifndef STALLSCOPE_AGENT_IDENTITY_CGROUP_IDENTITY_H_
#define STALLSCOPE_AGENT_IDENTITY_CGROUP_IDENTITY_H_

#include <string>

namespace stallscope {

struct CgroupIdentity {
  std::string cgroup_path;   // the path the fields come from (the v2 line, else the first v1 line with an id)
  std::string container_id;  // 64 lowercase hex digits, "" outside containers
  std::string runtime;       // "containerd", "cri-o", "docker", "podman", or "" when the path does not say
  std::string pod_uid;       // Kubernetes pod UID with dashes, "" outside Kubernetes
  std::string qos_class;     // "guaranteed", "burstable", "besteffort" (Kubernetes), or ""
};

// `cgroup_file` is the whole text of /proc/PID/cgroup.
CgroupIdentity ParseCgroupFile(const std::string& cgroup_file);

// One cgroup path ("/kubepods.slice/.../cri-containerd-<id>.scope").
CgroupIdentity ParseCgroupPath(const std::string& path);

}  // namespace stallscope

#endif  // STALLSCOPE_AGENT_IDENTITY_CGROUP_IDENTITY_H_
