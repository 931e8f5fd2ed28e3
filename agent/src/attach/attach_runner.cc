#include "attach/attach_runner.h"
#include "attach/probe_pool_kernel.h"
#include "attach/accept_hook_switch.h"
#include "attach/python_stacks.h"
#include "attach/wait_uprobe_arming.h"

#include <signal.h>

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <memory>
#include <string>
#include <tuple>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "absl/container/flat_hash_set.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "bpf/probe_session.h"
#include "absl/strings/match.h"
#include "bpf/syscall_table.h"
#include "cli/exit_codes.h"
#include "core/busy_snapshot.h"
#include "core/clock.h"
#include "core/loop_tracker.h"
#include "core/report_builder.h"
#include "core/thread_classifier.h"
#include "output/flamegraph.h"
#include "output_file.h"
#include "output/report_writer.h"
#include "output/safe_text_writer.h"
#include "output/stall_cause.h"
#include "output/stall_summary.h"
#include "pools/pool_discovery.h"
#include "pools/pool_tracker.h"
#include "pools/proc_pool_view.h"
#include "pools/work_loops.h"
#include "daemon/process_facts.h"
#include "proc/fd_target.h"
#include "proc/proc_stat.h"
#include "proc/process_tree.h"
#include "proc/runtime_detect.h"
#include "sockets/socket_reports.h"
#include "stream/agent_identity.h"
#include "stream/collector_client.h"
#include "stream/streaming_writer.h"
#include "symbolize/symbolizer.h"
#include "credential_file.h"
#include "target_files/counters.h"

namespace stallscope {
namespace {

volatile sig_atomic_t g_stop_requested = 0;

void OnStopSignal(int) { g_stop_requested = 1; }

void InstallStopHandlers() {
  struct sigaction sa {};
  sa.sa_handler = OnStopSignal;
  sigemptyset(&sa.sa_mask);
  sa.sa_flags = 0;  // no SA_RESTART: the ring-buffer poll returns EINTR and we stop promptly
  sigaction(SIGINT, &sa, nullptr);
  sigaction(SIGTERM, &sa, nullptr);
  signal(SIGPIPE, SIG_IGN);  // a closed stdout pipe becomes a write error, not a kill
}

int ExitCodeFor(const absl::Status& st) {
  switch (st.code()) {
    case absl::StatusCode::kPermissionDenied: return kExitPermission;
    case absl::StatusCode::kFailedPrecondition: return kExitKernel;
    case absl::StatusCode::kNotFound: return kExitNoSuchProcess;
    default: return kExitInternal;
  }
}

int Fail(const absl::Status& st, int exit_code = -1) {
  fprintf(stderr, "stallscope: %s\n", std::string(st.message()).c_str());
  return exit_code >= 0 ? exit_code : ExitCodeFor(st);
}

// In-progress detection, and the moment Python frames are read: a stall is always caught live
// once it lasts threshold + this long.
constexpr uint64_t kScanIntervalNs = 100'000'000;
// Pool membership rescans (/proc reads of every tracked thread): new workers and threads of
// executors that grow on demand join their pool within this long.
constexpr uint64_t kPoolDiscoveryIntervalNs = 1'000'000'000;
// After a tracked process starts a thread: a rescan this soon (the thread has reached its work
// loop by then), at most this often (thread-per-request servers start threads all the time).
constexpr uint64_t kThreadStartRescanDelayNs = 30'000'000;
constexpr uint64_t kThreadStartRescanMinGapNs = 200'000'000;

// One `attach` run: owns the probes, the tracked set, the tracker and the output.
// For the startup line: the mode's name as --syscall-hooks spells it, and what it means.
const char* WaitHooksDescription(SyscallHooks hooks) {
  switch (hooks) {
    case SyscallHooks::kSched:
      return "the scheduler (--syscall-hooks sched: no syscall hook; uprobes armed for busy loops)";
    case SyscallHooks::kTracepoints:
      return "syscall tracepoints (--syscall-hooks tracepoints)";
    case SyscallHooks::kRawSyscalls:
      return "raw_syscalls (--syscall-hooks raw: every syscall of every process)";
    case SyscallHooks::kAuto:
      break;
  }
  return "?";
}

class AttachRun : public TraceControl {
 public:
  AttachRun(const AttachOptions& options, ReportWriter* writer, const TraceHooks& hooks)
      : options_(options),
        writer_(writer),
        hooks_(hooks),
        clock_(KernelClock::Measure()),
        builder_(clock_, NameFd, [this](pid_t pid, const std::vector<uint64_t>& stack) {
                   return SymbolizeStack(pid, stack);
                 },
                 [this](pid_t pid) { return ProcessName(pid); },
                 [](pid_t pid, pid_t tid) { return ReadThreadComm(pid, tid); }),
        tracker_(TrackerOptions(options),
                 [this](pid_t pid, int epfd) { return ProbeWaitSet(pid, epfd); },
                 [this](int nr) { return nr >= 0 && nr < SS_SYSCALL_TABLE_SIZE ? classes_[nr] : 0; },
                 [this](const BusySnapshot& s) { EmitStall(s); }),
        classes_(BuildSyscallClassTable()) {
    tracker_.SetThreadCpuTime(
        [](pid_t pid, pid_t tid) { return ReadThreadCpuTimeNs(pid, tid); });
    tracker_.SetEarlyRead([this](const BusySnapshot& period) {
      if (python_stacks_enabled_) python_stacks_.OnEarly(period);
    });
  }

