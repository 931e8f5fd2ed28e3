#include "pools/pool_tracker.h"

#include <algorithm>

#include "absl/container/flat_hash_set.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"

namespace stallscope {
namespace {

constexpr size_t kMinThreadPoolSize = 2;  // one thread blocked on a queue is not yet a pool

// A thread group that is a pool on its own (pool_discovery.h): two threads or more, or an
// executor's. A lone thread of another work loop is a consumer of the pool's, not a pool.
bool PoolByItself(const DiscoveredPool& d) {
  return d.kind != DiscoveredKind::kThreadPool || d.members.size() >= kMinThreadPoolSize || d.executor;
}

v1::PoolKind KindOf(DiscoveredKind kind) {
  return kind == DiscoveredKind::kPrefork ? v1::PREFORK : v1::THREAD_POOL;
}

// Prefork workers are single-threaded: no GIL contention inside a member. Python thread pools
// count GIL waits as busy (pool_discovery.h: only untimed futex waits are idle).
v1::GilWaitStatus GilStatus(DiscoveredKind kind) {
  return kind == DiscoveredKind::kPrefork ? v1::GIL_WAIT_NOT_APPLICABLE : v1::GIL_WAIT_COUNTED_AS_BUSY;
}

}  // namespace

std::string PoolName(const DiscoveredPool& pool) {
  if (pool.kind == DiscoveredKind::kPrefork)
    return absl::StrCat("prefork ", pool.listener.address.empty() ? "?" : pool.listener.address,
                        " (pid ", pool.pid, ")");
  return absl::StrCat("threads of pid ", pool.pid);
}

PoolTracker::PoolTracker(Options options, PoolKernel* kernel, ToUnixNs to_unix, Emit emit)
    : options_(options), kernel_(kernel), to_unix_(std::move(to_unix)), emit_(std::move(emit)) {}

int PoolTracker::ListenerSlot(uint16_t port) {
  auto it = listener_slots_.find(port);
  if (it != listener_slots_.end()) return static_cast<int>(it->second);
  if (listener_slots_.size() >= SS_MAX_LISTENERS) return -1;
  uint32_t slot = static_cast<uint32_t>(listener_slots_.size());
  listener_slots_[port] = slot;
  return static_cast<int>(slot);
}

bool PoolTracker::CeilingIsLargestSeen(const Pool& pool) {
  return pool.found.kind == DiscoveredKind::kThreadPool && !pool.found.configured_max &&
         absl::StartsWith(pool.found.membership, "Python threads");
}

uint32_t PoolTracker::Ceiling(const Pool& pool) const {
  if (pool.found.kind != DiscoveredKind::kThreadPool || pool.found.membership.empty() ||
      !absl::StartsWith(pool.found.membership, "Python threads"))
    return static_cast<uint32_t>(pool.members.size());
  if (pool.found.configured_max) return pool.found.configured_max;
  uint32_t seen = std::max<uint32_t>(pool.max_settled, static_cast<uint32_t>(pool.members.size()));
  // A pool that starts threads on demand can have more threads than it ever runs at once:
  // anyio starts a worker whenever its idle list is empty, also while another is winding down
  // (stopped with its root task, or past its idle time), and its limiter's tokens, not its
  // threads, bound the jobs. There the most members ever busy at once is the ceiling. Not for
  // a pool whose threads were all there when it was found (started up front: all usable), nor
  // for an executor (it starts a thread only when all are busy: each one is capacity, even if
  // its busy moment came before the agent counted it).
  uint32_t most_busy = pool.most_busy_sampled;
  if (pool.grown && !pool.found.executor && most_busy >= 2 && most_busy < seen) return most_busy;
  return seen;
}

void PoolTracker::NoteMostBusy(Pool& pool, const ss_pool& k, uint64_t now_ns) {
  uint32_t members = static_cast<uint32_t>(pool.members.size());
  uint32_t ceiling_before = Ceiling(pool);
  pool.most_busy_sampled = std::max(pool.most_busy_sampled, std::min(k.busy, members));
  if (Ceiling(pool) == ceiling_before) return;
  SyncSize(pool);
  kernel_->StartSaturationIfFull(pool.id, now_ns);
}

void PoolTracker::SyncSize(Pool& pool) {
  kernel_->ConfigurePool(pool.id, Ceiling(pool), pool.found.listener.port);
}

// Confirmed once a member was seen in its idle wait: by discovery, or by the kernel (a member
// woken from it took a job).
bool PoolTracker::Confirmed(Pool& pool) {
  if (pool.confirmed) return true;
  for (const DiscoveredMember& m : pool.members) {
    std::optional<ss_pool_member> k = kernel_->ReadMember(m.tid);
    if (k && k->wakeups > 0) return pool.confirmed = true;
  }
  return false;
}

namespace {

template <typename Report>
void FillHowCommon(const DiscoveredPool& found, uint32_t ceiling, uint32_t members, Report& r) {
  r.set_ceiling(ceiling);
  r.set_membership(found.membership);
  bool python_threads = absl::StartsWith(found.membership, "Python threads");
  if (found.kind == DiscoveredKind::kThreadPool && python_threads && found.configured_max) {
    r.set_ceiling_source(v1::CEILING_CONFIGURED);
    r.set_ceiling_detail(found.configured_from);
  } else if (found.kind == DiscoveredKind::kThreadPool && python_threads) {
    r.set_ceiling_source(v1::CEILING_LARGEST_SEEN);
    // Clamped below the threads: started on demand, more of them than ever worked at once.
    r.set_ceiling_detail(
        ceiling < members
            ? absl::StrCat("no configured maximum readable: the most threads busy at once (",
                           ceiling, "; ", members, " threads now, started on demand)")
            : absl::StrCat("no configured maximum readable: the most threads seen at once (",
                           ceiling, "; ", members, " now)"));
  } else {
    r.set_ceiling_source(v1::CEILING_MEMBERS);
    r.set_ceiling_detail("a fixed set of members");
  }
}

}  // namespace

void PoolTracker::FillHow(const Pool& pool, v1::PoolSaturation& s) const {
  FillHowCommon(pool.found, Ceiling(pool), static_cast<uint32_t>(pool.members.size()), s);
}
void PoolTracker::FillHow(const Pool& pool, v1::PoolUtilization& u) const {
  FillHowCommon(pool.found, Ceiling(pool), static_cast<uint32_t>(pool.members.size()), u);
}

void PoolTracker::OnDiscovery(const std::vector<ProcessView>& views,
                              const std::vector<DiscoveredPool>& found, uint64_t now_ns) {
  last_discovery_ns_ = now_ns;
  // Members the kernel forgot exited (sched_process_exit removes them).
  for (Pool& pool : pools_) {
    size_t before = pool.members.size();
    uint32_t ceiling_before = Ceiling(pool);
    std::erase_if(pool.members, [&](const DiscoveredMember& m) {
      if (kernel_->ReadMember(m.tid)) return false;
      pool.at_interval_start.erase(m.tid);
      return true;
    });
    pool.max_settled = std::max<uint32_t>(pool.max_settled, static_cast<uint32_t>(pool.members.size()));
    if (pool.members.size() != before || Ceiling(pool) != ceiling_before) {
      SyncSize(pool);  // a smaller ceiling (a replaced thread gone) may make the pool full
      kernel_->StartSaturationIfFull(pool.id, now_ns);
    }
  }
  // A process found running a thread pool is not a prefork member: a gunicorn gthread worker
  // waits on the shared listener like a sync worker until its executor starts threads.
  for (const DiscoveredPool& d : found) {
    if (d.kind != DiscoveredKind::kThreadPool || !PoolByItself(d)) continue;
    for (Pool& pool : pools_) {
      if (pool.found.kind != DiscoveredKind::kPrefork) continue;
      size_t before = pool.members.size();
      std::erase_if(pool.members, [&](const DiscoveredMember& m) {
        if (m.pid != d.pid) return false;
        kernel_->RemoveMember(m.tid);
        pool.at_interval_start.erase(m.tid);
        return true;
      });
      if (pool.members.size() != before) {
        SyncSize(pool);
        pool.retired = pool.members.empty();
      }
    }
  }
  absl::flat_hash_set<pid_t> runs_thread_pool;
  for (const Pool& pool : pools_)
    if (pool.found.kind == DiscoveredKind::kThreadPool && !pool.retired) runs_thread_pool.insert(pool.found.pid);
  for (const DiscoveredPool& d : found) {
    // A thread pool's process seen while all its threads were busy looks like a prefork worker.
    if (d.kind == DiscoveredKind::kPrefork &&
        std::all_of(d.members.begin(), d.members.end(),
                    [&](const DiscoveredMember& m) { return runs_thread_pool.contains(m.pid); }))
      continue;
    auto it = FindPool(d.key);
    if (it == pools_.end()) {
      if (!PoolByItself(d)) continue;
      bool any_new = false;
      for (const DiscoveredMember& m : d.members) any_new |= !IsMember(m.tid);
      if (!any_new) continue;  // its threads are another pool's already
      if (pools_.size() >= SS_MAX_POOLS) continue;
      Pool pool;
      pool.id = static_cast<uint32_t>(pools_.size());
      pool.found = d;
      pool.found.members.clear();
      // An executor's threads take their jobs from its queue by construction.
      pool.confirmed = d.kind != DiscoveredKind::kThreadPool || d.seen_idle || d.executor;
      pool.interval_start_ns = now_ns;
      pools_.push_back(std::move(pool));
      it = pools_.end() - 1;
    }
    Pool& pool = *it;
    if (pool.retired) continue;
    bool existed = !pool.members.empty();
    if (pool.found.listener.port == 0 && d.listener.port != 0) pool.found.listener = d.listener;
    pool.confirmed |= d.seen_idle;
    pool.threads_starting = d.threads_starting;
    bool changed = false, added_busy = false;
    for (const DiscoveredMember& m : d.members) {
      if (d.kind == DiscoveredKind::kPrefork && runs_thread_pool.contains(m.pid)) continue;
      if (IsMember(m.tid)) continue;
      ss_pool_member member{};
      member.pool_id = pool.id;
      member.idle_flags = m.idle_flags;
      member.idle_fd = m.idle_fd;
      member.since_ns = now_ns;
      member.busy = m.busy ? 1 : 0;
      member.idle_uaddr = m.idle_uaddr;
      if (m.busy) kernel_->AdjustBusy(pool.id, 1);
      if (!kernel_->AddMember(m.tid, member).ok()) {
        if (m.busy) kernel_->AdjustBusy(pool.id, -1);
        ++member_add_failures_;
        continue;
      }
      pool.members.push_back(m);
      pool.at_interval_start[m.tid] = MemberCounters{};
      changed = true;
      added_busy |= m.busy;
    }
    if (changed && existed) pool.grown = true;
    if (changed && CeilingIsLargestSeen(pool)) {
      // Full only because these members were not found yet: that saturation never was.
      ss_pool k = kernel_->ReadPool(pool.id);
      if (k.sat_start_ns && k.sat_seq != pool.last_reported_seq) pool.void_seq = k.sat_seq;
    }
    if (changed) {
      // Members found busy are a sample of the jobs at once too (the next Tick may be after
      // they finished): the ceiling does not dip below them while the pool grows.
      uint32_t busy = kernel_->ReadPool(pool.id).busy;
      pool.most_busy_sampled = std::max(pool.most_busy_sampled,
                                        std::min(busy, static_cast<uint32_t>(pool.members.size())));
      SyncSize(pool);
    }
    if (added_busy) kernel_->StartSaturationIfFull(pool.id, now_ns);
    if (pool.found.listener.port != 0) listener_pool_[pool.found.listener.port] = pool.id + 1;
  }
  for (const ProcessView& v : views) {
    for (const ListenerFd& l : v.listeners) {
      int slot = ListenerSlot(l.port);
      if (slot < 0) continue;
      auto pool = listener_pool_.find(l.port);
      kernel_->SetListener(l.port, static_cast<uint32_t>(slot),
                           pool == listener_pool_.end() ? 0 : pool->second)
          .IgnoreError();  // a full table only loses queue depths; counted as no listener
    }
  }
  for (Pool& pool : pools_) {
    auto slot = listener_slots_.find(pool.found.listener.port);
    if (pool.listener_slot >= 0 || slot == listener_slots_.end()) continue;
    pool.listener_slot = static_cast<int>(slot->second);
    ss_listener l = kernel_->ReadListener(slot->second);  // counting starts now
    pool.accepts_at_interval_start = Served(l);
    pool.synack_at_interval_start = l.synack_retransmits;
  }
}

bool PoolTracker::IsMember(pid_t tid) const {
  for (const Pool& p : pools_)
    for (const DiscoveredMember& x : p.members)
      if (x.tid == tid) return true;
  return false;
}

// The pool of `key`; an executor's found by its queue ("loop@queue") and the same executor
// found while all its threads were busy ("loop") are one pool.
std::vector<PoolTracker::Pool>::iterator PoolTracker::FindPool(const std::string& key) {
  auto exact = std::find_if(pools_.begin(), pools_.end(), [&](const Pool& p) { return p.found.key == key; });
  if (exact != pools_.end()) return exact;
  size_t at = key.rfind('@');
  if (at != std::string::npos) {
    std::string unqueued = key.substr(0, at);
    return std::find_if(pools_.begin(), pools_.end(), [&](const Pool& p) { return p.found.key == unqueued; });
  }
  auto queued = pools_.end();
  int n = 0;
  for (auto it = pools_.begin(); it != pools_.end(); ++it)
    if (absl::StartsWith(it->found.key, key + "@")) {
      queued = it;
      ++n;
    }
  return n == 1 ? queued : pools_.end();
}

PoolTracker::MemberCounters PoolTracker::Read(const ss_pool_member& m, uint64_t now_ns) const {
  MemberCounters c{m.busy_ns, m.wakeups, m.accepts};
  if (m.busy && now_ns > m.since_ns) c.busy_ns += now_ns - m.since_ns;
  return c;
}

PoolTracker::SaturationFigures PoolTracker::FromPool(const ss_pool& k, uint64_t end_ns) {
  SaturationFigures f;
  f.seq = k.sat_seq;
  f.start_ns = k.sat_start_ns;
  f.end_ns = end_ns;
  f.max_queued = k.sat_max_queued;
  f.accepts = k.sat_accepts;
  f.wait_sum_ns = k.sat_accept_wait_sum_ns;
  f.wait_max_ns = k.sat_accept_wait_max_ns;
  f.on_cpu_ns = k.sat_on_cpu_ns;
  return f;
}

void PoolTracker::ReportSaturation(Pool& pool, const SaturationFigures& f, bool in_progress) {
  if (!Confirmed(pool)) return;
  v1::Report report;
  v1::PoolSaturation* s = report.mutable_pool_saturation();
  FillHow(pool, *s);
  s->set_pid(static_cast<uint32_t>(pool.found.pid));
  s->set_kind(KindOf(pool.found.kind));
  s->set_pool(PoolName(pool.found));
  s->set_size(static_cast<uint32_t>(pool.members.size()));
  for (const DiscoveredMember& m : pool.members)
    s->add_members(static_cast<uint32_t>(pool.found.kind == DiscoveredKind::kPrefork ? m.pid : m.tid));
  s->set_start_time_unix_nano(to_unix_(f.start_ns));
  uint64_t duration = f.end_ns > f.start_ns ? f.end_ns - f.start_ns : 0;
  s->set_duration_ns(duration);
  s->set_in_progress(in_progress);
  s->set_seq(f.seq);
  s->set_max_queued(f.max_queued);
  s->set_listen_address(pool.found.listener.address);
  s->set_accepted(f.accepts);
  s->set_accept_wait_mean_ns(f.accepts ? f.wait_sum_ns / f.accepts : 0);
  s->set_accept_wait_max_ns(f.wait_max_ns);
  s->set_gil_wait(GilStatus(pool.found.kind));
  if (duration && !pool.members.empty())
    s->set_on_cpu_share(std::min(1.0, static_cast<double>(f.on_cpu_ns) /
                                          (static_cast<double>(duration) * pool.members.size())));
  if (pool.activity_seq == f.seq && pool.activity_samples > 0) {
    std::vector<std::pair<std::pair<std::string, std::string>, uint32_t>> top(pool.activity.begin(),
                                                                              pool.activity.end());
    std::sort(top.begin(), top.end(), [](const auto& a, const auto& b) {
      return a.second != b.second ? a.second > b.second : a.first < b.first;
    });
    constexpr size_t kTopActivities = 5;
    for (size_t i = 0; i < top.size() && i < kTopActivities; ++i) {
      v1::PoolActivity* a = s->add_activities();
      a->set_what(top[i].first.first);
      a->set_target(top[i].first.second);
      a->set_share(static_cast<double>(top[i].second) / pool.activity_samples);
    }
    s->set_activity_samples(pool.activity_samples);
  }
  emit_(report);
}

// One sample of every member: where a saturated pool's time goes, at the scan's 10 Hz.
void PoolTracker::SampleActivity(Pool& pool, uint32_t seq) {
  if (!sample_member_) return;
  if (pool.activity_seq != seq) {
    pool.activity_seq = seq;
    pool.activity_samples = 0;
    pool.activity.clear();
  }
  for (const DiscoveredMember& m : pool.members) {
    std::optional<Activity> a = sample_member_(m.pid, m.tid, pool.found.listener.port);
    if (!a) continue;
    pool.activity[{a->what, a->target}] += 1;
    pool.activity_samples += 1;
  }
}

void PoolTracker::Finalize(Pool& pool, const SaturationFigures& f) {
  if (f.seq == pool.finalized_seq) return;  // the agent finalised it before the kernel's event came
  pool.finalized_seq = f.seq;
  if (f.seq == pool.void_seq) return;
  uint64_t from = std::max<uint64_t>(f.start_ns, pool.interval_start_ns);
  if (f.end_ns > from) pool.saturated_in_interval_ns += f.end_ns - from;
  ReportSaturation(pool, f, false);
}

void PoolTracker::OnSaturationEnded(const ss_pool_event& e) {
  if (e.pool_id >= pools_.size()) return;
  SaturationFigures f;
  f.seq = e.seq;
  f.start_ns = e.start_ns;
  f.end_ns = e.hdr.ts_ns;
  f.max_queued = e.max_queued;
  f.accepts = e.accepts;
  f.wait_sum_ns = e.accept_wait_sum_ns;
  f.wait_max_ns = e.accept_wait_max_ns;
  f.on_cpu_ns = e.on_cpu_ns;
  Finalize(pools_[e.pool_id], f);
}

void PoolTracker::Tick(uint64_t now_ns) {
  for (Pool& pool : pools_) {
    if (pool.retired) continue;
    ss_pool k = kernel_->ReadPool(pool.id);
    NoteMostBusy(pool, k, now_ns);
    if (!Confirmed(pool)) k.sat_start_ns = 0;  // reports wait until it is known to be a pool
    // Saturated now (all busy, not in an idle gap): sample from the start, so reports of
    // saturations just over the threshold have samples too.
    if (k.sat_start_ns && !k.sat_gap_ns && k.sat_seq != pool.finalized_seq) SampleActivity(pool, k.sat_seq);
    if (k.sat_start_ns && k.sat_gap_ns && now_ns > k.sat_gap_ns &&
        now_ns - k.sat_gap_ns > SS_SATURATION_GAP_NS) {
      // Over since the gap began; the kernel sends it only at the next busy/idle change, which
      // may never come when the load stopped.
      if (k.sat_gap_ns > k.sat_start_ns && k.sat_gap_ns - k.sat_start_ns >= options_.threshold_ns)
        Finalize(pool, FromPool(k, k.sat_gap_ns));
    } else if (k.sat_start_ns && now_ns > k.sat_start_ns &&
               now_ns - k.sat_start_ns >= options_.threshold_ns && k.sat_seq != pool.finalized_seq) {
      uint64_t length = now_ns - k.sat_start_ns;
      if (CeilingIsLargestSeen(pool) && (last_discovery_ns_ < k.sat_start_ns || pool.threads_starting)) {
        rescan_requested_ = true;  // members found since it began (and started), before it is reported
      } else if (k.sat_seq != pool.void_seq) {  // void: the kernel ends it at its next change
        if (k.sat_seq != pool.last_reported_seq) {
          pool.last_reported_seq = k.sat_seq;
          pool.next_in_progress_ns = 0;
        }
        if (length >= pool.next_in_progress_ns) {
          ReportSaturation(pool, FromPool(k, now_ns), true);
          pool.next_in_progress_ns = 2 * length;
        }
      }
    }
    if (now_ns - pool.interval_start_ns >= options_.interval_ns) ReportUtilization(pool, now_ns);
  }
}

void PoolTracker::ReportUtilization(Pool& pool, uint64_t now_ns) {
  uint64_t interval = now_ns - pool.interval_start_ns;
  if (interval == 0) return;
  MemberCounters total;
  for (const DiscoveredMember& m : pool.members) {
    std::optional<ss_pool_member> k = kernel_->ReadMember(m.tid);
    if (!k) continue;
    MemberCounters now = Read(*k, now_ns), &before = pool.at_interval_start[m.tid];
    total.busy_ns += now.busy_ns - before.busy_ns;
    total.wakeups += now.wakeups - before.wakeups;
    total.accepts += now.accepts - before.accepts;
    before = now;
  }
  ss_pool k = kernel_->ReadPool(pool.id);
  // Ongoing saturation: the part inside this interval.
  if (k.sat_start_ns && k.sat_seq != pool.finalized_seq && now_ns > k.sat_start_ns) {
    uint64_t end = k.sat_gap_ns ? k.sat_gap_ns : now_ns;
    uint64_t from = std::max<uint64_t>(k.sat_start_ns, pool.interval_start_ns);
    if (end > from) pool.saturated_in_interval_ns += end - from;
  }

  v1::Report report;
  v1::PoolUtilization* u = report.mutable_pool_utilization();
  u->set_pid(static_cast<uint32_t>(pool.found.pid));
  u->set_kind(KindOf(pool.found.kind));
  u->set_pool(PoolName(pool.found));
  u->set_size(static_cast<uint32_t>(pool.members.size()));
  u->set_time_unix_nano(to_unix_(now_ns));
  u->set_interval_ns(interval);
  u->set_busy(static_cast<double>(total.busy_ns) / static_cast<double>(interval));
  u->set_busy_peak(std::min<uint32_t>(k.peak_busy, static_cast<uint32_t>(pool.members.size())));
  // Requests served: connections accepted on the pool's listener (by members, or by the
  // acceptor feeding a thread pool), exact without keep-alive. Without a listener (an executor)
  // or the accept probes: jobs taken, i.e. wakeups from the idle wait (a worker that finds the
  // next job already queued takes it without one, so this undercounts under load).
  uint64_t requests = total.wakeups;
  ss_listener listener{};
  if (pool.listener_slot >= 0) listener = kernel_->ReadListener(static_cast<uint32_t>(pool.listener_slot));
  if (pool.listener_slot >= 0 && options_.accepts_counted) {
    requests = Served(listener) - pool.accepts_at_interval_start;
    pool.accepts_at_interval_start = Served(listener);
  }
  u->set_requests(requests);
  if (requests) {
    uint64_t service = total.busy_ns / requests;
    u->set_service_time_mean_ns(service);
    if (service) u->set_capacity_per_second(static_cast<double>(Ceiling(pool)) * 1e9 / service);
  }
  u->set_rate_per_second(static_cast<double>(requests) * 1e9 / static_cast<double>(interval));
  u->set_saturated_ns(std::min(pool.saturated_in_interval_ns, interval));
  u->set_listen_address(pool.found.listener.address);
  u->set_gil_wait(GilStatus(pool.found.kind));
  if (pool.listener_slot >= 0) {
    const ss_listener& l = listener;
    u->set_max_queued(l.peak_queued);
    u->set_backlog_limit(l.max_backlog);
    u->set_synack_retransmits(l.synack_retransmits - pool.synack_at_interval_start);
    pool.synack_at_interval_start = l.synack_retransmits;
    kernel_->ResetListenerPeak(static_cast<uint32_t>(pool.listener_slot));
  }
  kernel_->ResetPoolPeak(pool.id);
  pool.interval_start_ns = now_ns;
  pool.saturated_in_interval_ns = 0;
  FillHow(pool, *u);
  if (Confirmed(pool)) emit_(report);
}

void PoolTracker::Flush(uint64_t now_ns) {
  Tick(now_ns);  // saturations over by now are finalised
  for (Pool& pool : pools_) {
    if (pool.retired) continue;
    ss_pool k = kernel_->ReadPool(pool.id);
    // Saturated now (all busy, not in an idle gap): sample from the start, so reports of
    // saturations just over the threshold have samples too.
    if (k.sat_start_ns && !k.sat_gap_ns && k.sat_seq != pool.finalized_seq) SampleActivity(pool, k.sat_seq);
    // Still saturated at exit: the last report says so (in progress), as stalls do.
    if (k.sat_start_ns && k.sat_seq != pool.finalized_seq && k.sat_seq != pool.void_seq && now_ns > k.sat_start_ns &&
        now_ns - k.sat_start_ns >= options_.threshold_ns)
      ReportSaturation(pool, FromPool(k, k.sat_gap_ns ? k.sat_gap_ns : now_ns), true);
    ReportUtilization(pool, now_ns);
  }
}

}  // namespace stallscope
