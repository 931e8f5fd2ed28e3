// tracefs: `tracepoint/` programs need it (libbpf reads event ids from it). A fresh machine may
// not have it mounted; the agent mounts it where the kernel expects it.
#ifndef STALLSCOPE_AGENT_BPF_TRACEFS_H_
#define STALLSCOPE_AGENT_BPF_TRACEFS_H_

#include "absl/status/status.h"

namespace stallscope {

// OK when /sys/kernel/tracing (or the debugfs path libbpf also tries) has events, mounting
// tracefs at /sys/kernel/tracing if needed; FailedPrecondition saying why otherwise.
absl::Status EnsureTracefs();

}  // namespace stallscope

#endif  // STALLSCOPE_AGENT_BPF_TRACEFS_H_