  int Run(const std::vector<pid_t>& roots) {
    ProbeConfig config;
    config.block_threshold_ns = options_.block_threshold_ms * 1'000'000;
    config.max_threads = options_.max_threads;
    config.max_processes = options_.max_processes;
    config.verbose = options_.verbose;
    config.syscall_hooks = options_.syscall_hooks == "tracepoints" ? SyscallHooks::kTracepoints
                           : options_.syscall_hooks == "raw"       ? SyscallHooks::kRawSyscalls
                           : options_.syscall_hooks == "sched"     ? SyscallHooks::kSched
                                                                   : SyscallHooks::kAuto;
    config.notify_untracked_exec = static_cast<bool>(hooks_.on_untracked_exec);
    config.saturation_threshold_ns = options_.saturation_threshold_ms * 1'000'000;
    config.socket_events = options_.sockets || options_.format == OutputFormat::kText;
    auto session = ProbeSession::Create(config, [this](const void* data, size_t size) {
      OnEvent(data, size);
    });
    if (!session.ok()) return Fail(session.status());
    probes_ = std::move(*session);
    if (probes_->syscall_hooks() == SyscallHooks::kSched)
      wait_uprobes_ = std::make_unique<WaitUprobeArming>(probes_.get());
    if (probes_->accept_hooks_on_demand())
      accept_hooks_ = std::make_unique<AcceptHookSwitch>(probes_.get());
    pool_kernel_ = std::make_unique<ProbePoolKernel>(probes_.get());
    PoolTracker::Options pool_options;
    pool_options.threshold_ns = config.saturation_threshold_ns;
    pool_options.interval_ns = static_cast<uint64_t>(options_.utilization_interval_seconds * 1e9);
    pool_options.accepts_counted = probes_->accept_probes();
    pool_options.requests_from_established = probes_->accept_hooks_on_demand();
    pools_ = std::make_unique<PoolTracker>(
        pool_options, pool_kernel_.get(), [this](uint64_t kernel_ns) { return clock_.ToUnixNs(kernel_ns); },
        [this](const v1::Report& report) { writer_->Write(report); });
    pools_->SetActivitySampler([this](pid_t pid, pid_t tid, uint16_t listen_port) {
      return SampleMemberActivity(pid, tid, listen_port);
    });

    if (absl::Status st = TrackInitialProcesses(roots); !st.ok()) return Fail(st);
    // A root that exited before its probes existed sends no exit event: say so now instead of
    // waiting for one forever.
    size_t roots_gone = 0;
    for (pid_t pid : PruneExited()) {
      if (std::find(roots.begin(), roots.end(), pid) == roots.end()) continue;
      ++roots_gone;
      fprintf(stderr, "stallscope: process %d exited before the probes were attached\n", pid);
    }
    if (!roots.empty() && roots_gone == roots.size() && !hooks_.run_without_processes) return kExitProcessGone;
    SeedWaitingThreads(tracked_);
    if (!roots.empty()) AnnounceAttach();
    started_ns_ = KernelClock::NowKernelNs();
    RediscoverPools(started_ns_);
    if (hooks_.on_tick) hooks_.on_tick(*this, started_ns_);
    uint64_t deadline = options_.duration_seconds
                            ? started_ns_ + static_cast<uint64_t>(*options_.duration_seconds * 1e9)
                            : UINT64_MAX;
    uint64_t next_scan = 0;
    next_discovery_ = started_ns_ + kPoolDiscoveryIntervalNs;
    while (!g_stop_requested && !(hooks_.stop_requested && hooks_.stop_requested())) {
      uint64_t now = KernelClock::NowKernelNs();
      if (now >= deadline) break;
      if (tracked_.empty() && !hooks_.run_without_processes) {
        fprintf(stderr, "stallscope: all tracked processes exited\n");
        break;
      }
      // Wake for the next scan, not a full 100 ms after the last ring-buffer event: otherwise a
      // scan can slip by almost a whole interval and an in-progress stall is seen up to
      // threshold + 200 ms late.
      uint64_t wake = std::min(deadline, std::max(next_scan, now));
      wake = std::min(wake, std::max(next_discovery_, now));
      int timeout_ms = static_cast<int>(std::min<uint64_t>(100, (wake - now) / 1'000'000 + 1));
      int n = probes_->Poll(timeout_ms);
      if (n < 0 && n != -EINTR) return Fail(absl::InternalError(absl::StrCat("ring buffer poll: ", strerror(-n))));
      now = KernelClock::NowKernelNs();
      if (now >= next_scan) {
        tracker_.OnThreadStates(probes_->ReadThreads(), now);
        tracker_.Tick(now);
        pools_->Tick(now);
        if (pools_->TakeRescanRequest()) {
          RediscoverPools(now);
          last_discovery_ = now;
        }
        if (wait_uprobes_) wait_uprobes_->Tick(now);
        if (accept_hooks_) accept_hooks_->Tick(AnyPoolSaturated(), now);
        // Fixed cadence (the scan's own time does not push the next one back), without a
        // burst of catch-up scans after a long pause.
        next_scan = std::max(next_scan + kScanIntervalNs, now + kScanIntervalNs / 2);
        if (hooks_.on_tick) hooks_.on_tick(*this, now);
      }
      if (now >= next_discovery_) {
        PruneExited();
        bool unsettled = RediscoverPools(now);
        last_discovery_ = now;
        // A thread not read yet (still starting, or its process's thread list changing) may
        // be a pool's next member: look again soon rather than in a second.
        next_discovery_ = KernelClock::NowKernelNs() +
                          (unsettled ? kThreadStartRescanMinGapNs : kPoolDiscoveryIntervalNs);
      }
      if (!writer_->ok()) return WriteFailed();
    }
    return Finish();
  }

