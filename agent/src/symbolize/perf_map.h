// /tmp/perf-PID.map: the symbol files JITs write for profilers (Node --perf-basic-prof, Python
// 3.12 -X perf, JVM agents). One "START SIZE NAME" line per function, hex addresses. The target
// writes it, so it is hostile input: opened only through the target-files door (inside the
// target's root, regular, owned by the target's effective uid, size-capped) and streamed line by
// line into a table bounded in entries and name bytes.
#ifndef STALLSCOPE_AGENT_SYMBOLIZE_PERF_MAP_H_
#define STALLSCOPE_AGENT_SYMBOLIZE_PERF_MAP_H_

#include <sys/types.h>

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "target_files/target_files.h"

namespace stallscope::symbolize {

class PerfMap {
 public:
  struct Entry {
    uint64_t start = 0;
    uint64_t size = 0;
    uint32_t name_offset = 0;
    uint32_t name_size = 0;
  };
  struct Limits {
    size_t max_entries = 200'000;
    size_t max_name_bytes = 8 << 20;   // all names together
    size_t max_name_size = 512;        // one name; longer ones are cut
    size_t max_read_bytes = target_files::kMaxPerfMapBytes;
  };

  // Parses map text (pure: no I/O); malformed lines are skipped, entries past the limits shed.
  static PerfMap Parse(std::string_view text, const Limits& limits);
  static PerfMap Parse(std::string_view text) { return Parse(text, Limits()); }
  // Streams a map from `fd` (opened by OpenPerfMap) without holding the whole file.
  static PerfMap Read(int fd, const Limits& limits);

  // The function containing `address`, or null.
  const Entry* Find(uint64_t address) const;
  std::string_view Name(const Entry& entry) const;
  size_t size() const { return entries_.size(); }
  size_t memory_bytes() const { return entries_.capacity() * sizeof(Entry) + names_.capacity(); }

 private:
  void Add(std::string_view line, const Limits& limits);
  void Finish();

  std::vector<Entry> entries_;  // sorted by start after Finish
  std::string names_;
  uint64_t shed_ = 0;
};

// The innermost-namespace PID whose map `pid` writes: the JIT names the file with its PID in its
// own PID namespace (the last NSpid in /proc/PID/status) and writes it to /tmp inside its mount
// namespace.
std::string PerfMapPathInRoot(std::string_view status_text, pid_t pid);

// Opens <proc_root>/PID/root + PerfMapPathInRoot through the door, refusing (counted) a map not
// owned by the target's effective uid, as perf does, and any symlink, FIFO or oversized file.
target_files::Opened OpenPerfMap(pid_t pid, const std::string& proc_root);

}  // namespace stallscope::symbolize

#endif  // STALLSCOPE_AGENT_SYMBOLIZE_PERF_MAP_H_
