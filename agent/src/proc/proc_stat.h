// /proc/PID/stat, parsed in one place for the whole agent (attach, pools, the daemon).
#ifndef STALLSCOPE_AGENT_PROC_PROC_STAT_H_
#define STALLSCOPE_AGENT_PROC_PROC_STAT_H_

#include <sys/types.h>

#include <cstdint>
#include <optional>
#include <string>

#include "absl/strings/string_view.h"

namespace stallscope {

struct ProcessStat {
  pid_t pid = 0;
  pid_t ppid = 0;
  char state = 0;            // 'R', 'S', 'Z' for a zombie, ...
  std::string comm;          // target text, made safe (target_files/target_strings.h)
  uint64_t start_ticks = 0;  // since boot, in clock ticks: with pid, names one process across reuse
  bool kernel_thread = false;
  bool exited() const { return state == 'Z' || state == 'X'; }
};

// The record "pid (comm) state ppid ...": comm may hold spaces, parentheses and newlines
// (prctl(PR_SET_NAME) takes any bytes), so fields follow the last ')'. nullopt for a record the
// kernel would never write (too few fields, not numbers).
std::optional<ProcessStat> ParseProcessStat(pid_t pid, absl::string_view text);

// /proc/PID/stat read whole through the target-files door; nullopt when the process is gone.
std::optional<ProcessStat> ReadProcessStat(pid_t pid, const std::string& proc_root = "/proc");

}  // namespace stallscope

#endif  // STALLSCOPE_AGENT_PROC_PROC_STAT_H_
