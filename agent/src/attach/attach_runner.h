// `stallscope attach`: loads the probes, tracks the given processes and their descendants, and
// turns kernel data into reports until the duration passes, a signal arrives or every tracked
// process has exited.
//
// The same run loop serves `stallscope daemon`: RunTrace takes hooks that add and drop tracked
// processes while it runs (discovery), keep it running with nothing tracked, and shed detail
// under memory pressure.
#ifndef STALLSCOPE_AGENT_ATTACH_ATTACH_RUNNER_H_
#define STALLSCOPE_AGENT_ATTACH_ATTACH_RUNNER_H_

#include <sys/types.h>

#include <array>
#include <cstdint>
#include <functional>
#include <vector>

#include "absl/status/status.h"
#include "cli/attach_options.h"
#include "output/report_writer.h"
#include "stallscope/v1/report.pb.h"
#include "stallscope_abi.h"

namespace stallscope {

// Returns the process exit code (cli/exit_codes.h); errors are printed as one line on stderr.
int RunAttach(const AttachOptions& options);

// What a caller can do to a running trace from its tick hook (same thread as the run loop).
class TraceControl {
 public:
  virtual ~TraceControl() = default;
  // Tracks a running process and its live descendants; children it forks later are tracked
  // by the kernel. Threads already waiting in their loop are seeded, as at attach.
  virtual absl::Status Track(pid_t pid) = 0;
  // Stops tracking the process and every tracked descendant.
  virtual void Untrack(pid_t pid) = 0;
  virtual bool IsTracked(pid_t pid) const = 0;
  virtual std::vector<pid_t> Tracked() const = 0;
  virtual std::array<uint64_t, SS_CNT_MAX> KernelCounters() const = 0;
  // Memory pressure: drop symbol and Python code caches (rebuilt on demand).
  virtual void DropCaches() = 0;
  // Memory pressure: stop (or resume) reading Python stacks; stalls then say NOT_CAPTURED.
  virtual void SetPythonStacks(bool enabled) = 0;
  // The counters `attach` prints at exit, as of now.
  virtual v1::AgentStats Stats() const = 0;
};

struct TraceHooks {
  // Called about every 100 ms from the run loop once the probes are loaded (first call right
  // after loading).
  std::function<void(TraceControl& control, uint64_t now_kernel_ns)> on_tick;
  // Checked every loop iteration besides SIGINT/SIGTERM.
  std::function<bool()> stop_requested;
  // Keep running when no process is tracked (a daemon waiting for servers to start).
  bool run_without_processes = false;
  // Set: the kernel reports every exec of an untracked process (called from the ring-buffer
  // poll: queue the pid, judge it in on_tick).
  std::function<void(pid_t pid)> on_untracked_exec;
};

// The run loop behind `attach`, with the caller's writer. `roots` may be empty when
// hooks.run_without_processes. Installs the SIGINT/SIGTERM handlers `attach` uses.
int RunTrace(const AttachOptions& options, ReportWriter* writer, const std::vector<pid_t>& roots,
             const TraceHooks& hooks);

}  // namespace stallscope

#endif  // STALLSCOPE_AGENT_ATTACH_ATTACH_RUNNER_H_
