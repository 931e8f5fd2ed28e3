// Where the kernel's trace events are listed (tracefs), mounting it when it is missing.
// Per-syscall tracepoints need it: libbpf reads their ids from <tracefs>/events/.../id.
#ifndef STALLSCOPE_AGENT_BPF_TRACEFS_H_
#define STALLSCOPE_AGENT_BPF_TRACEFS_H_

#include <string>

#include "absl/status/statusor.h"

namespace stallscope {

// The tracefs directory libbpf will use (it prefers /sys/kernel/debug/tracing when that
// exists, like libbpf itself), mounting tracefs at /sys/kernel/tracing when neither is there.
// Fails when it is absent and cannot be mounted (no CAP_SYS_ADMIN, a container without the
// mount): the caller falls back to the raw_syscalls tracepoints, which need no tracefs.
absl::StatusOr<std::string> EnsureTracefs();

// Whether <tracefs>/events/<category>/<event> exists on this kernel.
bool TraceEventExists(const std::string& tracefs, const std::string& category,
                      const std::string& event);

}  // namespace stallscope

#endif  // STALLSCOPE_AGENT_BPF_TRACEFS_H_
