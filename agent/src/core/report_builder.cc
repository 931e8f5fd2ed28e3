#include "core/report_builder.h"

#include "absl/strings/str_cat.h"
#include "bpf/syscall_table.h"

namespace stallscope {

std::string DescribeWait(int wait_nr, int wait_fd) {
  if (wait_nr < 0) return "";
  std::string out = SyscallName(wait_nr);
  if (wait_fd >= 0) absl::StrAppend(&out, " fd ", wait_fd);
  return out;
}

v1::LoopBlock ReportBuilder::Build(const BusySnapshot& s) const {
  v1::LoopBlock block;
  block.set_pid(static_cast<uint32_t>(s.pid));
  block.set_tid(static_cast<uint32_t>(s.tid));
  block.set_comm(s.comm.empty() ? thread_name_(s.pid, s.tid) : s.comm);
  block.set_process_comm(process_name_(s.pid));
  block.set_start_time_unix_nano(clock_.ToUnixNs(s.start_kernel_ns));
  block.set_duration_ns(s.duration_ns());
  block.set_on_cpu_ns(s.on_cpu_ns);
  block.set_off_cpu_ns(s.off_cpu_ns);
  block.set_runqueue_ns(s.runq_ns);
  block.set_in_progress(s.in_progress);
  block.set_seq(s.seq);
  block.set_thread_exited(s.thread_exited);
  block.set_wait(DescribeWait(s.wait_nr, s.wait_fd));
  for (const SyscallSample& call : s.syscalls) {
    v1::SyscallStat* stat = block.add_syscalls();
    stat->set_name(call.nr < 0 ? "(other blocking calls)" : SyscallName(call.nr));
    stat->set_fd(call.fd);
    if (call.fd >= 0) stat->set_target(fd_namer_(s.pid, call));
    stat->set_total_ns(call.total_ns);
    stat->set_count(call.count);
    stat->set_in_progress(call.in_progress);
  }
  if (!s.stack.empty()) {
    std::vector<v1::Frame> frames = symbolize_(s.pid, s.stack);
    for (size_t i = 0; i < frames.size(); ++i) {
      // Walking frame pointers through code built without them (CPython, most distro libs)
      // yields addresses outside any mapping: the stack is cut there rather than padded with junk.
      if (i > 0 && frames[i].module().empty()) break;
      frames[i].set_kind(v1::Frame::NATIVE);
      *block.add_stack() = std::move(frames[i]);
    }
    block.set_stack_kind(s.stack_kind == StackKind::kCpuSample ? "cpu-sample" : "blocking-syscall");
  }
  return block;
}

}  // namespace stallscope
