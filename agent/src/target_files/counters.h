// Why the agent refused a target-controlled file, and what it shed to stay bounded: process-wide
// counters, reported in agentStats (refused*, shed*) and the daemon's /metrics.
#ifndef STALLSCOPE_AGENT_TARGET_FILES_COUNTERS_H_
#define STALLSCOPE_AGENT_TARGET_FILES_COUNTERS_H_

#include <cstdint>
#include <map>
#include <string>

#include "stallscope/v1/report.pb.h"

namespace stallscope::target_files {

// A file the door would not open. Missing files are not refusals and are not counted.
enum class Refusal : int {
  kSymlink = 0,   // the name is a symlink (O_NOFOLLOW), or a magic link is on the way
  kNotRegular,    // FIFO, device, socket or directory
  kTooLarge,      // larger than the cap for its kind, checked on the open fd
  kWrongOwner,    // a perf map not owned by the target's effective uid
  kNoOpenat2,     // the kernel cannot resolve inside the target's root: refused, not guessed
  kOnFuse,        // on, or resolved through, a target's FUSE mount: its daemon may never answer
  kCount,
};

// Something dropped on purpose to keep memory and time bounded.
enum class Shed : int {
  kReadTruncated = 0,  // a read stopped at its byte cap
  kLongLines,          // lines longer than the line cap, skipped
  kSymbols,            // ELF symbols past the per-object caps (entries, string bytes), not loaded
  kPerfMapEntries,     // perf map entries past the per-process caps, not loaded
  kSymbolTablesEvicted,  // symbol tables dropped from the cache to stay under its byte bound
  kMountinfoUnread,      // a target's mountinfo unreadable: its FUSE mounts unknown
  kInvalidUtf8,          // target strings with bytes that are not UTF-8, replaced by U+FFFD
  kLongStrings,          // target strings cut to their cap (target_strings.h)
  kCount,
};

const char* RefusalName(Refusal reason);  // "symlink", "not_regular", ...
const char* ShedName(Shed what);          // "read_truncated", ...

void CountRefusal(Refusal reason);
void CountShed(Shed what, uint64_t n = 1);

uint64_t RefusalCount(Refusal reason);
uint64_t ShedCount(Shed what);

// Every counter by name (zeros included), for /metrics.
std::map<std::string, uint64_t> RefusalCounts();
std::map<std::string, uint64_t> ShedCounts();

// Sets the refused_* and shed_* fields of agentStats.
void FillAgentStats(v1::AgentStats* stats);

}  // namespace stallscope::target_files

#endif  // STALLSCOPE_AGENT_TARGET_FILES_COUNTERS_H_