  // TraceControl, for the daemon's discovery.
  absl::Status Track(pid_t pid) override {
    if (absl::Status st = probes_->TrackProcess(pid); !st.ok()) return st;
    absl::flat_hash_set<pid_t> added{pid};
    tracked_.insert(pid);
    for (pid_t child : FindDescendants({pid})) {
      if (tracked_.contains(child) || !probes_->TrackProcess(child).ok()) continue;
      tracked_.insert(child);
      added.insert(child);
    }
    SeedWaitingThreads(added);
    uint64_t now_unix = clock_.ToUnixNs(KernelClock::NowKernelNs());
    for (pid_t p : added) WriteProcessEvent(v1::ProcessEvent::ATTACHED, p, 0, now_unix);
    return absl::OkStatus();
  }

  void Untrack(pid_t pid) override {
    std::vector<pid_t> gone = FindDescendants({pid});
    gone.push_back(pid);
    for (pid_t p : gone) {
      if (!tracked_.contains(p)) continue;
      probes_->UntrackProcess(p);
      for (pid_t tid : ListThreads(p)) probes_->ForgetThread(tid);
      ForgetProcessState(p);
    }
  }

  bool IsTracked(pid_t pid) const override { return tracked_.contains(pid); }
  std::vector<pid_t> Tracked() const override { return {tracked_.begin(), tracked_.end()}; }
  std::array<uint64_t, SS_CNT_MAX> KernelCounters() const override { return probes_->ReadCounters(); }

  void DropCaches() override {
    for (pid_t pid : tracked_) {
      symbolizer_.ForgetProcess(pid);
      python_stacks_.ForgetProcess(pid);
    }
    process_names_.clear();
  }

  void SetPythonStacks(bool enabled) override { python_stacks_enabled_ = enabled; }

  v1::AgentStats Stats() const override {
    auto counters = probes_->ReadCounters();
    v1::AgentStats stats;
    stats.set_ringbuf_drops(counters[SS_CNT_RINGBUF_FULL]);
    stats.set_thread_map_full(counters[SS_CNT_THREAD_MAP_FULL]);
    stats.set_tracked_map_full(counters[SS_CNT_TRACKED_MAP_FULL]);
    stats.set_stack_failures(counters[SS_CNT_STACK_FAILED]);
    stats.set_stalls_reported(tracker_.stats().final_reported);
    stats.set_in_progress_reported(tracker_.stats().in_progress_reported);
    stats.set_busy_periods_not_loops(tracker_.stats().not_loops);
    stats.set_stalls_suppressed(tracker_.stats().pending_dropped);
    stats.set_socket_map_full(counters[SS_CNT_SOCKET_MAP_FULL]);
    stats.set_switch_ins_unseen(counters[SS_CNT_SWITCH_IN_UNSEEN]);
    stats.set_wait_hooks(SyscallHooksName(probes_->syscall_hooks()));
    stats.set_waits_at_switch(counters[SS_CNT_WAITS_AT_SWITCH]);
    stats.set_wait_uprobe_hits(counters[SS_CNT_WAIT_UPROBE_HITS]);
    stats.set_wait_uprobe_hits_untracked(counters[SS_CNT_WAIT_UPROBE_HITS_UNTRACKED]);
    if (accept_hooks_) stats.set_accept_hooks_attached(accept_hooks_->times_attached());
    if (wait_uprobes_) {
      WaitUprobeArming::Stats arming = wait_uprobes_->stats();
      stats.set_wait_uprobe_arms(arming.arms);
      stats.set_wait_uprobe_arm_failures(arming.arm_failures);
      stats.set_wait_uprobes_disarmed_without_hit(arming.disarmed_without_hit);
    }
    if (pools_) stats.set_pool_member_map_full(pools_->member_add_failures());
    stats.set_sockets_reported(sockets_reported_);
    stats.set_tracked_processes(static_cast<uint32_t>(tracked_.size()));
    stats.set_duration_ns(KernelClock::NowKernelNs() - started_ns_);
    target_files::FillAgentStats(&stats);
    return stats;
  }

