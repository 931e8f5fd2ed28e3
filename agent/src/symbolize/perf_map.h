// /tmp/perf-PID.map: the symbol files JITs write for profilers (Node --perf-basic-prof, Python
// 3.12 -X perf, JVM agents). One "START SIZE NAME" line per function, hex addresses.
#ifndef STALLSCOPE_AGENT_SYMBOLIZE_PERF_MAP_H_
#define STALLSCOPE_AGENT_SYMBOLIZE_PERF_MAP_H_

#include <sys/types.h>

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace stallscope::symbolize {

class PerfMap {
 public:
  struct Entry {
    uint64_t start = 0;
    uint64_t size = 0;
    std::string name;
  };

  // Parses map text; malformed lines are skipped, at most `max_entries` are kept.
  static PerfMap Parse(std::string_view text, size_t max_entries = 1'000'000);

  // The function containing `address`, or null.
  const Entry* Find(uint64_t address) const;
  size_t size() const { return entries_.size(); }

 private:
  std::vector<Entry> entries_;  // sorted by start
};

// The map file of process `pid` as seen from the host: the JIT names the file with its PID in
// its own PID namespace (the last NSpid in /proc/PID/status) and writes it to /tmp inside its
// mount namespace, so it is read as <proc_root>/PID/root/tmp/perf-<nspid>.map.
std::string PerfMapPath(pid_t pid, const std::string& proc_root);

}  // namespace stallscope::symbolize

#endif  // STALLSCOPE_AGENT_SYMBOLIZE_PERF_MAP_H_
