#include "output/stall_summary.h"

#include <algorithm>

#include "output/stall_cause.h"
#include "stack_site.h"

namespace stallscope {

void StallSummary::Add(const v1::LoopBlock& block) {
  if (block.in_progress()) return;
  stalls_++;
  total_ns_ += block.duration_ns();
  ThreadTotals& t = threads_[{block.pid(), block.tid()}];
  t.pid = block.pid();
  t.tid = block.tid();
  t.comm = block.comm();
  t.stalls++;
  t.total_ns += block.duration_ns();
  t.max_ns = std::max<uint64_t>(t.max_ns, block.duration_ns());
  if (!block.python_stack_reason().empty()) ++python_reasons_[block.python_stack_reason()];

  // The application's own line first; framework and library frames only when it has none.
  std::string site = StackSite(block.stack());
  if (!site.empty()) {
    Cause& c = call_sites_[site];
    c.what = site;
    c.total_ns += block.duration_ns();
    c.stalls++;
  }

  // Attribute the stall to its syscalls (capped at the stall's length) and its CPU time.
  uint64_t remaining = block.duration_ns();
  auto add = [this](const std::string& what, uint64_t ns) {
    Cause& c = causes_[what];
    c.what = what;
    c.total_ns += ns;
    c.stalls++;
  };
  for (const v1::SyscallStat& call : block.syscalls()) {
    uint64_t ns = std::min<uint64_t>(call.total_ns(), remaining);
    if (ns == 0) break;
    add(SyscallInWords(call), ns);  // by peer: one upstream is one line, whatever the local port
    remaining -= ns;
  }
  if (block.on_cpu_ns() > 0) add("on-CPU", std::min<uint64_t>(block.on_cpu_ns(), remaining));
}

std::vector<StallSummary::ThreadTotals> StallSummary::Threads() const {
  std::vector<ThreadTotals> out;
  for (const auto& [key, t] : threads_) out.push_back(t);
  std::sort(out.begin(), out.end(),
            [](const ThreadTotals& a, const ThreadTotals& b) { return a.total_ns > b.total_ns; });
  return out;
}

namespace {

std::vector<StallSummary::Cause> Top(const std::map<std::string, StallSummary::Cause>& all, size_t limit) {
  std::vector<StallSummary::Cause> out;
  for (const auto& [key, c] : all) out.push_back(c);
  std::sort(out.begin(), out.end(), [](const auto& a, const auto& b) { return a.total_ns > b.total_ns; });
  if (out.size() > limit) out.resize(limit);
  return out;
}

}  // namespace

std::vector<StallSummary::Cause> StallSummary::TopCallSites(size_t limit) const {
  return Top(call_sites_, limit);
}

std::vector<StallSummary::Cause> StallSummary::TopCauses(size_t limit) const {
  return Top(causes_, limit);
}

}  // namespace stallscope
