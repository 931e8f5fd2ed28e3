// Decides which busy periods become LoopBlock reports, and when.
//
// - Final reports come from the kernel's stall events; in-progress reports from scanning the
//   thread map: first when a period passes the threshold, then each time its duration doubles
//   (a loop hung for an hour gives a dozen reports, not thousands).
// - Only event loops are reported. A thread proves itself a loop when the kernel saw it add a
//   client connection to an epoll set (ss_thread_state.adds_connections), or when its epoll set
//   is seen holding client connections (see thread_classifier.h). A stall of a thread not yet
//   proven is held for a grace period and re-checked, then counted as "not a loop" and dropped.
#ifndef STALLSCOPE_AGENT_CORE_LOOP_TRACKER_H_
#define STALLSCOPE_AGENT_CORE_LOOP_TRACKER_H_

#include <sys/types.h>

#include <cstdint>
#include <functional>
#include <optional>
#include <utility>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "core/busy_snapshot.h"
#include "stallscope_abi.h"

namespace stallscope {

class LoopTracker {
 public:
  struct Options {
    uint64_t threshold_ns = 100'000'000;
    uint64_t pending_grace_ns = 3'000'000'000;  // how long an unproven stall waits for a verdict
    uint64_t probe_interval_ns = 250'000'000;   // re-read of a wait set while a stall waits on it
    uint64_t max_idle_probe_interval_ns = 30'000'000'000;  // idle threads back off up to this
    uint32_t max_pending = 4096;                // unproven stalls held at once
  };
  // Reads the wait set of `pid`'s epoll fd now: true when it shows an event loop.
  using WaitSetProbe = std::function<bool(pid_t pid, int epfd)>;
  // Returns the syscall class (enum ss_syscall_class) of a syscall number.
  using SyscallClassOf = std::function<int(int nr)>;
  using Emit = std::function<void(const BusySnapshot&)>;
  // A thread's CPU time now (sum_exec_runtime, ns), if it can be read: see
  // SnapshotFromThreadState. Asked only for stalls in progress whose thread looks off CPU.
  using ThreadCpuTime = std::function<std::optional<uint64_t>(pid_t pid, pid_t tid)>;

  struct Stats {
    uint64_t final_reported = 0;
    uint64_t in_progress_reported = 0;
    uint64_t not_loops = 0;        // long busy periods of threads never shown to be loops
    uint64_t pending_dropped = 0;  // unproven stalls dropped because too many were held
  };

  LoopTracker(Options options, WaitSetProbe probe, SyscallClassOf syscall_class, Emit emit);
  void SetThreadCpuTime(ThreadCpuTime cpu_time) { cpu_time_ = std::move(cpu_time); }
  // Called once per busy period of a loop thread that has lasted a quarter of the threshold but not
  // yet all of it (no report): a chance to read what it is doing while it still is, so a stall
  // that ends before the first scan past the threshold still has its Python frames.
  void SetEarlyRead(Emit early_read) { early_read_ = std::move(early_read); }

  // A busy period ended (kernel stall event).
  void OnStallEnded(const BusySnapshot& stall, uint64_t now_kernel_ns);
  // The thread map at `now_kernel_ns`: reports stalls in progress, probes idle waiters.
  void OnThreadStates(const std::vector<ss_thread_state>& states, uint64_t now_kernel_ns);
  // Re-checks held stalls; emits the proven, drops the expired.
  void Tick(uint64_t now_kernel_ns);
  // Emits what can be emitted and counts the rest (at exit).
  void Flush(uint64_t now_kernel_ns);
  void ForgetProcess(pid_t pid);

  bool IsKnownLoop(pid_t tid) const;
  const Stats& stats() const { return stats_; }

 private:
  struct ThreadInfo {
    pid_t pid = 0;
    bool proven_loop = false;
    uint64_t last_probe_ns = 0;
    uint64_t idle_backoff_ns = 0;
    bool probed = false;
    // in-progress reporting of the current period
    uint32_t reported_seq = 0;
    bool reported_any = false;
    uint64_t last_reported_duration_ns = 0;
    uint32_t early_seq = 0;  // the period early_read_ was called for
    bool early_any = false;
  };
  void EarlyRead(const ss_thread_state& state, uint64_t now);
  struct Pending {
    BusySnapshot stall;
    uint64_t deadline_ns;
  };

  // How soon a wait set may be read again: at once (a stall just ended), at the probe interval
  // (a stall is held for a verdict), or with exponential backoff (an idle thread: reading
  // /proc/PID/net/* costs ~1 ms, and sync workers never become loops).
  enum class Probe { kNow, kPending, kIdle };
  // True when the thread is (now) known to be a loop; may read its wait set.
  bool CheckLoop(ThreadInfo& info, pid_t pid, int wait_nr, int wait_fd, bool kernel_evidence,
                 uint64_t now, Probe urgency);
  void EmitFinal(const BusySnapshot& stall, ThreadInfo& info);

  Options options_;
  WaitSetProbe probe_;
  SyscallClassOf syscall_class_;
  Emit emit_;
  ThreadCpuTime cpu_time_;  // optional
  Emit early_read_;         // optional
  absl::flat_hash_map<pid_t, ThreadInfo> threads_;  // by tid
  std::vector<Pending> pending_;
  Stats stats_;
};

}  // namespace stallscope

#endif  // STALLSCOPE_AGENT_CORE_LOOP_TRACKER_H_
