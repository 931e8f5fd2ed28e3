// Parsing of /proc/PID/maps: which file (and where in it) backs each address range.
#ifndef STALLSCOPE_AGENT_SYMBOLIZE_PROC_MAPS_H_
#define STALLSCOPE_AGENT_SYMBOLIZE_PROC_MAPS_H_

#include <sys/types.h>

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/statusor.h"

namespace stallscope::symbolize {

struct MemoryMapping {
  uint64_t start = 0;   // first address
  uint64_t end = 0;     // one past the last address
  uint64_t offset = 0;  // file offset mapped at `start`
  uint64_t inode = 0;
  bool executable = false;
  bool deleted = false;  // the file was unlinked; `path` has the " (deleted)" suffix removed
  std::string path;      // "/usr/lib/libc.so.6", "[vdso]", "[heap]", or "" for anonymous memory

  bool Contains(uint64_t address) const { return address >= start && address < end; }
  // A path naming a file (as opposed to "[vdso]", "[stack]" or anonymous memory).
  bool IsFile() const { return !path.empty() && path[0] == '/'; }
  // Basename of the path ("libc.so.6", "[vdso]"); "" for anonymous memory.
  std::string ModuleName() const;
};

// Parses the text of a maps file; malformed lines are skipped. Sorted by start, as the kernel
// writes them.
std::vector<MemoryMapping> ParseProcMaps(std::string_view text);

// Reads and parses <proc_root>/<pid>/maps.
absl::StatusOr<std::vector<MemoryMapping>> ReadProcMaps(const std::string& proc_root, pid_t pid);

}  // namespace stallscope::symbolize

#endif  // STALLSCOPE_AGENT_SYMBOLIZE_PROC_MAPS_H_
