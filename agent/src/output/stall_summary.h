// Aggregates final stall reports for the end-of-run summary: stalls per thread, total stalled
// time, and the top causes (a syscall on a target, or on-CPU work).
#ifndef STALLSCOPE_AGENT_OUTPUT_STALL_SUMMARY_H_
#define STALLSCOPE_AGENT_OUTPUT_STALL_SUMMARY_H_

#include <cstdint>
#include <map>
#include <string>
#include <utility>
#include <vector>

#include "stallscope/v1/report.pb.h"

namespace stallscope {

class StallSummary {
 public:
  struct ThreadTotals {
    uint32_t pid = 0;
    uint32_t tid = 0;
    std::string comm;
    uint64_t stalls = 0;
    uint64_t total_ns = 0;
    uint64_t max_ns = 0;
  };
  struct Cause {
    std::string what;  // "recvfrom tcp 127.0.0.1:41870 -> 127.0.0.1:5432", "on-CPU", ...
    uint64_t total_ns = 0;
    uint64_t stalls = 0;
  };

  // Counts final reports only; in-progress ones are previews of a final one.
  void Add(const v1::LoopBlock& block);

  uint64_t stalls() const { return stalls_; }
  uint64_t total_ns() const { return total_ns_; }
  std::vector<ThreadTotals> Threads() const;           // most stalled time first
  std::vector<Cause> TopCauses(size_t limit) const;    // most time first
  // Stalled time by where the code was: each stall's site (common/stack_site.h,
  // "handlers.py:88 get_user"), the one the collector and the dashboard show.
  std::vector<Cause> TopCallSites(size_t limit) const;
  // Final reports without Python frames, by python_stack_reason.
  const std::map<std::string, uint64_t>& PythonStackReasons() const { return python_reasons_; }

 private:
  uint64_t stalls_ = 0;
  uint64_t total_ns_ = 0;
  std::map<std::pair<uint32_t, uint32_t>, ThreadTotals> threads_;
  std::map<std::string, Cause> causes_;
  std::map<std::string, Cause> call_sites_;
  std::map<std::string, uint64_t> python_reasons_;
};

}  // namespace stallscope

#endif  // STALLSCOPE_AGENT_OUTPUT_STALL_SUMMARY_H_