 private:
  // Forgets tracked processes that exited without an exit event reaching us (before the probes
  // existed, or lost): gone from /proc, a zombie, or a new process under a reused PID (another
  // start time). Returns them.
  std::vector<pid_t> PruneExited() {
    std::vector<pid_t> gone;
    for (pid_t pid : tracked_) {
      std::optional<ProcessStat> start = ReadProcessStat(pid);
      auto known = start_ticks_.find(pid);
      // A zombie leader whose other threads still run is alive.
      bool exited = !start || (start->exited() && ListThreads(pid).size() <= 1) ||
                    (known != start_ticks_.end() && known->second != start->start_ticks);
      if (exited)
        gone.push_back(pid);
      else if (known == start_ticks_.end())
        start_ticks_[pid] = start->start_ticks;
    }
    for (pid_t pid : gone) {
      probes_->UntrackProcess(pid);
      ForgetProcessState(pid);
    }
    return gone;
  }

  // Whether some tracked pool is saturated now (its kernel slot says so).
  bool AnyPoolSaturated() const {
    for (uint32_t id = 0; id < SS_MAX_POOLS; ++id) {
      volatile ss_pool* pool = probes_->Pool(id);
      if (pool && pool->size && pool->sat_start_ns) return true;
    }
    return false;
  }

  void ForgetProcessState(pid_t pid) {
    start_ticks_.erase(pid);
    tracked_.erase(pid);
    tracker_.ForgetProcess(pid);
    python_stacks_.ForgetProcess(pid);
    work_loops_.ForgetProcess(pid);
    if (wait_uprobes_) wait_uprobes_->ForgetProcess(pid);
    symbolizer_.ForgetProcess(pid);
    process_names_.erase(pid);
    runs_gevent_.erase(pid);
  }

  static LoopTracker::Options TrackerOptions(const AttachOptions& o) {
    LoopTracker::Options t;
    t.threshold_ns = o.block_threshold_ms * 1'000'000;
    return t;
  }

  // True when a process's threads were not all read (pool_discovery.h: python_pending,
  // threads_starting).
  bool RediscoverPools(uint64_t now) {
    bool unsettled = false;
    std::vector<ProcessView> views;
    for (pid_t pid : tracked_) {
      std::optional<ProcessView> view = ReadProcessView(pid, wait_syscalls_);
      if (!view) continue;
      // Python threads and their work loops: who the pool's members are (pool_discovery.h).
      // A process of one thread has no pool threads: its interpreter is not even opened.
      if (python_stacks_enabled_ && view->threads.size() > 1)
        if (PythonProcess* python = python_stacks_.Process(pid)) work_loops_.Fill(*python, *view, wait_syscalls_);
      if (std::optional<ProcessFacts> facts = ReadProcessFacts(pid))
        std::tie(view->configured_threads, view->configured_from) = ConfiguredThreads(facts->argv);
      unsettled |= view->python_pending || view->threads_starting > 0;
      views.push_back(std::move(*view));
    }
    // Listeners are registered either way (connections need them); pools only where the
    // kernel can tell idle members.
    std::vector<DiscoveredPool> found;
    if (probes_->pools_supported()) found = DiscoverPools(views, wait_syscalls_);
    pools_->OnDiscovery(views, found, now);
    return unsettled;
  }

  bool ProbeWaitSet(pid_t pid, int epfd) {
    auto targets = ReadEpollTargets(pid, epfd);
    if (!targets) return false;
    auto gevent = runs_gevent_.find(pid);
    if (gevent == runs_gevent_.end()) gevent = runs_gevent_.emplace(pid, ProcessRunsGevent(pid)).first;
    if (gevent->second) return true;
    std::vector<FdKind> kinds;
    for (const FdInfo& info : ResolveFds(pid, *targets)) kinds.push_back(info.kind);
    return WaitSetShowsEventLoop(kinds);
  }

