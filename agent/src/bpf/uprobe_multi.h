// Uprobe links made with BPF_LINK_CREATE / BPF_TRACE_UPROBE_MULTI (Linux 6.6+), which
// libbpf 1.1 (Debian 12) predates.
//
// Why not libbpf's perf-event uprobes: each one is a perf trace event, and the kernel tears
// those down under its global event_mutex while it waits for an RCU grace period (~200 ms
// here), so a perf uprobe cannot be attached anywhere while another is being detached. Armed
// and disarmed many times a second (wait_uprobe_arming.h), that serialised every arm behind
// the last disarm. A uprobe-multi link registers the uprobe directly; closing its fd waits for
// the grace period in the closing thread only.
#ifndef STALLSCOPE_AGENT_BPF_UPROBE_MULTI_H_
#define STALLSCOPE_AGENT_BPF_UPROBE_MULTI_H_

#include <sys/types.h>

#include <cstdint>
#include <optional>
#include <string>

#include "absl/status/statusor.h"

namespace stallscope {

// The kernel's value of BPF_TRACE_UPROBE_MULTI (from its BTF), nullopt when it has none.
std::optional<uint32_t> UprobeMultiAttachType();

// Attaches the loaded program `prog_fd` (loaded with that expected attach type) at `offset` in
// the file `path`, in process `pid` only. Returns the link's fd: closing it detaches.
absl::StatusOr<int> AttachUprobeMulti(int prog_fd, uint32_t attach_type, const std::string& path,
                                      uint64_t offset, pid_t pid);

}  // namespace stallscope

#endif  // STALLSCOPE_AGENT_BPF_UPROBE_MULTI_H_
