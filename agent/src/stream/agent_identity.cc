#include "stream/agent_identity.h"

#include <unistd.h>

#include <chrono>
#include <cstdlib>
#include <fstream>
#include <random>
#include <sstream>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/strip.h"
#include "identity/cgroup_identity.h"
#include "target_files/target_strings.h"

namespace stallscope {
namespace {

std::string ReadFile(const std::string& path) {
  std::ifstream in(path);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

std::string Env(const char* name) {
  const char* v = getenv(name);
  return v ? v : "";
}

std::string RandomId() {
  std::random_device rd;
  std::string id;
  for (int i = 0; i < 4; ++i) id += absl::StrFormat("%08x", rd());
  return id;
}

}  // namespace

std::string ContainerIdFromCgroup(const std::string& cgroup) { return ParseCgroupFile(cgroup).container_id; }

v1::AgentIdentity BuildAgentIdentity(const std::string& service, pid_t first_pid) {
  v1::AgentIdentity id;
  id.set_agent_id(RandomId());
  // In a Kubernetes pod the hostname is the pod's name: the node's name comes from the
  // downward API (spec.nodeName as $NODE_NAME) when the manifest provides it.
  char host[256] = {};
  if (!Env("NODE_NAME").empty()) id.set_host(Env("NODE_NAME"));
  else if (gethostname(host, sizeof(host) - 1) == 0) id.set_host(host);
  id.set_boot_id(std::string(absl::StripAsciiWhitespace(ReadFile("/proc/sys/kernel/random/boot_id"))));
  id.set_agent_version(STALLSCOPE_VERSION);
  id.set_container_id(ContainerIdFromCgroup(ReadFile(absl::StrCat("/proc/", first_pid, "/cgroup"))));
  id.set_pod(Env("POD_NAME"));
  id.set_pod_namespace(Env("POD_NAMESPACE"));
  id.set_service(service.empty() ? Env("STALLSCOPE_SERVICE") : service);
  id.set_started_unix_nano(static_cast<uint64_t>(
      std::chrono::duration_cast<std::chrono::nanoseconds>(std::chrono::system_clock::now().time_since_epoch()).count()));
  // The first target's cgroup, the environment: safe text, within the collector's 256 bytes,
  // so the identity (sent first on every stream) can never make the stream malformed.
  for (std::string* s : {id.mutable_host(), id.mutable_boot_id(), id.mutable_container_id(), id.mutable_pod(),
                         id.mutable_pod_namespace(), id.mutable_service()}) {
    SanitizeTargetStringInPlace(s, kMaxLabelTextBytes);
  }
  return id;
}

}  // namespace stallscope
