// /proc/PID/cgroup: container id, runtime, pod UID and QoS class from the cgroup paths.
#include <cstddef>
#include <cstdint>
#include <string>

#include "identity/cgroup_identity.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::string text(reinterpret_cast<const char*>(data), size);
  stallscope::ParseCgroupFile(text);
  stallscope::ParseCgroupPath(text);
  return 0;
}
