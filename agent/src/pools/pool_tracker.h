// Turns the kernel's pool counters (bpf/pools.bpf.h) into reports: PoolSaturation (in progress
// while it lasts, at the threshold and each time its length doubles, then final) and
// PoolUtilization every interval and at exit. Also keeps the kernel's pool and listener tables
// in step with what discovery finds. The kernel is behind an interface so recorded sequences
// can be replayed in unit tests.
#ifndef STALLSCOPE_AGENT_POOLS_POOL_TRACKER_H_
#define STALLSCOPE_AGENT_POOLS_POOL_TRACKER_H_

#include <sys/types.h>

#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "absl/status/status.h"
#include "pools/pool_discovery.h"
#include "stallscope/v1/report.pb.h"
#include "stallscope_abi.h"

namespace stallscope {

// The kernel's pool and listener tables (ProbeSession in the agent, a fake in tests).
class PoolKernel {
 public:
  virtual ~PoolKernel() = default;
  virtual ss_pool ReadPool(uint32_t id) const = 0;
  virtual void ConfigurePool(uint32_t id, uint32_t size, uint32_t listen_port) = 0;
  virtual void ResetPoolPeak(uint32_t id) = 0;  // peak_busy = busy
  // A member is about to be added busy (found outside its idle wait): busy += 1, before the
  // member is in the kernel's table (from then on the kernel counts its changes).
  virtual void AdjustBusy(uint32_t id, int delta) = 0;
  // Members added busy filled the pool: the saturation starts now unless one is going on (the
  // kernel would notice only at a busy member's next switch-out, a whole handler later).
  virtual void StartSaturationIfFull(uint32_t id, uint64_t now_ns) = 0;
  virtual absl::Status AddMember(pid_t tid, const ss_pool_member& member) = 0;
  virtual std::optional<ss_pool_member> ReadMember(pid_t tid) const = 0;
  virtual void RemoveMember(pid_t tid) = 0;
  virtual absl::Status SetListener(uint16_t port, uint32_t slot, uint32_t pool_id_plus1) = 0;
  virtual ss_listener ReadListener(uint32_t slot) const = 0;
  virtual void ResetListenerPeak(uint32_t slot) = 0;  // peak_queued = queued
};

class PoolTracker {
 public:
  struct Options {
    uint64_t threshold_ns = 100'000'000;
    uint64_t interval_ns = 10'000'000'000;
    bool accepts_counted = true;  // the accept() probes run (tracefs was available)
    // Requests served counted as connections established on the listener rather than accepted
    // (--syscall-hooks sched hooks accepts only while a pool is saturated): the same over time,
    // off by what the accept queue grew or shrank in the interval.
    bool requests_from_established = false;
  };
  using Emit = std::function<void(const v1::Report&)>;
  using ToUnixNs = std::function<uint64_t(uint64_t kernel_ns)>;

  // What a member is doing right now: "running", or a syscall name with its fd named (the
  // pool's clients as one target: listen_port says which connections are theirs); nullopt when
  // it cannot be read (the thread is gone).
  struct Activity {
    std::string what, target;
  };
  using SampleMember =
      std::function<std::optional<Activity>(pid_t pid, pid_t tid, uint16_t listen_port)>;

  PoolTracker(Options options, PoolKernel* kernel, ToUnixNs to_unix, Emit emit);
  // Samples members while their pool is saturated (every Tick), for PoolSaturation.activities.
  void SetActivitySampler(SampleMember sampler) { sample_member_ = std::move(sampler); }

  // A rescan: registers every listener of the views (socket lifetimes need them), creates new
  // pools (thread pools need 2 members to start, or be an executor's), adds new members (idle,
  // or busy for threads of a known work loop), drops members the kernel forgot (their thread
  // exited). A thread pool's ceiling is its configured maximum when known, else the most members
  // it had at once: threads that come and go (anyio, executors) do not change it. A pool none
  // of whose members was ever seen in its idle wait reports nothing until one is.
  void OnDiscovery(const std::vector<ProcessView>& views, const std::vector<DiscoveredPool>& pools,
                   uint64_t now_ns);
  void OnSaturationEnded(const ss_pool_event& event);
  // Every scan: in-progress saturations; utilization when an interval is over.
  void Tick(uint64_t now_ns);
  // True once (then false) when a saturation waits for a rescan before it is reported: a pool
  // whose ceiling is the most threads seen looks full while a thread it just started is not
  // found yet (rescans come once a second). Call OnDiscovery soon after.
  bool TakeRescanRequest() { return std::exchange(rescan_requested_, false); }
  // At exit: saturations still going on (in progress) and the last utilization.
  void Flush(uint64_t now_ns);

