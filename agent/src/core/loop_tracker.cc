#include "core/loop_tracker.h"

#include <algorithm>
#include <utility>

namespace stallscope {

LoopTracker::LoopTracker(Options options, WaitSetProbe probe, SyscallClassOf syscall_class,
                         Emit emit)
    : options_(options),
      probe_(std::move(probe)),
      syscall_class_(std::move(syscall_class)),
      emit_(std::move(emit)) {}

bool LoopTracker::IsKnownLoop(pid_t tid) const {
  auto it = threads_.find(tid);
  return it != threads_.end() && it->second.proven_loop;
}

bool LoopTracker::CheckLoop(ThreadInfo& info, pid_t pid, int wait_nr, int wait_fd,
                            bool kernel_evidence, uint64_t now, Probe urgency) {
  if (kernel_evidence) info.proven_loop = true;
  if (info.proven_loop) return true;
  // Only epoll sets can be read from outside; poll()/select() waiters (gunicorn's sync worker,
  // for one) are not classified as loops.
  if (wait_nr < 0 || wait_fd < 0 || syscall_class_(wait_nr) != SS_SC_EPOLL_WAIT) return false;
  if (info.probed && urgency != Probe::kNow) {
    uint64_t wait = urgency == Probe::kPending
                        ? options_.probe_interval_ns
                        : std::max(info.idle_backoff_ns, options_.probe_interval_ns);
    if (now - info.last_probe_ns < wait) return false;
  }
  info.probed = true;
  info.last_probe_ns = now;
  info.proven_loop = probe_(pid, wait_fd);
  if (!info.proven_loop && urgency == Probe::kIdle)
    info.idle_backoff_ns = std::min(std::max(2 * info.idle_backoff_ns, options_.probe_interval_ns),
                                    options_.max_idle_probe_interval_ns);
  return info.proven_loop;
}

void LoopTracker::EmitFinal(const BusySnapshot& stall, ThreadInfo& info) {
  emit_(stall);
  stats_.final_reported++;
  if (info.reported_seq == stall.seq) info.reported_any = false;
}

void LoopTracker::OnStallEnded(const BusySnapshot& stall, uint64_t now) {
  ThreadInfo& info = threads_[stall.tid];
  info.pid = stall.pid;
  bool was_reported_in_progress = info.reported_any && info.reported_seq == stall.seq;
  if (was_reported_in_progress || CheckLoop(info, stall.pid, stall.wait_nr, stall.wait_fd, stall.adds_connections, now, Probe::kNow)) {
    EmitFinal(stall, info);
    return;
  }
  if (stall.wait_nr < 0 || syscall_class_(stall.wait_nr) != SS_SC_EPOLL_WAIT) {
    // A thread exiting mid-stall has no wait to read; neither do poll/select waiters.
    stats_.not_loops++;
    return;
  }
  if (pending_.size() >= options_.max_pending) {
    stats_.pending_dropped++;
    return;
  }
  pending_.push_back({stall, now + options_.pending_grace_ns});
}

void LoopTracker::OnThreadStates(const std::vector<ss_thread_state>& states, uint64_t now) {
  for (const ss_thread_state& state : states) {
    pid_t tid = static_cast<pid_t>(state.tid);
    pid_t pid = static_cast<pid_t>(state.tgid);
    bool busy = state.busy.start_ns != 0 && !state.in_wait;
    if (!busy) {
      // Idle waiters are probed too, so loops are known before their first stall.
      ThreadInfo& info = threads_[tid];
      info.pid = pid;
      CheckLoop(info, pid, state.last_wait_nr, state.last_wait_fd, state.adds_connections, now, Probe::kIdle);
      continue;
    }
    uint64_t duration = now > state.busy.start_ns ? now - state.busy.start_ns : 0;
    if (duration < options_.threshold_ns) {
      if (early_read_ && duration >= options_.threshold_ns / 4) EarlyRead(state, now);
      continue;
    }
    ThreadInfo& info = threads_[tid];
    info.pid = pid;
    bool new_period = !info.reported_any || info.reported_seq != state.busy.seq;
    if (!new_period && duration < 2 * info.last_reported_duration_ns) continue;
    if (!CheckLoop(info, pid, state.last_wait_nr, state.last_wait_fd, state.adds_connections, now,
                   Probe::kPending))
      continue;
    std::optional<uint64_t> cpu_time;
    if (state.off_kind != SS_ON_CPU && cpu_time_) cpu_time = cpu_time_(pid, tid);
    BusySnapshot snapshot = SnapshotFromThreadState(state, now, cpu_time);
    emit_(snapshot);
    stats_.in_progress_reported++;
    info.reported_any = true;
    info.reported_seq = state.busy.seq;
    info.last_reported_duration_ns = duration;
  }
}

void LoopTracker::EarlyRead(const ss_thread_state& state, uint64_t now) {
  ThreadInfo& info = threads_[static_cast<pid_t>(state.tid)];
  info.pid = static_cast<pid_t>(state.tgid);
  if (info.early_any && info.early_seq == state.busy.seq) return;
  if (!CheckLoop(info, info.pid, state.last_wait_nr, state.last_wait_fd, state.adds_connections, now,
                 Probe::kPending))
    return;
  info.early_any = true;
  info.early_seq = state.busy.seq;
  early_read_(SnapshotFromThreadState(state, now, std::nullopt));
}

void LoopTracker::Tick(uint64_t now) {
  std::vector<Pending> still_pending;
  for (Pending& p : pending_) {
    ThreadInfo& info = threads_[p.stall.tid];
    if (CheckLoop(info, p.stall.pid, p.stall.wait_nr, p.stall.wait_fd, p.stall.adds_connections, now,
                  Probe::kPending)) {
      EmitFinal(p.stall, info);
    } else if (now >= p.deadline_ns) {
      stats_.not_loops++;
    } else {
      still_pending.push_back(std::move(p));
    }
  }
  pending_ = std::move(still_pending);
}

void LoopTracker::Flush(uint64_t now) {
  for (Pending& p : pending_) {
    ThreadInfo& info = threads_[p.stall.tid];
    if (CheckLoop(info, p.stall.pid, p.stall.wait_nr, p.stall.wait_fd, p.stall.adds_connections, now,
                  Probe::kNow))
      EmitFinal(p.stall, info);
    else
      stats_.not_loops++;
  }
  pending_.clear();
}

void LoopTracker::ForgetProcess(pid_t pid) {
  // Thread ids are reused: a new thread must not inherit an exited one's verdict. Held stalls
  // of the process stay and are judged (and most likely dropped) at their deadline.
  absl::erase_if(threads_, [pid](const auto& kv) { return kv.second.pid == pid; });
}

}  // namespace stallscope
