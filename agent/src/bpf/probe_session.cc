#include "bpf/probe_session.h"

#include <bpf/bpf.h>
#include <bpf/libbpf.h>
#include <linux/perf_event.h>
#include <linux/capability.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <cerrno>
#include <cstdarg>
#include <cstdio>
#include <cstring>
#include <string>
#include <string_view>

#include "absl/strings/str_cat.h"
#include "bpf/syscall_table.h"
#include "bpf/tracefs.h"
#include "bpf/uprobe_multi.h"
#include "stallscope_bpf.skel.h"

namespace stallscope {
namespace {

bool g_verbose_libbpf = false;
std::string g_last_libbpf_error;

// libbpf prints verifier logs and warnings; keep them for the error message unless --verbose.
int LibbpfPrint(enum libbpf_print_level level, const char* fmt, va_list args) {
  char line[1024];
  vsnprintf(line, sizeof(line), fmt, args);
  if (g_verbose_libbpf) {
    fputs(line, stderr);
  } else if (level == LIBBPF_WARN) {
    g_last_libbpf_error = line;
    while (!g_last_libbpf_error.empty() && g_last_libbpf_error.back() == '\n')
      g_last_libbpf_error.pop_back();
  }
  return 0;
}

absl::Status FromErrno(int err, const std::string& what) {
  err = err < 0 ? -err : err;
  std::string msg = absl::StrCat(what, ": ", strerror(err));
  if (!g_last_libbpf_error.empty() && !g_verbose_libbpf)
    absl::StrAppend(&msg, " (libbpf: ", g_last_libbpf_error, "; --verbose shows more)");
  if (err == EPERM || err == EACCES)
    return absl::PermissionDeniedError(msg);
  return absl::FailedPreconditionError(msg);
}

int RingCallback(void* ctx, void* data, size_t size) {
  auto* handler = static_cast<ProbeSession::EventHandler*>(ctx);
  (*handler)(data, size);
  return 0;
}

}  // namespace

const char* SyscallHooksName(SyscallHooks hooks) {
  switch (hooks) {
    case SyscallHooks::kAuto: return "auto";
    case SyscallHooks::kTracepoints: return "tracepoints";
    case SyscallHooks::kRawSyscalls: return "raw";
    case SyscallHooks::kSched: return "sched";
  }
  return "?";
}

absl::Status CheckBpfPrivileges() {
  if (geteuid() == 0) return absl::OkStatus();
  // Raw capget: the effective set is all we need, not worth a libcap dependency.
  __user_cap_header_struct header{_LINUX_CAPABILITY_VERSION_3, 0};
  __user_cap_data_struct data[_LINUX_CAPABILITY_U32S_3]{};
  auto has = [&data](int cap) { return (data[cap / 32].effective >> (cap % 32)) & 1u; };
  if (syscall(SYS_capget, &header, data) == 0) {
    constexpr int kCapBpf = 39, kCapPerfmon = 38;  // CAP_BPF/CAP_PERFMON (5.8+)
    if (has(CAP_SYS_ADMIN) || (has(kCapBpf) && has(kCapPerfmon))) return absl::OkStatus();
  }
  return absl::PermissionDeniedError(
      "needs root, or CAP_BPF + CAP_PERFMON (+ CAP_SYS_PTRACE to read other users' processes); "
      "try sudo");
}

absl::Status CheckKernelBtf() {
  struct stat st {};
  if (stat("/sys/kernel/btf/vmlinux", &st) == 0) return absl::OkStatus();
  return absl::FailedPreconditionError(
      "this kernel has no BTF (/sys/kernel/btf/vmlinux is missing): stallscope needs a kernel "
      "built with CONFIG_DEBUG_INFO_BTF=y (5.8 or newer)");
}

absl::StatusOr<std::unique_ptr<ProbeSession>> ProbeSession::Create(const ProbeConfig& config,
                                                                   EventHandler on_event) {
  if (absl::Status st = CheckBpfPrivileges(); !st.ok()) return st;
  if (absl::Status st = CheckKernelBtf(); !st.ok()) return st;
  auto session = std::unique_ptr<ProbeSession>(new ProbeSession());
  session->on_event_ = std::move(on_event);
  if (absl::Status st = session->Load(config); !st.ok()) return st;
  return session;
}

absl::Status ProbeSession::Load(const ProbeConfig& config) {
  g_verbose_libbpf = config.verbose;
  libbpf_set_print(LibbpfPrint);

  skel_ = stallscope_bpf__open();
  if (!skel_) return FromErrno(errno, "opening the BPF programs");

  skel_->rodata->block_threshold_ns = config.block_threshold_ns;
  // Sample CPU stacks in the second half of a would-be stall: early enough that a stall just
  // over the threshold still gets one, late enough to skip ordinary busy periods.
  skel_->rodata->cpu_sample_after_ns = config.block_threshold_ns / 2;
  // Whole user stacks of blocking calls from a quarter of the threshold on (before that, the
  // innermost frame only): a long block that starts early still has its innermost frame, and
  // the agent reads Python frames while the stall is in progress.
  skel_->rodata->full_stack_after_ns = config.block_threshold_ns / 4;
  skel_->rodata->notify_untracked_exec = config.notify_untracked_exec ? 1 : 0;
  auto classes = BuildSyscallClassTable();
  static_assert(sizeof(skel_->rodata->syscall_class) == SS_SYSCALL_TABLE_SIZE);
  memcpy(const_cast<__u8*>(skel_->rodata->syscall_class), classes.data(), classes.size());

  skel_->rodata->saturation_threshold_ns = config.saturation_threshold_ns;
  skel_->rodata->socket_events = config.socket_events;
  skel_->rodata->nr_futex = SYS_futex;
  skel_->rodata->nr_accept = SYS_accept;
  skel_->rodata->nr_accept4 = SYS_accept4;
  skel_->rodata->nr_epoll_pwait = SYS_epoll_pwait;
  skel_->rodata->nr_epoll_pwait2 = SYS_epoll_pwait2;
  skel_->rodata->nr_pselect6 = SYS_pselect6;
  skel_->rodata->nr_ppoll = SYS_ppoll;
#ifdef SYS_select  // x86_64 only; arm64 has just the p* variants
  skel_->rodata->nr_select = SYS_select;
  skel_->rodata->nr_poll = SYS_poll;
  skel_->rodata->nr_epoll_wait = SYS_epoll_wait;
#endif
  // Sleeping tasks' syscalls are read with bpf_task_pt_regs (Linux 5.15+): without it the rest
  // runs, but blocking syscalls go unnamed and no pool is tracked.
  if (libbpf_probe_bpf_helper(BPF_PROG_TYPE_TRACEPOINT, BPF_FUNC_task_pt_regs, nullptr) != 1) {
    skel_->rodata->have_task_pt_regs = false;
    pools_supported_ = false;
    fprintf(stderr, "stallscope: warning: this kernel has no bpf_task_pt_regs (Linux 5.15+): "
                    "blocking syscalls will not be named and worker pools not tracked\n");
  }

  if (absl::Status st = ChooseSyscallHooks(config.syscall_hooks, config.socket_events); !st.ok()) return st;
  skel_->rodata->waits_at_switch = syscall_hooks_ == SyscallHooks::kSched;
  // A busy loop is a suspect after a quarter of the threshold: arming takes well under a
  // millisecond, so a loop that is only iterating is seen waiting long before it could pass
  // for a stall, and a stall that starts amid back-to-back iterations is dated to within about
  // this much. An eighth armed a loop under wrk twice as often (60/s) for the same result; each
  // arm costs the agent ~0.4 ms, mostly the kernel registering the uprobe (docs/performance.md).
  skel_->rodata->arm_after_ns = config.block_threshold_ns / 4;
  bpf_map__set_max_entries(skel_->maps.threads, config.max_threads);
  bpf_map__set_max_entries(skel_->maps.tracked_tgids, config.max_processes);

  if (int err = stallscope_bpf__load(skel_); err) return FromErrno(err, "loading the BPF programs");
  if (int err = stallscope_bpf__attach(skel_); err) return FromErrno(err, "attaching the BPF programs");

  auto map_bitmap = [](bpf_map* map, uint64_t*& out, const char* what) -> absl::Status {
    void* bitmap = mmap(nullptr, SS_TGID_BITMAP_WORDS * sizeof(uint64_t), PROT_READ | PROT_WRITE,
                        MAP_SHARED, bpf_map__fd(map), 0);
    if (bitmap == MAP_FAILED) return FromErrno(errno, absl::StrCat("mapping the ", what, " bitmap"));
    out = static_cast<uint64_t*>(bitmap);
    return absl::OkStatus();
  };
  if (absl::Status st = map_bitmap(skel_->maps.tracked_bitmap, tracked_bitmap_, "tracked-process");
      !st.ok())
    return st;
  if (absl::Status st = map_bitmap(skel_->maps.thread_bitmap, thread_bitmap_, "thread"); !st.ok())
    return st;
  if (absl::Status st = map_bitmap(skel_->maps.member_bitmap, member_bitmap_, "pool-member");
      !st.ok())
    return st;
  if (absl::Status st = map_bitmap(skel_->maps.armed_bitmap, armed_bitmap_, "armed-process");
      !st.ok())
    return st;

  void* pools = mmap(nullptr, SS_MAX_POOLS * sizeof(ss_pool), PROT_READ | PROT_WRITE, MAP_SHARED,
                     bpf_map__fd(skel_->maps.pools), 0);
  if (pools == MAP_FAILED) return FromErrno(errno, "mapping the pool array");
  pools_ = static_cast<ss_pool*>(pools);
  void* listeners = mmap(nullptr, SS_MAX_LISTENERS * sizeof(ss_listener), PROT_READ | PROT_WRITE,
                         MAP_SHARED, bpf_map__fd(skel_->maps.listeners), 0);
  if (listeners == MAP_FAILED) return FromErrno(errno, "mapping the listener array");
  listeners_ = static_cast<ss_listener*>(listeners);

  ring_ = ring_buffer__new(bpf_map__fd(skel_->maps.events), RingCallback, &on_event_, nullptr);
  if (!ring_) return FromErrno(errno, "opening the ring buffer");

  if (config.cpu_sample_hz > 0) {
    // Without sampling, CPU-bound stalls lose their stack, and one that follows a wait which
    // returned without sleeping is seen only when it ends (the sampler is what notices such a
    // thread left its wait: no program runs at wait exits). Keep running and say so.
    if (absl::Status st = AttachCpuSampling(config.cpu_sample_hz); !st.ok())
      fprintf(stderr,
              "stallscope: warning: %s; CPU-bound stalls will have no stack and may be reported "
              "only when they end\n",
              std::string(st.message()).c_str());
  }
  return absl::OkStatus();
}

// Loads one way of seeing waits, never two (they would count every wait twice): the
// scheduler's view with armed uprobes (auto's choice where the kernel has what it needs), the
// per-syscall wait tracepoints, or the raw_syscalls entry hook. Tracepoints of waits this
// kernel lacks (epoll_pwait2 before 5.11) are left out.
absl::Status ProbeSession::ChooseSyscallHooks(SyscallHooks wanted, bool socket_events) {
  // sched reads the sleeping task's saved registers (bpf_task_pt_regs, 5.15+) and needs the
  // uprobe PMU for loops that never sleep in their wait.
  const bool sched_possible = skel_->rodata->have_task_pt_regs &&
                              access("/sys/bus/event_source/devices/uprobe/type", R_OK) == 0;
  if (wanted == SyscallHooks::kSched && !sched_possible)
    return absl::FailedPreconditionError(
        "--syscall-hooks=sched: this kernel lacks bpf_task_pt_regs (5.15+) or the uprobe PMU");
  // Without uprobe-multi links (6.6+) each arm waits for the last disarm's grace period
  // (uprobe_multi.h): busy loops are armed too late to tell them from stalls under load, so
  // auto prefers the tracepoints there.
  std::optional<uint32_t> uprobe_multi = sched_possible ? UprobeMultiAttachType() : std::nullopt;
  absl::StatusOr<std::string> tracefs = EnsureTracefs();
  const bool have_tracefs = tracefs.ok() && TraceEventExists(*tracefs, "syscalls", "sys_enter_epoll_wait");
  std::string why_not = tracefs.ok() ? "this kernel has no syscalls:sys_enter_epoll_wait tracepoint"
                                     : std::string(tracefs.status().message());
  if (wanted == SyscallHooks::kTracepoints && !have_tracefs)
    return absl::FailedPreconditionError(absl::StrCat("--syscall-hooks=tracepoints: ", why_not));
  if (wanted == SyscallHooks::kAuto && !uprobe_multi && !have_tracefs)
    fprintf(stderr,
            "stallscope: note: %s; hooking every syscall instead (raw_syscalls), which costs the "
            "host more, and accept waits will not be measured\n",
            why_not.c_str());
  if (wanted == SyscallHooks::kSched || (wanted == SyscallHooks::kAuto && uprobe_multi))
    syscall_hooks_ = SyscallHooks::kSched;
  else if (have_tracefs && wanted != SyscallHooks::kRawSyscalls)
    syscall_hooks_ = SyscallHooks::kTracepoints;
  else
    syscall_hooks_ = SyscallHooks::kRawSyscalls;
  const bool wait_tracepoints = syscall_hooks_ == SyscallHooks::kTracepoints;
  const bool sched = syscall_hooks_ == SyscallHooks::kSched;
  if (sched) uprobe_multi_type_ = uprobe_multi;
  bpf_program* prog = nullptr;
  bpf_object__for_each_program(prog, skel_->obj) {
    std::string section = bpf_program__section_name(prog);
    std::string_view name = bpf_program__name(prog);
    constexpr std::string_view kSyscallTp = "tracepoint/syscalls/";
    if (section.rfind(kSyscallTp, 0) == 0) {
      // The waits' own entry tracepoints (ss_enter_*) follow the chosen hooks; the others
      // (accept exits of sockets.bpf.h) load whenever tracefs is there.
      bool wait_hook = name.rfind("ss_enter_", 0) == 0;
      bool wanted_here = wait_hook ? wait_tracepoints : have_tracefs;
      bpf_program__set_autoload(
          prog, wanted_here && TraceEventExists(*tracefs, "syscalls", section.substr(kSyscallTp.size())));
    } else if (section == "tp_btf/sys_enter") {
      bpf_program__set_autoload(prog, syscall_hooks_ == SyscallHooks::kRawSyscalls);
    } else if (section == "uprobe") {
      bpf_program__set_autoload(prog, sched);  // attached per process by AttachWaitUprobe
      // Loaded for uprobe-multi links where the kernel has them (see uprobe_multi.h).
      if (sched && uprobe_multi_type_.has_value())
        bpf_program__set_expected_attach_type(prog,
                                              static_cast<bpf_attach_type>(*uprobe_multi_type_));
    }
  }
  accept_probes_ = bpf_program__autoload(skel_->progs.ss_accept4_exit);
  // Any syscall tracepoint puts every task on the host on the slow syscall path (+50 ns per
  // syscall here): with sched, the accept exits are attached only on demand (AttachAcceptHooks).
  // Not when every connection's report is wanted (--sockets, text's endpoint table): an
  // inbound connection's owner is known only from its accept.
  accept_on_demand_ = sched && accept_probes_ && !socket_events;
  skel_->data->accept_hooks_on = !accept_on_demand_;
  for (bpf_program* accept : {skel_->progs.ss_accept4_exit, skel_->progs.ss_accept_exit})
    bpf_program__set_autoattach(accept, !accept_on_demand_);
  return absl::OkStatus();
}

absl::Status ProbeSession::AttachCpuSampling(uint32_t hz) {
  int ncpus = libbpf_num_possible_cpus();
  if (ncpus <= 0) return FromErrno(ncpus, "counting CPUs");
  for (int cpu = 0; cpu < ncpus; ++cpu) {
    perf_event_attr attr{};
    attr.size = sizeof(attr);
    attr.type = PERF_TYPE_SOFTWARE;
    attr.config = PERF_COUNT_SW_CPU_CLOCK;
    attr.freq = 1;
    attr.sample_freq = hz;
    int fd = static_cast<int>(syscall(SYS_perf_event_open, &attr, -1, cpu, -1, PERF_FLAG_FD_CLOEXEC));
    if (fd < 0) {
      if (errno == ENODEV) continue;  // possible but offline CPU
      return FromErrno(errno, "opening a cpu-clock perf event");
    }
    perf_fds_.push_back(fd);
    bpf_link* link = bpf_program__attach_perf_event(skel_->progs.ss_cpu_sample, fd);
    if (!link) return FromErrno(errno, "attaching the CPU sampler");
    perf_links_.push_back(link);
  }
  return absl::OkStatus();
}

ProbeSession::~ProbeSession() {
  for (bpf_link* link : perf_links_) bpf_link__destroy(link);
  for (int fd : perf_fds_) close(fd);
  if (ring_) ring_buffer__free(ring_);
  if (pools_) munmap(pools_, SS_MAX_POOLS * sizeof(ss_pool));
  if (listeners_) munmap(listeners_, SS_MAX_LISTENERS * sizeof(ss_listener));
  for (uint64_t* bitmap : {tracked_bitmap_, thread_bitmap_, member_bitmap_, armed_bitmap_})
    if (bitmap) munmap(bitmap, SS_TGID_BITMAP_WORDS * sizeof(uint64_t));
  if (skel_) stallscope_bpf__destroy(skel_);
}

// Bits of the kernel's per-id bitmaps (tracked_bitmap, thread_bitmap, member_bitmap), changed
// with atomic operations that cannot race the kernel's own.
static void SetIdBit(uint64_t* bitmap, uint32_t id) {
  if (bitmap && id < SS_PID_MAX_LIMIT)
    __atomic_fetch_or(&bitmap[id / 64], 1ULL << (id % 64), __ATOMIC_SEQ_CST);
}

static void ClearIdBit(uint64_t* bitmap, uint32_t id) {
  if (bitmap && id < SS_PID_MAX_LIMIT)
    __atomic_fetch_and(&bitmap[id / 64], ~(1ULL << (id % 64)), __ATOMIC_SEQ_CST);
}

absl::Status ProbeSession::TrackProcess(pid_t tgid) {
  __u32 key = static_cast<__u32>(tgid);
  __u8 one = 1;
  if (bpf_map_update_elem(bpf_map__fd(skel_->maps.tracked_tgids), &key, &one, BPF_ANY) != 0) {
    if (errno == E2BIG)
      return absl::ResourceExhaustedError(
          absl::StrCat("cannot track PID ", tgid, ": --max-processes reached"));
    return FromErrno(errno, absl::StrCat("tracking PID ", tgid));
  }
  SetIdBit(tracked_bitmap_, key);
  return absl::OkStatus();
}

void ProbeSession::UntrackProcess(pid_t tgid) {
  __u32 key = static_cast<__u32>(tgid);
  ClearIdBit(tracked_bitmap_, key);
  bpf_map_delete_elem(bpf_map__fd(skel_->maps.tracked_tgids), &key);
}

int ProbeSession::Poll(int timeout_ms) {
  int n = ring_buffer__poll(ring_, timeout_ms);
  if (n < 0) return n;
  // High-rate events (closed sockets) are submitted without a wakeup: drain them here too.
  int more = ring_buffer__consume(ring_);
  return more > 0 ? n + more : n;
}

std::vector<ss_thread_state> ProbeSession::ReadThreads() const {
  std::vector<ss_thread_state> out;
  int fd = bpf_map__fd(skel_->maps.threads);
  // Batched lookups read the whole map in a few syscalls (the scan runs 10 times a second);
  // fall back to get_next_key on kernels without BPF_MAP_LOOKUP_BATCH for hash maps.
  constexpr __u32 kBatch = 256;
  std::vector<__u32> keys(kBatch);
  std::vector<ss_thread_state> values(kBatch);
  __u32 in_batch = 0, out_batch = 0;
  bool first = true;
  LIBBPF_OPTS(bpf_map_batch_opts, opts);
  while (true) {
    __u32 count = kBatch;
    int err = bpf_map_lookup_batch(fd, first ? nullptr : &in_batch, &out_batch, keys.data(),
                                   values.data(), &count, &opts);
    if (err != 0 && errno != ENOENT) {
      if (first) break;  // not supported: use the slow path below
      return out;
    }
    out.insert(out.end(), values.begin(), values.begin() + count);
    if (err != 0) return out;  // ENOENT: that was the last batch
    in_batch = out_batch;
    first = false;
  }
  __u32 key = 0, next = 0;
  __u32* prev = nullptr;
  size_t guard = 4 * bpf_map__max_entries(skel_->maps.threads) + 16;
  while (guard-- > 0 && bpf_map_get_next_key(fd, prev, &next) == 0) {
    ss_thread_state state{};
    if (bpf_map_lookup_elem(fd, &next, &state) == 0) out.push_back(state);
    key = next;
    prev = &key;
  }
  return out;
}

std::optional<ss_thread_state> ProbeSession::ReadThread(pid_t tid) const {
  __u32 key = static_cast<__u32>(tid);
  ss_thread_state state{};
  if (bpf_map_lookup_elem(bpf_map__fd(skel_->maps.threads), &key, &state) != 0) return std::nullopt;
  return state;
}

absl::Status ProbeSession::SeedThread(const ss_thread_state& state) {
  __u32 key = state.tid;
  SetIdBit(thread_bitmap_, key);  // before the entry exists: a clear bit means no entry
  if (bpf_map_update_elem(bpf_map__fd(skel_->maps.threads), &key, &state, BPF_NOEXIST) != 0 &&
      errno != EEXIST)
    return FromErrno(errno, absl::StrCat("seeding thread ", state.tid));
  return absl::OkStatus();
}

void ProbeSession::ForgetThread(pid_t tid) {
  __u32 key = static_cast<__u32>(tid);
  bpf_map_delete_elem(bpf_map__fd(skel_->maps.threads), &key);
  ClearIdBit(thread_bitmap_, key);
}

volatile ss_pool* ProbeSession::Pool(uint32_t pool_id) const {
  return pool_id < SS_MAX_POOLS ? &pools_[pool_id] : nullptr;
}

absl::Status ProbeSession::AddPoolMember(pid_t tid, const ss_pool_member& member) {
  __u32 key = static_cast<__u32>(tid);
  SetIdBit(member_bitmap_, key);  // before the entry exists: a clear bit means no entry
  if (bpf_map_update_elem(bpf_map__fd(skel_->maps.pool_members), &key, &member, BPF_NOEXIST) != 0 &&
      errno != EEXIST)
    return FromErrno(errno, absl::StrCat("adding pool member ", tid));
  return absl::OkStatus();
}

std::optional<ss_pool_member> ProbeSession::ReadPoolMember(pid_t tid) const {
  __u32 key = static_cast<__u32>(tid);
  ss_pool_member m{};
  if (bpf_map_lookup_elem(bpf_map__fd(skel_->maps.pool_members), &key, &m) != 0) return std::nullopt;
  return m;
}

void ProbeSession::RemovePoolMember(pid_t tid) {
  __u32 key = static_cast<__u32>(tid);
  bpf_map_delete_elem(bpf_map__fd(skel_->maps.pool_members), &key);
  ClearIdBit(member_bitmap_, key);
}

absl::Status ProbeSession::SetListener(uint16_t port, uint32_t slot, uint32_t pool_id_plus1) {
  if (slot >= SS_MAX_LISTENERS) return absl::ResourceExhaustedError("too many listening sockets");
  listeners_[slot].pool_id_plus1 = pool_id_plus1;
  __u32 key = port, value = slot;
  if (bpf_map_update_elem(bpf_map__fd(skel_->maps.listen_ports), &key, &value, BPF_ANY) != 0)
    return FromErrno(errno, absl::StrCat("adding listener port ", port));
  return absl::OkStatus();
}

volatile ss_listener* ProbeSession::Listener(uint32_t slot) const {
  return slot < SS_MAX_LISTENERS ? &listeners_[slot] : nullptr;
}

absl::StatusOr<ProbeSession::WaitUprobeLink> ProbeSession::AttachWaitUprobe(
    WaitFunction function, pid_t tgid, const std::string& path, uint64_t offset) {
  if (syscall_hooks_ != SyscallHooks::kSched)
    return absl::FailedPreconditionError("wait uprobes exist only with --syscall-hooks=sched");
  bpf_program* prog = function == WaitFunction::kEpollWait ? skel_->progs.ss_uprobe_epoll_wait
                                                           : skel_->progs.ss_uprobe_epoll_pwait;
  if (uprobe_multi_type_.has_value()) {
    absl::StatusOr<int> fd =
        AttachUprobeMulti(bpf_program__fd(prog), *uprobe_multi_type_, path, offset, tgid);
    if (!fd.ok()) return fd.status();
    return WaitUprobeLink{.fd = *fd};
  }
  LIBBPF_OPTS(bpf_uprobe_opts, opts);
  // pid-scoped: the breakpoint is planted in this process only, so no other process pays.
  bpf_link* link = bpf_program__attach_uprobe_opts(prog, tgid, path.c_str(), offset, &opts);
  if (!link) return FromErrno(errno, absl::StrCat("attaching a wait uprobe to pid ", tgid));
  return WaitUprobeLink{.link = link};
}

void ProbeSession::DetachWaitUprobe(const WaitUprobeLink& link) {
  if (link.fd >= 0) close(link.fd);
  if (link.link) bpf_link__destroy(link.link);
}

absl::StatusOr<std::vector<bpf_link*>> ProbeSession::AttachAcceptHooks() {
  std::vector<bpf_link*> links;
  for (bpf_program* accept : {skel_->progs.ss_accept4_exit, skel_->progs.ss_accept_exit}) {
    if (!bpf_program__autoload(accept)) continue;
    bpf_link* link = bpf_program__attach(accept);
    if (!link) {
      absl::Status st = FromErrno(errno, "attaching the accept exits");
      for (bpf_link* l : links) bpf_link__destroy(l);
      return st;
    }
    links.push_back(link);
  }
  return links;
}

void ProbeSession::SetAcceptCounting(bool on) {
  // Counts of connections queued while nobody counted their accepts would never come down.
  for (uint32_t slot = 0; slot < SS_MAX_LISTENERS; ++slot)
    __atomic_store_n(&listeners_[slot].queued, 0, __ATOMIC_RELAXED);
  __atomic_store_n(&skel_->data->accept_hooks_on, on, __ATOMIC_RELEASE);
}

void ProbeSession::SetWaitUprobesArmed(pid_t tgid, bool armed) {
  if (armed)
    SetIdBit(armed_bitmap_, static_cast<uint32_t>(tgid));
  else
    ClearIdBit(armed_bitmap_, static_cast<uint32_t>(tgid));
}

std::array<uint64_t, SS_CNT_MAX> ProbeSession::ReadCounters() const {
  std::array<uint64_t, SS_CNT_MAX> totals{};
  int ncpus = libbpf_num_possible_cpus();
  if (ncpus <= 0) return totals;
  std::vector<uint64_t> per_cpu(static_cast<size_t>(ncpus));
  int fd = bpf_map__fd(skel_->maps.counters);
  for (__u32 i = 0; i < SS_CNT_MAX; ++i) {
    if (bpf_map_lookup_elem(fd, &i, per_cpu.data()) != 0) continue;
    for (uint64_t v : per_cpu) totals[i] += v;
  }
  return totals;
}

}  // namespace stallscope
