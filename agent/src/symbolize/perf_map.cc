#include "symbolize/perf_map.h"

#include <algorithm>
#include <cerrno>
#include <charconv>

#include "absl/strings/str_cat.h"

namespace stallscope::symbolize {
namespace {

bool ParseHex(std::string_view text, uint64_t& out) {
  if (text.starts_with("0x") || text.starts_with("0X")) text.remove_prefix(2);
  if (text.empty()) return false;
  auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), out, 16);
  return ec == std::errc() && end == text.data() + text.size();
}

}  // namespace

void PerfMap::Add(std::string_view line, const Limits& limits) {
  size_t first = line.find(' ');
  if (first == std::string_view::npos) return;
  size_t second = line.find(' ', first + 1);
  if (second == std::string_view::npos) return;
  Entry e;
  if (!ParseHex(line.substr(0, first), e.start) ||
      !ParseHex(line.substr(first + 1, second - first - 1), e.size) || e.size == 0)
    return;
  std::string_view name = line.substr(second + 1);
  if (name.empty()) return;
  name = name.substr(0, limits.max_name_size);
  if (entries_.size() >= limits.max_entries || names_.size() + name.size() > limits.max_name_bytes) {
    ++shed_;
    return;
  }
  e.name_offset = static_cast<uint32_t>(names_.size());
  e.name_size = static_cast<uint32_t>(name.size());
  names_.append(name);
  entries_.push_back(e);
}

void PerfMap::Finish() {
  if (shed_ > 0) target_files::CountShed(target_files::Shed::kPerfMapEntries, shed_);
  // JITs append as they compile; a later entry for the same start replaces an earlier one.
  std::stable_sort(entries_.begin(), entries_.end(),
                   [](const Entry& a, const Entry& b) { return a.start < b.start; });
  size_t kept = 0;
  for (size_t i = 0; i < entries_.size(); ++i) {
    if (kept > 0 && entries_[kept - 1].start == entries_[i].start)
      entries_[kept - 1] = entries_[i];
    else
      entries_[kept++] = entries_[i];
  }
  entries_.resize(kept);
  entries_.shrink_to_fit();
  names_.shrink_to_fit();
}

PerfMap PerfMap::Parse(std::string_view text, const Limits& limits) {
  PerfMap map;
  while (!text.empty()) {
    size_t eol = text.find('\n');
    map.Add(text.substr(0, eol), limits);
    text = eol == std::string_view::npos ? std::string_view() : text.substr(eol + 1);
  }
  map.Finish();
  return map;
}

PerfMap PerfMap::Read(int fd, const Limits& limits) {
  PerfMap map;
  // A line is an address, a size and one (capped) name: anything far longer is not a map line.
  target_files::LineReader lines(fd, limits.max_read_bytes, limits.max_name_size + 64);
  std::string_view line;
  while (lines.Next(&line)) map.Add(line, limits);
  map.Finish();
  return map;
}

const PerfMap::Entry* PerfMap::Find(uint64_t address) const {
  auto it = std::upper_bound(entries_.begin(), entries_.end(), address,
                             [](uint64_t a, const Entry& e) { return a < e.start; });
  if (it == entries_.begin()) return nullptr;
  --it;
  return address - it->start < it->size ? &*it : nullptr;
}

std::string_view PerfMap::Name(const Entry& entry) const {
  return std::string_view(names_).substr(entry.name_offset, entry.name_size);
}

std::string PerfMapPathInRoot(std::string_view status_text, pid_t pid) {
  pid_t nspid = target_files::InnermostPidFromStatus(status_text).value_or(pid);
  return absl::StrCat("/tmp/perf-", nspid, ".map");
}

target_files::Opened OpenPerfMap(pid_t pid, const std::string& proc_root) {
  std::string base = absl::StrCat(proc_root, "/", pid);
  std::optional<std::string> status = target_files::ReadProcFile(base + "/status");
  std::optional<uid_t> owner = status ? target_files::EffectiveUidFromStatus(*status) : std::nullopt;
  if (!owner) {
    target_files::Opened gone;
    gone.error = ESRCH;
    return gone;
  }
  return target_files::OpenInRoot(base + "/root", PerfMapPathInRoot(*status, pid),
                                  {.max_bytes = target_files::kMaxPerfMapBytes, .owner = *owner});
}

}  // namespace stallscope::symbolize
