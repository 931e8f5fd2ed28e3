#include "bpf/tracefs.h"

#include <sys/mount.h>
#include <sys/stat.h>

#include <cerrno>
#include <cstring>

#include "absl/strings/str_cat.h"

namespace stallscope {
namespace {

bool HasEvents(const char* dir) {
  struct stat st {};
  return stat(absl::StrCat(dir, "/events/syscalls").c_str(), &st) == 0;
}

}  // namespace

absl::Status EnsureTracefs() {
  constexpr const char* kTracefs = "/sys/kernel/tracing";
  if (HasEvents(kTracefs) || HasEvents("/sys/kernel/debug/tracing")) return absl::OkStatus();
  if (mount("nodev", kTracefs, "tracefs", 0, nullptr) != 0 && errno != EBUSY)
    return absl::FailedPreconditionError(
        absl::StrCat("cannot mount tracefs at ", kTracefs, ": ", strerror(errno)));
  if (HasEvents(kTracefs)) return absl::OkStatus();
  return absl::FailedPreconditionError(
      absl::StrCat(kTracefs, " has no syscall events (kernel without CONFIG_FTRACE_SYSCALLS?)"));
}

}  // namespace stallscope
