// Turns user-space instruction addresses of a process into frames: function (ELF .symtab, then
// .dynsym, then the debug file found by build-id or .gnu_debuglink under /usr/lib/debug), module
// (basename of the mapped object) and offset. Reads the target's files through
// /proc/PID/root/<path> so containers work, and /proc/PID/maps for the mappings. Symbol tables
// are cached per object (keyed by build-id, or path+inode+mtime when there is none) with a bound
// on total cached symbols (oldest object evicted first).
#ifndef STALLSCOPE_AGENT_SYMBOLIZE_SYMBOLIZER_H_
#define STALLSCOPE_AGENT_SYMBOLIZE_SYMBOLIZER_H_

#include <sys/types.h>

#include <cstdint>
#include <memory>
#include <chrono>
#include <string>
#include <vector>

#include "stallscope/v1/report.pb.h"

namespace stallscope {

class Symbolizer {
 public:
  struct Options {
    std::string proc_root = "/proc";
    std::string debug_root = "/usr/lib/debug";
    // Bounds on the symbol tables cached for all processes together (least recently used
    // objects are evicted first); each table is itself capped when read (elf_symbols.h).
    size_t max_cached_symbols = 1'000'000;
    size_t max_cached_symbol_bytes = 32 << 20;
    // An address in no known mapping re-reads /proc/PID/maps (dlopen, JIT code) at most this
    // often per process: stacks walked without frame pointers end in addresses that are in no
    // mapping at all, and re-reading for each was a tenth of the agent's CPU at a high stall rate.
    std::chrono::milliseconds maps_reread_interval{1000};
  };
  Symbolizer();
  explicit Symbolizer(Options options);
  ~Symbolizer();
  Symbolizer(const Symbolizer&) = delete;
  Symbolizer& operator=(const Symbolizer&) = delete;

  // One frame per address, same order. Unknown addresses give a frame with only `address` set
  // (and `module` when the address falls in a mapping). Never throws; a vanished process gives
  // address-only frames.
  std::vector<v1::Frame> Symbolize(pid_t pid, const std::vector<uint64_t>& addresses);

  // Drops what is cached for a process's mappings (call on exec and exit).
  void ForgetProcess(pid_t pid);

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace stallscope

#endif  // STALLSCOPE_AGENT_SYMBOLIZE_SYMBOLIZER_H_
