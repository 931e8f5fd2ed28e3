// --syscall-hooks sched: the accept exits (accept waits, accept-queue depth, owners of inbound
// connections) are hooked only while a tracked pool is saturated, and for a while after.
//
// They are syscall tracepoints, and any program on one makes every process on the host take
// the slow syscall path (+50 ns on every syscall here, about a quarter of a getppid). Accept
// waits matter when a pool is saturated (requests queue); otherwise a free worker takes a
// connection at once. A connection established before the hooks came on still has its wait
// measured (its establishment is always seen); one accepted before they came on has none.
#ifndef STALLSCOPE_AGENT_ATTACH_ACCEPT_HOOK_SWITCH_H_
#define STALLSCOPE_AGENT_ATTACH_ACCEPT_HOOK_SWITCH_H_

#include <atomic>
#include <cstdint>
#include <vector>

#include "bpf/link_worker.h"
#include "bpf/probe_session.h"

namespace stallscope {

class AcceptHookSwitch {
 public:
  explicit AcceptHookSwitch(ProbeSession* probes, uint64_t linger_ns = 10'000'000'000)
      : probes_(probes), linger_ns_(linger_ns) {}
  ~AcceptHookSwitch();

  // From the poll thread at each scan: whether accept waits are wanted now.
  void Tick(bool wanted, uint64_t now_ns);
  uint64_t times_attached() const { return attached_.load(std::memory_order_relaxed); }

 private:
  ProbeSession* probes_;
  const uint64_t linger_ns_;
  bool on_ = false;  // poll thread: asked on
  uint64_t last_wanted_ns_ = 0;
  std::vector<struct bpf_link*> links_;  // worker only
  std::atomic<uint64_t> attached_{0};
  LinkWorker worker_;  // last: destroyed first, running the jobs left
};

}  // namespace stallscope

#endif  // STALLSCOPE_AGENT_ATTACH_ACCEPT_HOOK_SWITCH_H_