  // A pool member now: "running", or its syscall and the fd it is about. TCP connections are
  // named by their stable end, so shares add up across connections: the pool's own clients as
  // one target, an outbound connection by the remote address.
  std::optional<PoolTracker::Activity> SampleMemberActivity(pid_t pid, pid_t tid,
                                                            uint16_t listen_port) {
    std::optional<CurrentSyscall> call = ReadCurrentSyscall(pid, tid);
    if (!call) return std::nullopt;
    if (!call->in_syscall) return PoolTracker::Activity{"running", ""};
    PoolTracker::Activity a{SyscallName(call->nr), ""};
    uint8_t cls = call->nr >= 0 && call->nr < SS_SYSCALL_TABLE_SIZE ? classes_[call->nr] : 0;
    if (cls != SS_SC_FD) return a;
    FdInfo fd = ResolveFd(pid, static_cast<int>(call->args[0]));
    a.target = fd.target;
    if (fd.kind == FdKind::kTcpConnection) a.target = StableTcpName(fd.target, listen_port);
    return a;
  }

  // "tcp L -> R": "clients on :PORT" when L is the pool's listening port, else "tcp -> R".
  static std::string StableTcpName(const std::string& target, uint16_t listen_port) {
    size_t arrow = target.find(" -> ");
    size_t space = target.find(' ');
    if (arrow == std::string::npos || space == std::string::npos || space >= arrow) return target;
    std::string local = target.substr(space + 1, arrow - space - 1);
    if (listen_port && absl::EndsWith(local, absl::StrCat(":", listen_port)))
      return absl::StrCat("clients on :", listen_port);
    return absl::StrCat(target.substr(0, space), " -> ", target.substr(arrow + 4));
  }

  static std::string NameFd(pid_t pid, const SyscallSample& call) {
    // The kernel named inet sockets while the fd was open; the rest is looked up now.
    if (call.sock.family != 0) return FormatSockAddr(call.sock);
    if (call.file_kind == SS_FILE_PIPE) return "pipe";
    return NameAtCall(call.fd, call.file_kind, ResolveFd(pid, call.fd));
  }

  // Whether the thread is where the snapshot saw it: in the same stall and, if it was asleep in
  // a syscall, still in that same sleep. A Python stack read in between then belongs to that
  // moment; one read just after the call returned (the handler already writing its response)
  // would sit under the blocking call's native frame and name the wrong line.
  bool StillStalled(const BusySnapshot& stall) const {
    std::optional<ss_thread_state> now = probes_->ReadThread(stall.tid);
    if (!now || now->in_wait || now->busy.start_ns != stall.start_kernel_ns ||
        now->busy.seq != stall.seq)
      return false;
    return stall.asleep_since_ns == 0 ||
           (now->sys_blocked && now->sys_start_ns == stall.asleep_since_ns);
  }

  // Frames past the first hold return addresses: look up addr-1, the call instruction, so a
  // call at the very end of a function is not attributed to the next one.
  std::vector<v1::Frame> SymbolizeStack(pid_t pid, const std::vector<uint64_t>& stack) {
    std::vector<uint64_t> lookup = stack;
    for (size_t i = 1; i < lookup.size(); ++i) lookup[i] -= 1;
    std::vector<v1::Frame> frames = symbolizer_.Symbolize(pid, lookup);
    for (size_t i = 1; i < frames.size() && i < stack.size(); ++i) {
      frames[i].set_address(stack[i]);
      if (!frames[i].function().empty()) frames[i].set_offset(frames[i].offset() + 1);
    }
    return frames;
  }

  std::string ProcessName(pid_t pid) {
    auto it = process_names_.find(pid);
    if (it != process_names_.end()) return it->second;
    std::string name = ReadComm(pid);
    process_names_[pid] = name;
    return name;
  }

  absl::Status TrackInitialProcesses(const std::vector<pid_t>& roots) {
    // Roots first, so children they fork from now on are tracked by the kernel; then the
    // descendants that already exist (scanned twice to catch forks during the first scan).
    for (pid_t pid : roots) {
      if (absl::Status st = probes_->TrackProcess(pid); !st.ok()) return st;
      tracked_.insert(pid);
    }
    for (int pass = 0; pass < 2; ++pass) {
      for (pid_t pid : FindDescendants(roots)) {
        if (tracked_.contains(pid)) continue;
        if (absl::Status st = probes_->TrackProcess(pid); !st.ok()) return st;
        tracked_.insert(pid);
      }
    }
    return absl::OkStatus();
  }

  // Loops sitting in their wait at attach entered it before the probes existed: tell the kernel,
  // so the busy period that starts when the wait returns (often the first request) is measured.
  void SeedWaitingThreads(const absl::flat_hash_set<pid_t>& pids) {
    for (pid_t pid : pids) {
      for (pid_t tid : ListThreads(pid)) {
        auto current = ReadCurrentSyscall(pid, tid);
        if (!current || !current->in_syscall || current->nr >= SS_SYSCALL_TABLE_SIZE) continue;
        uint8_t cls = classes_[current->nr];
        if (cls != SS_SC_EPOLL_WAIT && cls != SS_SC_POLL && cls != SS_SC_SELECT) continue;
        ss_thread_state state{};
        state.tgid = static_cast<__u32>(pid);
        state.tid = static_cast<__u32>(tid);
        state.in_wait = 1;
        state.sys_nr = -1;
        state.sys_fd = SS_NO_FD;
        state.last_wait_nr = current->nr;
        state.last_wait_fd = cls == SS_SC_EPOLL_WAIT ? static_cast<int>(current->args[0]) : SS_NO_FD;
        state.loop_epfd = cls == SS_SC_EPOLL_WAIT ? state.last_wait_fd : -1;
        if (absl::Status st = probes_->SeedThread(state); !st.ok())
          fprintf(stderr, "stallscope: warning: %s\n", std::string(st.message()).c_str());
      }
    }
  }

