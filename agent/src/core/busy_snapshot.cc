#include "core/busy_snapshot.h"

#include <algorithm>
#include <cstring>

#include "target_files/target_strings.h"

namespace stallscope {
namespace {

// The thread's name as the kernel had it: any bytes the thread set with prctl(PR_SET_NAME).
std::string CommOf(const char (&comm)[SS_COMM_LEN]) {
  return SanitizeTargetString(std::string_view(comm, strnlen(comm, SS_COMM_LEN)), kMaxCommBytes);
}

void CopySlots(const ss_busy_period& busy, std::vector<SyscallSample>& out) {
  uint32_t n = std::min<uint32_t>(busy.nslots, SS_MAX_SYSCALL_SLOTS);
  for (uint32_t i = 0; i < n; ++i) {
    const ss_syscall_slot& slot = busy.slots[i];
    SyscallSample s;
    s.nr = slot.nr;
    s.fd = slot.fd;
    s.total_ns = slot.total_ns;
    s.count = slot.count;
    s.file_kind = slot.file_kind;
    s.sock = slot.sock;
    out.push_back(s);
  }
  if (busy.other_count > 0) {
    SyscallSample other;
    other.total_ns = busy.other_ns;
    other.count = busy.other_count;
    out.push_back(other);
  }
}

void SortLargestFirst(std::vector<SyscallSample>& syscalls) {
  std::stable_sort(syscalls.begin(), syscalls.end(),
                   [](const SyscallSample& a, const SyscallSample& b) { return a.total_ns > b.total_ns; });
}

std::vector<uint64_t> Frames(const __u64* stack, uint32_t len) {
  len = std::min<uint32_t>(len, SS_STACK_DEPTH);
  std::vector<uint64_t> out;
  for (uint32_t i = 0; i < len && stack[i] != 0; ++i) out.push_back(stack[i]);
  return out;
}

// A mostly-blocked period is explained by where it blocked; a mostly-on-CPU one by a sample.
void ChooseStack(BusySnapshot& s, const std::vector<uint64_t>& blocking,
                 const std::vector<uint64_t>& cpu) {
  bool prefer_cpu = s.on_cpu_ns > s.off_cpu_ns;
  if (prefer_cpu && !cpu.empty()) {
    s.stack = cpu;
    s.stack_kind = StackKind::kCpuSample;
  } else if (!blocking.empty()) {
    s.stack = blocking;
    s.stack_kind = StackKind::kBlockingSyscall;
  } else if (!cpu.empty()) {
    s.stack = cpu;
    s.stack_kind = StackKind::kCpuSample;
  }
}

}  // namespace

BusySnapshot SnapshotFromStallEvent(const ss_stall_event& event) {
  BusySnapshot s;
  s.pid = static_cast<pid_t>(event.hdr.tgid);
  s.tid = static_cast<pid_t>(event.hdr.tid);
  s.comm = CommOf(event.comm);
  s.seq = event.busy.seq;
  s.start_kernel_ns = event.busy.start_ns;
  s.end_kernel_ns = std::max<uint64_t>(event.hdr.ts_ns, event.busy.start_ns);
  s.on_cpu_ns = event.busy.on_cpu_ns;
  s.off_cpu_ns = event.busy.off_cpu_ns;
  s.runq_ns = event.busy.runq_ns;
  s.thread_exited = event.end_reason == SS_END_THREAD_EXIT;
  s.adds_connections = (event.flags & SS_STALL_F_ADDS_CONNECTIONS) != 0;
  s.wait_nr = event.wait_nr;
  s.wait_fd = event.wait_fd;
  CopySlots(event.busy, s.syscalls);
  SortLargestFirst(s.syscalls);
  ChooseStack(s, Frames(event.busy.block_stack, event.busy.block_stack_len),
              Frames(event.busy.cpu_stack, event.busy.cpu_stack_len));
  return s;
}

BusySnapshot SnapshotFromThreadState(const ss_thread_state& state, uint64_t now_kernel_ns,
                                     std::optional<uint64_t> cpu_time_ns) {
  const ss_busy_period& busy = state.busy;
  BusySnapshot s;
  s.pid = static_cast<pid_t>(state.tgid);
  s.tid = static_cast<pid_t>(state.tid);
  s.seq = busy.seq;
  s.in_progress = true;
  s.start_kernel_ns = busy.start_ns;
  s.end_kernel_ns = std::max<uint64_t>(now_kernel_ns, busy.start_ns);
  s.on_cpu_ns = busy.on_cpu_ns;
  s.off_cpu_ns = busy.off_cpu_ns;
  s.runq_ns = busy.runq_ns;
  s.wait_nr = state.last_wait_nr;
  s.wait_fd = state.last_wait_fd;
  s.adds_connections = state.adds_connections != 0;

  // The kernel adds a slice to its bucket when the slice ends; add the open slice here.
  uint64_t now = s.end_kernel_ns;
  auto since = [now](uint64_t t) { return now > t ? now - t : 0; };
  uint64_t off_until = now;  // when the thread stopped waiting (now, unless it ran since)
  if (state.off_kind != SS_ON_CPU && cpu_time_ns && state.last_off_exec_ns &&
      *cpu_time_ns > state.last_off_exec_ns) {
    uint64_t ran = std::min<uint64_t>(*cpu_time_ns - state.last_off_exec_ns, since(state.last_off_ns));
    s.on_cpu_ns += ran;
    off_until = now - ran;
  }
  auto until = [off_until](uint64_t t) { return off_until > t ? off_until - t : 0; };
  switch (state.off_kind) {
    case SS_ON_CPU:
      if (state.last_on_ns >= busy.start_ns) s.on_cpu_ns += since(state.last_on_ns);
      break;
    case SS_OFF_BLOCKED:
      if (state.wakeup_ns > state.last_off_ns) {
        uint64_t woke = std::min<uint64_t>(state.wakeup_ns, std::max<uint64_t>(off_until, state.last_off_ns));
        s.off_cpu_ns += woke - state.last_off_ns;
        s.runq_ns += until(woke);
      } else {
        s.off_cpu_ns += until(state.last_off_ns);
      }
      break;
    case SS_OFF_RUNNABLE:
      s.runq_ns += until(state.last_off_ns);
      break;
  }

  CopySlots(busy, s.syscalls);
  std::vector<uint64_t> blocking = Frames(busy.block_stack, busy.block_stack_len);
  if (state.sys_nr >= 0 && state.sys_blocked && state.sys_start_ns >= busy.start_ns) {
    bool returned = off_until < now;  // it ran since: the call is over, it is not asleep in it
    s.asleep_since_ns = returned ? 0 : state.sys_start_ns;
    uint64_t in_call = until(state.sys_start_ns);
    auto same = std::find_if(s.syscalls.begin(), s.syscalls.end(), [&](const SyscallSample& x) {
      return x.nr == state.sys_nr && x.fd == state.sys_fd;
    });
    if (same != s.syscalls.end()) {
      same->total_ns += in_call;
      same->count += 1;
      same->in_progress = !returned;
    } else {
      SyscallSample current;
      current.nr = state.sys_nr;
      current.fd = state.sys_fd;
      current.total_ns = in_call;
      current.count = 1;
      current.in_progress = !returned;
      s.syscalls.push_back(current);
    }
    // The call it is stuck in explains the stall better than an earlier, shorter one.
    if (state.sys_blocked && in_call > busy.longest_block_ns && state.sys_stack_len > 0)
      blocking = Frames(state.sys_stack, state.sys_stack_len);
  }
  SortLargestFirst(s.syscalls);
  ChooseStack(s, blocking, Frames(busy.cpu_stack, busy.cpu_stack_len));
  return s;
}

}  // namespace stallscope
