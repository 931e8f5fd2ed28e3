// Keeps the daemon under its memory limit by shedding detail, in steps, as its resident
// memory grows (never by being OOM-killed): from 60% of the limit symbol and Python code
// caches are dropped, from 75% Python stacks are no longer read, from 90% discovery stops
// adding processes. Each step is left 5 points below where it was entered.
#ifndef STALLSCOPE_AGENT_DAEMON_MEMORY_GUARD_H_
#define STALLSCOPE_AGENT_DAEMON_MEMORY_GUARD_H_

#include <cstdint>

namespace stallscope {

enum class ShedLevel : int { kNone = 0, kDropCaches = 1, kNoPythonStacks = 2, kNoNewProcesses = 3 };

class MemoryGuard {
 public:
  explicit MemoryGuard(uint64_t limit_bytes) : limit_(limit_bytes) {}
  void set_limit(uint64_t limit_bytes) { limit_ = limit_bytes; }
  // The level for this resident size (with hysteresis).
  ShedLevel Update(uint64_t rss_bytes);
  ShedLevel level() const { return level_; }
  uint64_t raised() const { return raised_; }  // times the level went up

 private:
  uint64_t limit_;
  ShedLevel level_ = ShedLevel::kNone;
  uint64_t raised_ = 0;
};

// Resident memory and CPU time of this process (/proc/self).
uint64_t SelfRssBytes();
double SelfCpuSeconds();

}  // namespace stallscope

#endif  // STALLSCOPE_AGENT_DAEMON_MEMORY_GUARD_H_
