// What each Python thread of a process runs as its work loop (pool_discovery.h): the outermost
// Python function below threading.py's bootstrap, read once per thread from its live stack (a
// thread runs the same loop all its life), and a thread pool's configured maximum when the
// command line says it (gunicorn --threads).
#ifndef STALLSCOPE_AGENT_POOLS_WORK_LOOPS_H_
#define STALLSCOPE_AGENT_POOLS_WORK_LOOPS_H_

#include <sys/types.h>

#include <cstdint>
#include <string>
#include <utility>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "pools/pool_discovery.h"
#include "python/python_process.h"
#include "stallscope/v1/report.pb.h"

namespace stallscope {

// "qualname (file)" of the outermost frame (frames innermost first) not in threading.py; ""
// when there is none yet (a thread still in its bootstrap, or no frames).
std::string WorkLoopOf(const std::vector<v1::Frame>& frames);

// gunicorn's --threads N / --threads=N in argv: {N, "gunicorn --threads N"}; {0, ""} otherwise.
std::pair<uint32_t, std::string> ConfiguredThreads(const std::vector<std::string>& argv);

class WorkLoopReader {
 public:
  // Sets view.python_read and each thread's `python` and `work_loop` (stacks read only for
  // threads whose loop is not known yet), and `waits_inside_job` for executor threads in an
  // untimed futex wait (their stack read again: where they wait changes). Leaves the view as
  // it is when Python is unreadable, marked `python_pending` if it was read before.
  void Fill(PythonProcess& python, ProcessView& view, const WaitSyscalls& nr);
  void ForgetProcess(pid_t pid);

 private:
  static constexpr size_t kMaxThreadsPerProcess = 4096;
  absl::flat_hash_map<pid_t, absl::flat_hash_map<pid_t, std::string>> loops_;  // pid -> tid -> loop
};

}  // namespace stallscope

#endif  // STALLSCOPE_AGENT_POOLS_WORK_LOOPS_H_
