// Owns the loaded BPF programs: loads and attaches them, tracks processes, polls the ring
// buffer, reads the per-thread map and the drop counters. Every libbpf error becomes an
// absl::Status here, once, with a message a user can act on.
#ifndef STALLSCOPE_AGENT_BPF_PROBE_SESSION_H_
#define STALLSCOPE_AGENT_BPF_PROBE_SESSION_H_

#include <sys/types.h>

#include <array>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "stallscope_abi.h"

struct stallscope_bpf;  // the generated skeleton (bpf/stallscope.bpf.c)
struct ring_buffer;
struct bpf_link;

namespace stallscope {

// How the waits that bound busy periods are hooked (see bpf/wait_hooks.bpf.h).
enum class SyscallHooks {
  kAuto,         // per-syscall tracepoints when tracefs can be had, else raw_syscalls
  kTracepoints,  // syscalls:sys_{enter,exit}_<wait>: other syscalls never run a program
  kRawSyscalls,  // tp_btf raw_syscalls: every syscall on the host runs one; needs no tracefs
  // No syscall hook: waits seen at switch-out (saved registers), plus pid-scoped uprobes on the
  // libc wait functions armed only while a loop is a suspect (bpf/wait_hooks.bpf.h).
  kSched,
};

// The name users see (--syscall-hooks, the startup line, agentStats.wait_hooks).
const char* SyscallHooksName(SyscallHooks hooks);

struct ProbeConfig {
  uint64_t block_threshold_ns = 100'000'000;
  uint32_t max_threads = 4096;
  uint32_t max_processes = 4096;
  uint32_t cpu_sample_hz = 97;  // stacks of CPU-bound stalls; 0 disables sampling
  SyscallHooks syscall_hooks = SyscallHooks::kAuto;
  bool notify_untracked_exec = false;  // SS_EV_EXEC_UNTRACKED events (daemon discovery)
  uint64_t saturation_threshold_ns = 100'000'000;  // pools: all busy this long is reported
  bool socket_events = true;  // an event per closed TCP connection (SocketLifetime)
  bool verbose = false;
};

class ProbeSession {
 public:
  // Raw event bytes from the ring buffer (an ss_event_header starts each).
  using EventHandler = std::function<void(const void* data, size_t size)>;

  // Fails with PermissionDenied (not root / no CAP_BPF), FailedPrecondition (no BTF, kernel
  // refuses the programs) or Internal.
  static absl::StatusOr<std::unique_ptr<ProbeSession>> Create(const ProbeConfig& config,
                                                              EventHandler on_event);
  ~ProbeSession();
  ProbeSession(const ProbeSession&) = delete;
  ProbeSession& operator=(const ProbeSession&) = delete;

  // Start tracking a process (its threads, and children it forks from now on).
  absl::Status TrackProcess(pid_t tgid);
  void UntrackProcess(pid_t tgid);

  // Delivers ring-buffer events to the handler; waits up to timeout_ms for the first one.
  // Returns the number of events, or a negative errno (-EINTR on a signal).
  int Poll(int timeout_ms);

  // Every thread state in the kernel map (a snapshot, read without stopping the kernel side).
  std::vector<ss_thread_state> ReadThreads() const;
  // One thread's state now; nullopt when the kernel has none.
  std::optional<ss_thread_state> ReadThread(pid_t tid) const;
  // Inserts a state for a thread the kernel has not seen yet (kept if one exists): used at
  // attach for threads already sitting in their wait, whose wait entry we missed.
  absl::Status SeedThread(const ss_thread_state& state);
  void ForgetThread(pid_t tid);

