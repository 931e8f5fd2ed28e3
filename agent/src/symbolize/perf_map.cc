#include "symbolize/perf_map.h"

#include <algorithm>
#include <charconv>
#include <fstream>
#include <sstream>

namespace stallscope::symbolize {
namespace {

bool ParseHex(std::string_view text, uint64_t& out) {
  if (text.starts_with("0x") || text.starts_with("0X")) text.remove_prefix(2);
  if (text.empty()) return false;
  auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), out, 16);
  return ec == std::errc() && end == text.data() + text.size();
}

}  // namespace

PerfMap PerfMap::Parse(std::string_view text, size_t max_entries) {
  PerfMap map;
  while (!text.empty() && map.entries_.size() < max_entries) {
    size_t eol = text.find('\n');
    std::string_view line = text.substr(0, eol);
    text = eol == std::string_view::npos ? std::string_view() : text.substr(eol + 1);
    size_t first = line.find(' ');
    if (first == std::string_view::npos) continue;
    size_t second = line.find(' ', first + 1);
    if (second == std::string_view::npos) continue;
    Entry e;
    if (!ParseHex(line.substr(0, first), e.start) ||
        !ParseHex(line.substr(first + 1, second - first - 1), e.size) || e.size == 0)
      continue;
    e.name = std::string(line.substr(second + 1));
    if (e.name.empty()) continue;
    map.entries_.push_back(std::move(e));
  }
  // JITs append as they compile; a later entry for the same start replaces an earlier one.
  std::stable_sort(map.entries_.begin(), map.entries_.end(),
                   [](const Entry& a, const Entry& b) { return a.start < b.start; });
  std::vector<Entry> unique;
  for (Entry& e : map.entries_) {
    if (!unique.empty() && unique.back().start == e.start)
      unique.back() = std::move(e);
    else
      unique.push_back(std::move(e));
  }
  map.entries_ = std::move(unique);
  return map;
}

const PerfMap::Entry* PerfMap::Find(uint64_t address) const {
  auto it = std::upper_bound(entries_.begin(), entries_.end(), address,
                             [](uint64_t a, const Entry& e) { return a < e.start; });
  if (it == entries_.begin()) return nullptr;
  --it;
  return address - it->start < it->size ? &*it : nullptr;
}

std::string PerfMapPath(pid_t pid, const std::string& proc_root) {
  std::string base = proc_root + "/" + std::to_string(pid);
  std::ifstream status(base + "/status");
  std::string line;
  pid_t nspid = pid;
  while (std::getline(status, line)) {
    if (line.rfind("NSpid:", 0) != 0) continue;
    std::istringstream fields(line.substr(6));
    pid_t value = 0;
    while (fields >> value) nspid = value;  // the innermost namespace's PID is last
    break;
  }
  return base + "/root/tmp/perf-" + std::to_string(nspid) + ".map";
}

}  // namespace stallscope::symbolize
