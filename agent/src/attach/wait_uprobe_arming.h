// --syscall-hooks sched: arms the wait uprobes of a process whose loop the kernel calls a
// suspect (busy with no wait seen, SS_EV_LOOP_SUSPECT) and disarms them at their first hit.
//
// A uprobe hit costs ~20 us on our VMs, so they are never left on: armed, a loop that is only
// iterating hits one within microseconds and is disarmed at once; a loop truly stuck never
// hits, and is disarmed after max_armed_ns so a process hung for an hour does not keep
// breakpoints planted. Attaching and detaching run on a LinkWorker (bpf/link_worker.h). Where
// libc's wait functions are is resolved once per process through the target-files door
// (map_files, never the host's view of a path).
#ifndef STALLSCOPE_AGENT_ATTACH_WAIT_UPROBE_ARMING_H_
#define STALLSCOPE_AGENT_ATTACH_WAIT_UPROBE_ARMING_H_

#include <sys/types.h>

#include <atomic>
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "bpf/link_worker.h"
#include "bpf/probe_session.h"
#include "target_files/scoped_fd.h"

namespace stallscope {

// Where libc's epoll_wait and epoll_pwait are in the object mapped at [start, end) of a
// process (file offsets; 0 = absent).
struct WaitFunctions {
  uint64_t map_start = 0;
  uint64_t map_end = 0;
  uint64_t epoll_wait = 0;
  uint64_t epoll_pwait = 0;
};

// Finds them from <proc_root>/PID/maps and the mapped libc (glibc or musl); nullopt when the
// process maps no libc with either symbol (a static binary, say).
std::optional<WaitFunctions> FindWaitFunctions(const std::string& proc_root, pid_t pid);

class WaitUprobeArming {
 public:
  struct Stats {
    uint64_t arms = 0;
    uint64_t arm_failures = 0;
    uint64_t disarmed_without_hit = 0;  // a suspect that never waited: a true stall
  };

  explicit WaitUprobeArming(ProbeSession* probes, std::string proc_root = "/proc",
                            uint64_t max_armed_ns = 2'000'000'000)
      : probes_(probes), proc_root_(std::move(proc_root)), max_armed_ns_(max_armed_ns) {}
  ~WaitUprobeArming();  // detaches everything still attached

  // From the thread that polls the ring buffer; none of them blocks.
  void OnSuspect(pid_t tgid, uint64_t now_ns);
  void OnHit(pid_t tgid);
  void Tick(uint64_t now_ns);
  void ForgetProcess(pid_t tgid);
  Stats stats() const;

 private:
  // On the worker.
  void Arm(pid_t tgid);
  void Disarm(pid_t tgid);

  ProbeSession* probes_;
  const std::string proc_root_;
  const uint64_t max_armed_ns_;

  // Poller thread only: when each armed (or arming) process was asked for.
  absl::flat_hash_map<pid_t, uint64_t> armed_at_;
  // Worker only (bounded by the tracked processes; entries go with ForgetProcess). A process's
  // libc stays open between arms (a busy loop is armed dozens of times a second), for the
  // first kMaxOpenLibcs processes.
  struct Resolved {
    std::optional<WaitFunctions> functions;
    target_files::ScopedFd libc;
  };
  static constexpr size_t kMaxOpenLibcs = 256;
  absl::flat_hash_map<pid_t, Resolved> resolved_;
  size_t open_libcs_ = 0;
  absl::flat_hash_map<pid_t, std::vector<ProbeSession::WaitUprobeLink>> links_;
  std::atomic<uint64_t> arms_{0}, arm_failures_{0}, disarmed_without_hit_{0};
  LinkWorker worker_;  // last: destroyed first, running the jobs left before the rest goes
};

}  // namespace stallscope

#endif  // STALLSCOPE_AGENT_ATTACH_WAIT_UPROBE_ARMING_H_