  // Pools (bpf/pools.bpf.h). The pool slot lives in shared memory with the kernel: the agent
  // writes size/listen_port and reads the rest (SS_MAX_POOLS slots).
  volatile ss_pool* Pool(uint32_t pool_id) const;
  absl::Status AddPoolMember(pid_t tid, const ss_pool_member& member);  // kept if present
  std::optional<ss_pool_member> ReadPoolMember(pid_t tid) const;
  void RemovePoolMember(pid_t tid);
  // Listening ports of tracked processes (bpf/sockets.bpf.h), each in a slot of a shared array
  // (SS_MAX_LISTENERS): the agent writes pool_id_plus1 and resets peak_queued, the kernel owns
  // the rest.
  absl::Status SetListener(uint16_t port, uint32_t slot, uint32_t pool_id_plus1);
  volatile ss_listener* Listener(uint32_t slot) const;
  // False when tracefs was unavailable: accept waits and accept counts are then missing.
  bool accept_probes() const { return accept_probes_; }
  // With kSched the accept exits are not attached at load: the caller attaches them while it
  // needs accept waits (a tracked pool saturated) with AttachAcceptHooks (milliseconds: off
  // the poll thread; destroying the links waits for an RCU grace period), and says so to the
  // kernel side with SetAcceptCounting (accept-queue depth is counted only while it is on).
  bool accept_hooks_on_demand() const { return accept_on_demand_; }
  absl::StatusOr<std::vector<struct bpf_link*>> AttachAcceptHooks();
  void SetAcceptCounting(bool on);
  // False on kernels without bpf_task_pt_regs (< 5.15): pools are not tracked.
  bool pools_supported() const { return pools_supported_; }

  // Kernel-side counters (enum ss_counter), summed over CPUs.
  std::array<uint64_t, SS_CNT_MAX> ReadCounters() const;

  // Which hooks were loaded: kSched, kTracepoints or kRawSyscalls, never kAuto.
  SyscallHooks syscall_hooks() const { return syscall_hooks_; }

  // kSched: attaches the uprobe of libc's epoll_wait (or epoll_pwait) to `tgid` only (the
  // kernel plants its breakpoint in that process alone), at `offset` in the object named
  // `path` (e.g. /proc/self/fd/N of a file opened through the target-files door). Detach with
  // DetachWaitUprobe, which waits for an RCU grace period (~200 ms here): callers do that off
  // the thread that polls the ring buffer. Thread-safe.
  enum class WaitFunction { kEpollWait, kEpollPwait };
  struct WaitUprobeLink {
    int fd = -1;                        // a uprobe-multi link (uprobe_multi.h), or
    struct bpf_link* link = nullptr;    // libbpf's perf-event uprobe on kernels before 6.6
  };
  absl::StatusOr<WaitUprobeLink> AttachWaitUprobe(WaitFunction function, pid_t tgid,
                                                  const std::string& path, uint64_t offset);
  static void DetachWaitUprobe(const WaitUprobeLink& link);
  // The armed bit of `tgid`: while set, the next uprobe hit clears it and sends
  // SS_EV_WAIT_UPROBE_HIT. Thread-safe (atomic operations on the shared bitmap).
  void SetWaitUprobesArmed(pid_t tgid, bool armed);

 private:
  ProbeSession() = default;
  absl::Status Load(const ProbeConfig& config);
  absl::Status AttachCpuSampling(uint32_t hz);
  absl::Status ChooseSyscallHooks(SyscallHooks wanted, bool socket_events);

  struct stallscope_bpf* skel_ = nullptr;
  struct ring_buffer* ring_ = nullptr;
  std::vector<int> perf_fds_;
  std::vector<struct bpf_link*> perf_links_;
  uint64_t* tracked_bitmap_ = nullptr;  // mmap of the kernel's tracked_bitmap map
  uint64_t* thread_bitmap_ = nullptr;   // ... thread_bitmap (tids that may have a thread state)
  uint64_t* member_bitmap_ = nullptr;   // ... member_bitmap (tids that may be pool members)
  uint64_t* armed_bitmap_ = nullptr;    // ... armed_bitmap (tgids with wait uprobes armed)
  std::optional<uint32_t> uprobe_multi_type_;  // BPF_TRACE_UPROBE_MULTI, when the kernel has it
  ss_pool* pools_ = nullptr;            // mmap of the kernel's pools array
  ss_listener* listeners_ = nullptr;    // mmap of the kernel's listeners array
  bool accept_probes_ = true;
  bool accept_on_demand_ = false;
  bool pools_supported_ = true;
  EventHandler on_event_;
  SyscallHooks syscall_hooks_ = SyscallHooks::kRawSyscalls;
};

// Checks the conditions Create needs, with the one-line error a user should see.
absl::Status CheckBpfPrivileges();
absl::Status CheckKernelBtf();

}  // namespace stallscope

#endif  // STALLSCOPE_AGENT_BPF_PROBE_SESSION_H_
