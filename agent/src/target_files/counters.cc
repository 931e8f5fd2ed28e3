#include "target_files/counters.h"

#include <array>
#include <atomic>

namespace stallscope::target_files {
namespace {

constexpr std::array<const char*, static_cast<size_t>(Refusal::kCount)> kRefusalNames = {
    "symlink", "not_regular", "too_large", "wrong_owner", "no_openat2", "on_fuse"};
constexpr std::array<const char*, static_cast<size_t>(Shed::kCount)> kShedNames = {
    "read_truncated", "long_lines", "symbols", "perf_map_entries", "symbol_tables_evicted",
    "mountinfo_unread", "invalid_utf8", "long_strings"};

// Readers run on the agent's thread; /metrics reads from the ops server's thread.
std::array<std::atomic<uint64_t>, static_cast<size_t>(Refusal::kCount)> g_refusals{};
std::array<std::atomic<uint64_t>, static_cast<size_t>(Shed::kCount)> g_sheds{};

}  // namespace

const char* RefusalName(Refusal reason) { return kRefusalNames[static_cast<size_t>(reason)]; }
const char* ShedName(Shed what) { return kShedNames[static_cast<size_t>(what)]; }

void CountRefusal(Refusal reason) {
  g_refusals[static_cast<size_t>(reason)].fetch_add(1, std::memory_order_relaxed);
}
void CountShed(Shed what, uint64_t n) {
  g_sheds[static_cast<size_t>(what)].fetch_add(n, std::memory_order_relaxed);
}

uint64_t RefusalCount(Refusal reason) {
  return g_refusals[static_cast<size_t>(reason)].load(std::memory_order_relaxed);
}
uint64_t ShedCount(Shed what) {
  return g_sheds[static_cast<size_t>(what)].load(std::memory_order_relaxed);
}

std::map<std::string, uint64_t> RefusalCounts() {
  std::map<std::string, uint64_t> out;
  for (size_t i = 0; i < kRefusalNames.size(); ++i)
    out[kRefusalNames[i]] = RefusalCount(static_cast<Refusal>(i));
  return out;
}

std::map<std::string, uint64_t> ShedCounts() {
  std::map<std::string, uint64_t> out;
  for (size_t i = 0; i < kShedNames.size(); ++i) out[kShedNames[i]] = ShedCount(static_cast<Shed>(i));
  return out;
}

void FillAgentStats(v1::AgentStats* stats) {
  stats->set_refused_symlink(RefusalCount(Refusal::kSymlink));
  stats->set_refused_not_regular(RefusalCount(Refusal::kNotRegular));
  stats->set_refused_too_large(RefusalCount(Refusal::kTooLarge));
  stats->set_refused_wrong_owner(RefusalCount(Refusal::kWrongOwner));
  stats->set_refused_no_openat2(RefusalCount(Refusal::kNoOpenat2));
  stats->set_refused_on_fuse(RefusalCount(Refusal::kOnFuse));
  stats->set_shed_read_truncated(ShedCount(Shed::kReadTruncated));
  stats->set_shed_long_lines(ShedCount(Shed::kLongLines));
  stats->set_shed_symbols(ShedCount(Shed::kSymbols));
  stats->set_shed_perf_map_entries(ShedCount(Shed::kPerfMapEntries));
  stats->set_shed_symbol_tables_evicted(ShedCount(Shed::kSymbolTablesEvicted));
  stats->set_shed_mountinfo_unread(ShedCount(Shed::kMountinfoUnread));
  stats->set_shed_invalid_utf8(ShedCount(Shed::kInvalidUtf8));
  stats->set_shed_long_strings(ShedCount(Shed::kLongStrings));
}

}  // namespace stallscope::target_files