  void AnnounceAttach() {
    std::vector<std::string> names;
    uint64_t now_unix = clock_.ToUnixNs(KernelClock::NowKernelNs());
    for (pid_t pid : tracked_) {
      names.push_back(absl::StrCat(pid, " ", ProcessName(pid)));
      WriteProcessEvent(v1::ProcessEvent::ATTACHED, pid, 0, now_unix);
    }
    std::sort(names.begin(), names.end());
    fprintf(stderr,
            "stallscope: attached to %zu process%s (%s); block threshold %llu ms; waits seen "
            "by %s; %s\n",
            tracked_.size(), tracked_.size() == 1 ? "" : "es", absl::StrJoin(names, ", ").c_str(),
            static_cast<unsigned long long>(options_.block_threshold_ms),
            WaitHooksDescription(probes_->syscall_hooks()),
            options_.duration_seconds ? absl::StrCat("running for ", *options_.duration_seconds, " s").c_str()
                                      : "Ctrl-C to stop");
  }

  void WriteProcessEvent(v1::ProcessEvent::Kind kind, pid_t pid, pid_t parent, uint64_t unix_ns) {
    v1::Report report;
    v1::ProcessEvent* e = report.mutable_process_event();
    e->set_kind(kind);
    e->set_pid(static_cast<uint32_t>(pid));
    e->set_parent_pid(static_cast<uint32_t>(parent));
    e->set_comm(ProcessName(pid));
    e->set_time_unix_nano(unix_ns);
    writer_->Write(report);
  }

  void OnEvent(const void* data, size_t size) {
    if (size < sizeof(ss_event_header)) return;
    const auto* hdr = static_cast<const ss_event_header*>(data);
    uint64_t now = KernelClock::NowKernelNs();
    switch (hdr->type) {
      case SS_EV_STALL:
        if (size >= sizeof(ss_stall_event))
          tracker_.OnStallEnded(SnapshotFromStallEvent(*static_cast<const ss_stall_event*>(data)), now);
        break;
      case SS_EV_POOL_SATURATION:
        if (size >= sizeof(ss_pool_event)) pools_->OnSaturationEnded(*static_cast<const ss_pool_event*>(data));
        break;
      case SS_EV_SOCKET_CLOSED: {
        if (size < sizeof(ss_socket_event)) break;
        v1::Report report;
        *report.mutable_socket_lifetime() = SocketLifetimeFromEvent(
            *static_cast<const ss_socket_event*>(data), [this](uint64_t ns) { return clock_.ToUnixNs(ns); });
        // Per-connection reports only on request (--sockets): a busy server closes thousands of
        // connections a second. Text output still sees them for its per-endpoint summary, but
        // neither prints nor streams them to the collector.
        if (options_.sockets) {
          writer_->Write(report);
          ++sockets_reported_;
        } else if (options_.format == OutputFormat::kText) {
          writer_->Observe(report);
        }
        break;
      }
      case SS_EV_THREAD_START:
      case SS_EV_MEMBER_EXIT:
        // A pool may be growing or shrinking: find its new thread or its new ceiling soon, not
        // at the next periodic rescan.
        next_discovery_ = std::min(next_discovery_, std::max(now + kThreadStartRescanDelayNs,
                                                             last_discovery_ + kThreadStartRescanMinGapNs));
        break;
      case SS_EV_PROC_FORK: {
        if (size < sizeof(ss_proc_event)) break;
        const auto* e = static_cast<const ss_proc_event*>(data);
        pid_t child = static_cast<pid_t>(e->child_tgid);
        tracked_.insert(child);
        process_names_.erase(child);
        WriteProcessEvent(v1::ProcessEvent::FORKED, child, static_cast<pid_t>(e->parent_tgid),
                          clock_.ToUnixNs(hdr->ts_ns));
        break;
      }
      case SS_EV_PROC_EXEC: {
        pid_t pid = static_cast<pid_t>(hdr->tgid);
        process_names_.erase(pid);
        runs_gevent_.erase(pid);
        python_stacks_.ForgetProcess(pid);
        symbolizer_.ForgetProcess(pid);
        if (wait_uprobes_) wait_uprobes_->ForgetProcess(pid);  // another libc, maybe none
        WriteProcessEvent(v1::ProcessEvent::EXECED, pid, 0, clock_.ToUnixNs(hdr->ts_ns));
        break;
      }
      case SS_EV_LOOP_SUSPECT:
        if (wait_uprobes_) wait_uprobes_->OnSuspect(static_cast<pid_t>(hdr->tgid), now);
        break;
      case SS_EV_WAIT_UPROBE_HIT:
        if (wait_uprobes_) wait_uprobes_->OnHit(static_cast<pid_t>(hdr->tgid));
        break;
      case SS_EV_ACCEPT_HOOKS_WANTED:
        if (accept_hooks_) accept_hooks_->Tick(true, now);
        break;
      case SS_EV_EXEC_UNTRACKED:
        if (hooks_.on_untracked_exec) hooks_.on_untracked_exec(static_cast<pid_t>(hdr->tgid));
        break;
      case SS_EV_PROC_EXIT: {
        pid_t pid = static_cast<pid_t>(hdr->tgid);
        WriteProcessEvent(v1::ProcessEvent::EXITED, pid, 0, clock_.ToUnixNs(hdr->ts_ns));
        ForgetProcessState(pid);
        break;
      }
      default:
        break;
    }
  }

