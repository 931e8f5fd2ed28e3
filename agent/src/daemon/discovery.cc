#include "daemon/discovery.h"

#include <unistd.h>

#include <algorithm>
#include <cstdio>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "daemon/server_detect.h"

namespace stallscope {
namespace {

// A Python process is judged again on every scan for this long after it appears: the
// framework's modules are imported (and mapped) a moment after the interpreter starts.
constexpr uint64_t kRecheckWindowNs = 30'000'000'000ULL;

}  // namespace

Discovery::Discovery(SelectorSet selectors, IdentityResolver* identity, std::string proc_root)
    : selectors_(std::move(selectors)), identity_(identity), proc_root_(std::move(proc_root)) {}

void Discovery::SetSelectors(SelectorSet selectors) {
  selectors_ = std::move(selectors);
  seen_.clear();
  judge_roots_again_ = true;
}

void Discovery::Scan(TraceControl& control, size_t max_tracked, bool paused, uint64_t now_ns) {
  ++stats_.scans;
  if (judge_roots_again_) {
    DropUnselectedRoots(control);
    judge_roots_again_ = false;
  }
  std::vector<pid_t> pids = ListPids(proc_root_);
  std::sort(pids.begin(), pids.end());  // parents (usually lower pids) first: their workers come along
  absl::flat_hash_set<pid_t> alive(pids.begin(), pids.end());
  absl::erase_if(seen_, [&](const auto& kv) { return !alive.contains(kv.first); });
  absl::erase_if(roots_, [&](pid_t pid) { return !control.IsTracked(pid); });
  const pid_t self = getpid();
  for (pid_t pid : pids) {
    if (pid == self || control.IsTracked(pid)) continue;
    auto stat = ReadProcessStat(pid, proc_root_);
    if (!stat || stat->kernel_thread) continue;
    auto it = seen_.find(pid);
    bool same = it != seen_.end() && it->second.start_ticks == stat->start_ticks && it->second.comm == stat->comm;
    if (same && !it->second.recheck && !it->second.counted_over) continue;
    if (same && it->second.recheck && now_ns - it->second.first_seen_ns > kRecheckWindowNs) {
      it->second.recheck = false;
      continue;
    }
    Judge(control, pid, *stat, max_tracked, paused, now_ns);
  }
}

void Discovery::Consider(TraceControl& control, pid_t pid, size_t max_tracked, bool paused, uint64_t now_ns) {
  if (pid == getpid() || control.IsTracked(pid)) return;
  auto stat = ReadProcessStat(pid, proc_root_);
  if (stat && !stat->kernel_thread) Judge(control, pid, *stat, max_tracked, paused, now_ns);
}

void Discovery::Judge(TraceControl& control, pid_t pid, const ProcessStat& stat, size_t max_tracked, bool paused,
                      uint64_t now_ns) {
  Seen& seen = seen_[pid];
  if (seen.start_ticks != stat.start_ticks || seen.comm != stat.comm) {
    seen = Seen{};
    seen.start_ticks = stat.start_ticks;
    seen.comm = stat.comm;
    seen.first_seen_ns = now_ns;
  }
  auto facts = ReadProcessFacts(pid, proc_root_);
  if (!facts || facts->argv.empty()) return;  // gone, or a zombie
  Candidate candidate(*facts, [this](pid_t p) { return identity_->Container(p); }, proc_root_);
  if (!selectors_.Selects(candidate)) {
    seen.recheck = IsPythonExecutable(facts->exe) || absl::StartsWith(stat.comm, "python");
    seen.counted_over = false;
    NoteSkipped(pid, stat, *facts, candidate, seen);
    return;
  }
  seen.recheck = false;
  if (paused || control.Tracked().size() >= max_tracked) {
    if (!seen.counted_over) {
      ++stats_.over_limit_total;
      fprintf(stderr, "stallscope: not tracking PID %d (%s): %s\n", pid, stat.comm.c_str(),
              paused ? "memory limit near, discovery paused" : "max_processes reached");
    }
    seen.counted_over = true;
    return;
  }
  seen.counted_over = false;
  if (absl::Status st = control.Track(pid); !st.ok()) {
    ++stats_.track_errors;
    fprintf(stderr, "stallscope: cannot track PID %d (%s): %s\n", pid, stat.comm.c_str(),
            std::string(st.message()).c_str());
    return;
  }
  roots_.insert(pid);
  ++stats_.tracked_total;
  const auto& server = candidate.server();
  if (server) identity_->RememberServer(pid, *server);
  fprintf(stderr, "stallscope: tracking PID %d (%s)%s%s\n", pid, stat.comm.c_str(),
          server ? (" " + server->server).c_str() : "", server && !server->app.empty() ? (" " + server->app).c_str() : "");
}

// A Python process left alone, and why: once per process and reason (young processes are
// judged again every scan while their imports and listeners appear).
void Discovery::NoteSkipped(pid_t pid, const ProcessStat& stat, const ProcessFacts& facts, Candidate& candidate,
                            Seen& seen) {
  std::string reason = NotServingReason(facts);
  if (reason.empty()) return;
  const auto& server = candidate.server();
  bool by_selectors = server.has_value();
  if (seen.skip_noted && seen.skip_selectors == by_selectors) return;
  seen.skip_noted = true;
  seen.skip_selectors = by_selectors;
  ++(by_selectors ? stats_.skipped_by_selectors : stats_.skipped_not_serving);
  if (!verbose_) return;
  if (by_selectors) reason = absl::StrCat("a ", server->server, " server the selectors do not pick");
  fprintf(stderr, "stallscope: not tracking PID %d (%s): %s\n", pid, stat.comm.c_str(), reason.c_str());
}

void Discovery::DropUnselectedRoots(TraceControl& control) {
  for (auto it = roots_.begin(); it != roots_.end();) {
    pid_t pid = *it;
    auto facts = ReadProcessFacts(pid, proc_root_);
    bool keep = false;
    if (facts) {
      Candidate candidate(*facts, [this](pid_t p) { return identity_->Container(p); }, proc_root_);
      keep = selectors_.Selects(candidate);
    }
    if (keep) {
      ++it;
      continue;
    }
    control.Untrack(pid);
    identity_->Forget(pid);
    ++stats_.untracked_total;
    fprintf(stderr, "stallscope: no longer tracking PID %d: the selectors do not pick it\n", pid);
    roots_.erase(it++);
  }
}

}  // namespace stallscope
