// Turns a BusySnapshot into a stallscope.v1 LoopBlock: wall-clock start, syscall names, fd
// targets and symbolized frames.
#ifndef STALLSCOPE_AGENT_CORE_REPORT_BUILDER_H_
#define STALLSCOPE_AGENT_CORE_REPORT_BUILDER_H_

#include <sys/types.h>

#include <functional>
#include <string>
#include <vector>

#include "core/busy_snapshot.h"
#include "core/clock.h"
#include "stallscope/v1/report.pb.h"

namespace stallscope {

class ReportBuilder {
 public:
  // Names what a syscall's fd was ("tcp a -> b", "pipe", a path); "" when unknown.
  using FdNamer = std::function<std::string(pid_t pid, const SyscallSample& call)>;
  using StackSymbolizer = std::function<std::vector<v1::Frame>(pid_t pid, const std::vector<uint64_t>&)>;
  using ProcessName = std::function<std::string(pid_t pid)>;
  using ThreadName = std::function<std::string(pid_t pid, pid_t tid)>;

  ReportBuilder(KernelClock clock, FdNamer fd_namer, StackSymbolizer symbolize,
                ProcessName process_name, ThreadName thread_name)
      : clock_(clock),
        fd_namer_(std::move(fd_namer)),
        symbolize_(std::move(symbolize)),
        process_name_(std::move(process_name)),
        thread_name_(std::move(thread_name)) {}

  v1::LoopBlock Build(const BusySnapshot& snapshot) const;

 private:
  KernelClock clock_;
  FdNamer fd_namer_;
  StackSymbolizer symbolize_;
  ProcessName process_name_;
  ThreadName thread_name_;  // for in-progress reports: the kernel map holds no name
};

// "epoll_wait fd 6", "poll", "" (no wait known).
std::string DescribeWait(int wait_nr, int wait_fd);

}  // namespace stallscope

#endif  // STALLSCOPE_AGENT_CORE_REPORT_BUILDER_H_
