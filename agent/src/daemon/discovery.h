// Host-wide discovery: a periodic /proc scan that starts tracking every process the selectors
// pick (its workers, forked later, are tracked by the kernel) up to a bound, and remembers
// what it decided so an unchanged process costs one /proc/PID/stat read per scan. Exited
// processes leave the tracked set by themselves (kernel exit events).
#ifndef STALLSCOPE_AGENT_DAEMON_DISCOVERY_H_
#define STALLSCOPE_AGENT_DAEMON_DISCOVERY_H_

#include <sys/types.h>

#include <cstdint>
#include <string>

#include "absl/container/flat_hash_map.h"
#include "absl/container/flat_hash_set.h"
#include "attach/attach_runner.h"
#include "daemon/process_identity.h"
#include "daemon/selectors.h"

namespace stallscope {

class Discovery {
 public:
  struct Stats {
    uint64_t scans = 0;
    uint64_t tracked_total = 0;     // processes discovery started tracking
    uint64_t untracked_total = 0;   // dropped because a reload's selectors no longer pick them
    uint64_t over_limit_total = 0;  // matching processes not tracked: max_processes reached (or memory)
    uint64_t track_errors = 0;
    // Python processes not tracked, counted once each: they serve nothing (no listening
    // socket), or serve but the selectors do not pick them.
    uint64_t skipped_not_serving = 0;
    uint64_t skipped_by_selectors = 0;
  };

  Discovery(SelectorSet selectors, IdentityResolver* identity, std::string proc_root = "/proc");

  // New selectors (config reload): every process is judged again on the next scan, and
  // tracked ones they no longer pick are dropped.
  void SetSelectors(SelectorSet selectors);

  // One scan. `paused`: matching processes are counted as over the limit, not tracked (memory).
  void Scan(TraceControl& control, size_t max_tracked, bool paused, uint64_t now_ns);
  // One process that just exec'd (kernel notification): judged now, not at the next scan.
  void Consider(TraceControl& control, pid_t pid, size_t max_tracked, bool paused, uint64_t now_ns);

  const Stats& stats() const { return stats_; }
  // Log each Python process not tracked, and why (--verbose).
  void SetVerbose(bool verbose) { verbose_ = verbose; }

 private:
  struct Seen {
    uint64_t start_ticks = 0;
    std::string comm;
    uint64_t first_seen_ns = 0;
    bool recheck = false;        // a young Python process: its imports may still be on the way
    bool counted_over = false;   // counted once in over_limit_total
    bool skip_noted = false;     // counted (and logged) once as skipped, for its last reason
    bool skip_selectors = false;
  };

  void Judge(TraceControl& control, pid_t pid, const ProcessStat& stat, size_t max_tracked, bool paused,
             uint64_t now_ns);
  void DropUnselectedRoots(TraceControl& control);
  void NoteSkipped(pid_t pid, const ProcessStat& stat, const ProcessFacts& facts, Candidate& candidate, Seen& seen);

  SelectorSet selectors_;
  IdentityResolver* identity_;
  std::string proc_root_;
  absl::flat_hash_map<pid_t, Seen> seen_;
  absl::flat_hash_set<pid_t> roots_;  // processes discovery chose (not their workers)
  bool judge_roots_again_ = false;
  bool verbose_ = false;
  Stats stats_;
};

}  // namespace stallscope

#endif  // STALLSCOPE_AGENT_DAEMON_DISCOVERY_H_