  void EmitStall(const BusySnapshot& snapshot) {
    v1::Report report;
    v1::LoopBlock* block = report.mutable_loop_block();
    *block = builder_.Build(snapshot);
    if (!python_stacks_enabled_) {
      block->set_python_stack_status(v1::PYTHON_STACK_NOT_CAPTURED);
      block->set_python_stack_reason("Python stacks off (memory shedding)");
    }
    else if (snapshot.in_progress)
      python_stacks_.OnInProgress(snapshot, *block);
    else
      python_stacks_.OnFinal(snapshot, *block);
    block->set_cause(StallCause(*block));  // once the stack is final: it names the site
    summary_.Add(report.loop_block());
    if (!options_.flamegraph_path.empty() && !block->in_progress() && flame_stacks_.size() < kMaxFlameStacks) {
      FlameStack stack;
      stack.frames.assign(block->stack().begin(), block->stack().end());
      if (!block->asyncio_coro().empty()) {
        // The running asyncio Task (3.14+) as the root: stalled time by task coroutine. Named
        // by its coroutine, not "Task-N", which would split every request apart.
        v1::Frame& task = stack.frames.emplace_back();
        task.set_kind(v1::Frame::PYTHON);
        task.set_function("asyncio task " + block->asyncio_coro());
        task.set_module("asyncio");
      }
      stack.weight_ns = block->duration_ns();
      flame_stacks_.push_back(std::move(stack));
    }
    writer_->Write(report);
  }

  int Finish() {
    // Drain what the kernel already sent, then judge held stalls.
    while (probes_->Poll(0) > 0) {
    }
    uint64_t now = KernelClock::NowKernelNs();
    tracker_.Flush(now);
    pools_->Flush(now);
    v1::AgentStats stats = Stats();
    writer_->Finish(summary_, stats);
    if (!options_.flamegraph_path.empty()) {
      if (absl::Status st = WriteFlameGraph(options_.flamegraph_path, flame_stacks_); !st.ok())
        return Fail(absl::Status(st.code(), absl::StrCat("flame graph: ", st.message())), kExitOutput);
      fprintf(stderr, "stallscope: flame graph of %zu stalls written to %s\n", flame_stacks_.size(),
              options_.flamegraph_path.c_str());
    }
    uint64_t lost = stats.ringbuf_drops() + stats.thread_map_full() + stats.tracked_map_full() +
                    stats.stalls_suppressed() + stats.socket_map_full() + stats.pool_member_map_full();
    if (lost > 0)
      fprintf(stderr,
              "stallscope: warning: %llu events lost (ring buffer full %llu, thread map full %llu, "
              "process map full %llu, held stalls over limit %llu, socket map full %llu, pool "
              "members not added %llu)\n",
              static_cast<unsigned long long>(lost), static_cast<unsigned long long>(stats.ringbuf_drops()),
              static_cast<unsigned long long>(stats.thread_map_full()),
              static_cast<unsigned long long>(stats.tracked_map_full()),
              static_cast<unsigned long long>(stats.stalls_suppressed()),
              static_cast<unsigned long long>(stats.socket_map_full()),
              static_cast<unsigned long long>(stats.pool_member_map_full()));
    if (!writer_->ok()) return WriteFailed();
    return kExitOk;
  }

  // ENOSPC, EIO, a closed pipe: the run stops, since what follows would be lost.
  int WriteFailed() {
    const std::string& name = options_.output_path.empty() ? "the reports" : options_.output_path;
    return Fail(absl::UnavailableError(absl::StrCat("cannot write ", name, ": a write failed (disk full or output closed)")),
                kExitOutput);
  }

