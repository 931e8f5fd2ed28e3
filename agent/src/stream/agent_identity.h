// Who this agent is, for the collector: host, boot id, version, and the container / pod /
// service of what it watches where that is known.
#ifndef STALLSCOPE_AGENT_STREAM_AGENT_IDENTITY_H_
#define STALLSCOPE_AGENT_STREAM_AGENT_IDENTITY_H_

#include <sys/types.h>

#include <string>

#include "stallscope/v1/report.pb.h"

namespace stallscope {

// `service`: --service, else $STALLSCOPE_SERVICE. The container is the first watched
// process's (from /proc/PID/cgroup); the pod comes from $POD_NAME / $POD_NAMESPACE (the
// Kubernetes downward API).
v1::AgentIdentity BuildAgentIdentity(const std::string& service, pid_t first_pid);

// The 64-hex-digit container id in a /proc/PID/cgroup text (docker, containerd, CRI-O), or "".
std::string ContainerIdFromCgroup(const std::string& cgroup);

}  // namespace stallscope

#endif  // STALLSCOPE_AGENT_STREAM_AGENT_IDENTITY_H_
