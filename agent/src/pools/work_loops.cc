#include "pools/work_loops.h"

#include "absl/container/flat_hash_set.h"
#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"

namespace stallscope {
namespace {

bool InThreadingModule(const v1::Frame& f) {
  return absl::EndsWith(f.file(), "/threading.py") || f.file() == "threading.py";
}

bool RunsGunicorn(const std::vector<std::string>& argv) {
  for (size_t i = 0; i < argv.size() && i < 3; ++i) {
    const std::string& a = argv[i];
    size_t slash = a.rfind('/');
    if (absl::StartsWith(slash == std::string::npos ? a : a.substr(slash + 1), "gunicorn")) return true;
  }
  return false;
}

}  // namespace

std::string WorkLoopOf(const std::vector<v1::Frame>& frames) {
  for (auto f = frames.rbegin(); f != frames.rend(); ++f) {
    if (InThreadingModule(*f)) continue;
    if (f->function().empty()) return "";
    return absl::StrCat(f->function(), " (", f->file(), ")");
  }
  return "";
}

std::pair<uint32_t, std::string> ConfiguredThreads(const std::vector<std::string>& argv) {
  if (!RunsGunicorn(argv)) return {0, ""};
  uint32_t n = 0;
  for (size_t i = 1; i < argv.size(); ++i) {
    absl::string_view a = argv[i], value;
    if (a == "--threads" && i + 1 < argv.size()) {
      value = argv[i + 1];
    } else if (absl::StartsWith(a, "--threads=")) {
      value = a.substr(10);
    } else {
      continue;
    }
    uint32_t v = 0;
    if (absl::SimpleAtoi(value, &v) && v > 0 && v <= 100000) n = v;  // the last one wins, as in gunicorn
  }
  if (!n) return {0, ""};
  return {n, absl::StrCat("gunicorn --threads ", n)};
}

// True when `t`, an executor thread in an untimed futex wait, waits somewhere inside a job
// rather than in its work loop's `work_queue.get()` (a C call: the work loop is then the
// innermost Python frame). Unreadable: false, the wait is taken as the queue's.
// A thread whose Python frames are all threading's bootstrap has not reached its run() yet.
bool InBootstrap(const std::vector<v1::Frame>& frames) {
  if (frames.empty()) return false;
  for (const v1::Frame& f : frames)
    if (!InThreadingModule(f) || (f.function() != "Thread._bootstrap" && f.function() != "Thread._bootstrap_inner" &&
                                  f.function() != "_bootstrap" && f.function() != "_bootstrap_inner"))
      return false;
  return true;
}

bool WaitsInsideJob(PythonProcess& python, const ThreadView& t) {
  absl::StatusOr<std::vector<v1::Frame>> frames = python.ThreadStack(t.tid);
  if (!frames.ok() || frames->empty()) return false;
  return !IsExecutorWorkLoop(WorkLoopOf({frames->front()}));
}

void WorkLoopReader::Fill(PythonProcess& python, ProcessView& view, const WaitSyscalls& nr) {
  absl::StatusOr<std::vector<pid_t>> ids = python.ThreadIds();
  if (!ids.ok()) {
    view.python_pending = loops_.contains(view.pid);
    return;
  }
  absl::flat_hash_set<pid_t> python_tids(ids->begin(), ids->end());
  auto& known = loops_[view.pid];
  absl::flat_hash_set<pid_t> alive;
  for (ThreadView& t : view.threads) {
    alive.insert(t.tid);
    t.python = python_tids.contains(t.tid);
    if (!t.python || t.tid == view.pid) continue;
    auto it = known.find(t.tid);
    if (it != known.end()) {
      t.work_loop = it->second;
    } else {
      absl::StatusOr<std::vector<v1::Frame>> frames = python.ThreadStack(t.tid);
      if (!frames.ok()) continue;
      t.work_loop = WorkLoopOf(*frames);
      if (!t.work_loop.empty() && known.size() < kMaxThreadsPerProcess) known[t.tid] = t.work_loop;
      if (t.work_loop.empty() && InBootstrap(*frames)) ++view.threads_starting;
    }
    if (IsExecutorWorkLoop(t.work_loop) && ClassifyWait(view, t, nr).kind == IdleWaitKind::kFutex)
      t.waits_inside_job = WaitsInsideJob(python, t);
  }
  absl::erase_if(known, [&](const auto& entry) { return !alive.contains(entry.first); });
  view.python_read = true;
}

void WorkLoopReader::ForgetProcess(pid_t pid) { loops_.erase(pid); }

}  // namespace stallscope
