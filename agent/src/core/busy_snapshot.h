// A busy period as the agent sees it: either finished (from a kernel stall event) or still
// running (computed from the live thread map). Everything a LoopBlock report needs, in
// plain values, before fds are named and stacks symbolized.
#ifndef STALLSCOPE_AGENT_CORE_BUSY_SNAPSHOT_H_
#define STALLSCOPE_AGENT_CORE_BUSY_SNAPSHOT_H_

#include <sys/types.h>

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "stallscope_abi.h"

namespace stallscope {

struct SyscallSample {
  int nr = -1;  // -1: blocking calls that did not fit in the kernel's slots ("other")
  int fd = SS_NO_FD;
  uint64_t total_ns = 0;
  uint32_t count = 0;
  bool in_progress = false;
  uint32_t file_kind = SS_FILE_UNKNOWN;
  ss_sock_addr sock{};  // family 0 when the kernel did not name it
};

enum class StackKind { kNone, kBlockingSyscall, kCpuSample };

struct BusySnapshot {
  pid_t pid = 0;
  pid_t tid = 0;
  std::string comm;
  uint32_t seq = 0;
  uint64_t start_kernel_ns = 0;
  uint64_t end_kernel_ns = 0;  // "now" for a period still in progress
  uint64_t on_cpu_ns = 0;
  uint64_t off_cpu_ns = 0;
  uint64_t runq_ns = 0;
  std::vector<SyscallSample> syscalls;  // largest total first
  std::vector<uint64_t> stack;          // user addresses, innermost first
  StackKind stack_kind = StackKind::kNone;
  bool in_progress = false;
  // In-progress snapshots of a thread asleep in a syscall: when it went to sleep there (boot
  // ns), to tell whether it is still in that same call later; 0 when it was not asleep.
  uint64_t asleep_since_ns = 0;
  bool thread_exited = false;
  bool adds_connections = false;  // kernel evidence the thread multiplexes client connections
  int wait_nr = -1;  // the loop's wait (for in-progress: the last one it made)
  int wait_fd = SS_NO_FD;

  uint64_t duration_ns() const { return end_kernel_ns - start_kernel_ns; }
};

// A finished period, from the kernel's stall event.
BusySnapshot SnapshotFromStallEvent(const ss_stall_event& event);

// A period still running at `now_kernel_ns`, from the thread map: adds the time since the last
// scheduler event to the right bucket and the syscall the thread is inside right now.
// `cpu_time_ns`: the thread's CPU time now (the scheduler's sum_exec_runtime, as in
// /proc/PID/task/TID/schedstat), if known. When it grew since the kernel last saw the thread
// leave a CPU, the thread ran again without a switch-in event reaching the probes (see
// repair_missed_switch_in in bpf/stallscope.bpf.c): that time is on-CPU, not waiting.
BusySnapshot SnapshotFromThreadState(const ss_thread_state& state, uint64_t now_kernel_ns,
                                     std::optional<uint64_t> cpu_time_ns = std::nullopt);

}  // namespace stallscope

#endif  // STALLSCOPE_AGENT_CORE_BUSY_SNAPSHOT_H_