  const AttachOptions& options_;
  ReportWriter* writer_;
  const TraceHooks& hooks_;
  bool python_stacks_enabled_ = true;
  WorkLoopReader work_loops_;
  uint64_t next_discovery_ = 0, last_discovery_ = 0;
  KernelClock clock_;
  Symbolizer symbolizer_;
  ReportBuilder builder_;
  LoopTracker tracker_;
  std::array<uint8_t, SS_SYSCALL_TABLE_SIZE> classes_;
  std::unique_ptr<ProbeSession> probes_;
  std::unique_ptr<ProbePoolKernel> pool_kernel_;
  std::unique_ptr<PoolTracker> pools_;
  std::unique_ptr<WaitUprobeArming> wait_uprobes_;  // --syscall-hooks sched only
  std::unique_ptr<AcceptHookSwitch> accept_hooks_;  // --syscall-hooks sched only
  WaitSyscalls wait_syscalls_ = WaitSyscalls::Native();
  uint64_t sockets_reported_ = 0;
  absl::flat_hash_set<pid_t> tracked_;
  absl::flat_hash_map<pid_t, uint64_t> start_ticks_;  // of tracked processes, when first checked
  absl::flat_hash_map<pid_t, std::string> process_names_;
  absl::flat_hash_map<pid_t, bool> runs_gevent_;  // cleared on exec and exit
  PythonStacks python_stacks_{[this](const BusySnapshot& stall) { return StillStalled(stall); }};
  static constexpr size_t kMaxFlameStacks = 100'000;  // bounds memory on very long runs
  std::vector<FlameStack> flame_stacks_;
  StallSummary summary_;
  uint64_t started_ns_ = 0;
};

}  // namespace

int RunAttach(const AttachOptions& options) {
  // Resolve every --pid first: a typo should fail before anything is loaded.
  std::vector<pid_t> roots;
  for (pid_t pid : options.pids) {
    auto tgid = ThreadGroupOf(pid);
    if (!tgid) return Fail(absl::NotFoundError(absl::StrCat("no process with PID ", pid)));
    if (std::optional<ProcessStat> start = ReadProcessStat(*tgid);
        start && start->exited() && ListThreads(*tgid).size() <= 1)
      return Fail(absl::NotFoundError(absl::StrCat("process ", *tgid,
                                                   " is a zombie: it has exited and only waits for "
                                                   "its parent to reap it; nothing to trace")),
                  kExitProcessGone);
    if (std::find(roots.begin(), roots.end(), *tgid) == roots.end()) roots.push_back(*tgid);
  }

  if (!options.collector.empty()) {
    if (absl::Status st = CheckCollectorAuth({options.collector_ca, options.tls_cert, options.tls_key,
                                              options.collector_token_file, options.insecure});
        !st.ok()) {
      fprintf(stderr, "stallscope: %s\n", std::string(st.message()).c_str());
      return absl::IsPermissionDenied(st) ? net::kExitUnsafeCredentials : kExitUsage;
    }
  }

  // Both files are opened before anything is loaded: a refused name (a symlink, a directory
  // anyone may swap it in) fails at once. The flame graph is written again at exit.
  if (!options.flamegraph_path.empty()) {
    if (absl::Status st = WriteOutputFile(options.flamegraph_path, ""); !st.ok())
      return Fail(absl::Status(st.code(), absl::StrCat("flame graph: ", st.message())), kExitOutput);
  }
  FILE* out = stdout;
  if (!options.output_path.empty()) {
    absl::StatusOr<FILE*> file = OpenOutputStream(options.output_path);
    if (!file.ok()) return Fail(file.status(), kExitOutput);
    out = *file;
  }
  std::unique_ptr<ReportWriter> writer =
      options.format == OutputFormat::kJson ? MakeJsonWriter(out) : MakeTextWriter(out, options.sockets);
  // --collector: every report also goes to the collector, from a background thread.
  std::unique_ptr<CollectorClient> collector;
  if (!options.collector.empty()) {
    CollectorClient::Options stream_options;
    stream_options.buffer_reports = options.collector_buffer;
    stream_options.auth = {options.collector_ca, options.tls_cert, options.tls_key, options.collector_token_file,
                           options.insecure};
    collector = std::make_unique<CollectorClient>(options.collector,
                                                  BuildAgentIdentity(options.service, roots.front()), stream_options);
    collector->Start();
    writer = MakeStreamingWriter(std::move(writer), collector.get());
  }
  writer = MakeSafeTextWriter(std::move(writer));  // no raw target text reaches any output
  int rc = RunTrace(options, writer.get(), roots, TraceHooks{});
  writer.reset();  // a streaming writer flushes into `out` as it goes
  if (out != stdout) {
    if (absl::Status st = CloseOutputStream(out, options.output_path); !st.ok() && rc == kExitOk)
      return Fail(st, kExitOutput);
  }
  return rc;
}

int RunTrace(const AttachOptions& options, ReportWriter* writer, const std::vector<pid_t>& roots,
             const TraceHooks& hooks) {
  InstallStopHandlers();
  AttachRun run(options, writer, hooks);
  return run.Run(roots);
}

}  // namespace stallscope