  size_t pools() const { return pools_.size(); }
  uint64_t member_add_failures() const { return member_add_failures_; }

 private:
  struct MemberCounters {
    uint64_t busy_ns = 0, wakeups = 0, accepts = 0;
  };
  struct Pool {
    uint32_t id = 0;
    DiscoveredPool found;  // key, kind, pid, listener
    std::vector<DiscoveredMember> members;
    int listener_slot = -1;
    // Most members at once among those found by an earlier rescan: a thread that is replaced
    // (anyio stops the worker of a finished root task and starts another) does not count twice.
    uint32_t max_settled = 0;
    // Most members busy at once in samples (each Tick, and members found busy), not the
    // kernel's racy peak: a worker between jobs or leaving its idle wait to exit counts as busy
    // there for a moment. And whether members were added after the pool was found (threads
    // started on demand).
    uint32_t most_busy_sampled = 0;
    bool grown = false;
    bool confirmed = false;               // a member was seen in its idle wait (takes jobs there)
    bool retired = false;                 // every member left (e.g. a gthread worker that was
                                          // taken for a prefork member before its threads existed)
    uint32_t last_reported_seq = 0;       // in-progress cadence
    uint32_t finalized_seq = 0;           // final report written (by the agent or from the event)
    uint32_t void_seq = 0;                // seen full only while members were missing: not reported
    uint32_t threads_starting = 0;        // at the last rescan (DiscoveredPool::threads_starting)
    uint64_t next_in_progress_ns = 0;     // report again once the saturation is this long
    uint64_t interval_start_ns = 0;
    uint64_t saturated_in_interval_ns = 0;
    uint64_t synack_at_interval_start = 0;
    uint64_t accepts_at_interval_start = 0;
    absl::flat_hash_map<pid_t, MemberCounters> at_interval_start;
    // Member samples of the saturation with this seq: (what, target) -> samples.
    uint32_t activity_seq = 0;
    uint32_t activity_samples = 0;
    absl::flat_hash_map<std::pair<std::string, std::string>, uint32_t> activity;
  };

  MemberCounters Read(const ss_pool_member& m, uint64_t now_ns) const;
  // The figures of one saturation, from the kernel's event or its pool slot.
  struct SaturationFigures {
    uint32_t seq = 0;
    uint64_t start_ns = 0, end_ns = 0;
    uint32_t max_queued = 0, accepts = 0;
    uint64_t wait_sum_ns = 0, wait_max_ns = 0, on_cpu_ns = 0;
  };
  static SaturationFigures FromPool(const ss_pool& k, uint64_t end_ns);
  void ReportSaturation(Pool& pool, const SaturationFigures& f, bool in_progress);
  void SampleActivity(Pool& pool, uint32_t seq);
  void ReportUtilization(Pool& pool, uint64_t now_ns);
  void Finalize(Pool& pool, const SaturationFigures& f);
  void SyncSize(Pool& pool);
  void NoteMostBusy(Pool& pool, const ss_pool& k, uint64_t now_ns);
  uint32_t Ceiling(const Pool& pool) const;
  static bool CeilingIsLargestSeen(const Pool& pool);
  // The listener's count of requests served (Options::requests_from_established).
  uint64_t Served(const ss_listener& l) const {
    return options_.requests_from_established ? l.established : l.accepts;
  }
  void FillHow(const Pool& pool, v1::PoolSaturation& s) const;
  void FillHow(const Pool& pool, v1::PoolUtilization& u) const;
  bool Confirmed(Pool& pool);
  bool IsMember(pid_t tid) const;
  std::vector<Pool>::iterator FindPool(const std::string& key);
  int ListenerSlot(uint16_t port);

  Options options_;
  PoolKernel* kernel_;
  ToUnixNs to_unix_;
  Emit emit_;
  std::vector<Pool> pools_;
  absl::flat_hash_map<uint16_t, uint32_t> listener_slots_;  // port -> slot
  absl::flat_hash_map<uint16_t, uint32_t> listener_pool_;   // port -> pool id + 1
  uint64_t member_add_failures_ = 0;
  uint64_t last_discovery_ns_ = 0;
  bool rescan_requested_ = false;
  SampleMember sample_member_;
};

std::string PoolName(const DiscoveredPool& pool);

}  // namespace stallscope

#endif  // STALLSCOPE_AGENT_POOLS_POOL_TRACKER_H_
