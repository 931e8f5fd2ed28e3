#include "bpf/tracefs.h"

#include <sys/mount.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include "absl/strings/str_cat.h"

namespace stallscope {
namespace {

constexpr char kDebugfsTracing[] = "/sys/kernel/debug/tracing";
constexpr char kTracefs[] = "/sys/kernel/tracing";

bool HasEvents(const std::string& dir) {
  return access((dir + "/events").c_str(), R_OK | X_OK) == 0;
}

}  // namespace

absl::StatusOr<std::string> EnsureTracefs() {
  // libbpf 1.x picks the debugfs path whenever it exists, so name the one it will read.
  if (access(kDebugfsTracing, F_OK) == 0) {
    if (HasEvents(kDebugfsTracing)) return std::string(kDebugfsTracing);
  } else if (HasEvents(kTracefs)) {
    return std::string(kTracefs);
  }
  if (mount("nodev", kTracefs, "tracefs", 0, nullptr) != 0 && errno != EBUSY)
    return absl::UnavailableError(
        absl::StrCat("tracefs is not mounted and mounting it on ", kTracefs, " failed: ",
                     strerror(errno)));
  if (access(kDebugfsTracing, F_OK) == 0) {
    if (HasEvents(kDebugfsTracing)) return std::string(kDebugfsTracing);
    return absl::UnavailableError(
        absl::StrCat(kDebugfsTracing, " exists but lists no events (debugfs without tracefs)"));
  }
  if (!HasEvents(kTracefs))
    return absl::UnavailableError(absl::StrCat("tracefs at ", kTracefs, " lists no events"));
  return std::string(kTracefs);
}

bool TraceEventExists(const std::string& tracefs, const std::string& category,
                      const std::string& event) {
  return access(absl::StrCat(tracefs, "/events/", category, "/", event, "/id").c_str(), R_OK) == 0;
}

}  // namespace stallscope
