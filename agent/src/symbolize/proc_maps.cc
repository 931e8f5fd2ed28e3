#include "symbolize/proc_maps.h"

#include <algorithm>
#include <charconv>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "target_files/target_files.h"

namespace stallscope::symbolize {
namespace {

constexpr std::string_view kDeletedSuffix = " (deleted)";

// Splits off the next space-delimited field of `line`.
std::string_view NextField(std::string_view& line) {
  size_t begin = line.find_first_not_of(' ');
  if (begin == std::string_view::npos) {
    line = {};
    return {};
  }
  line.remove_prefix(begin);
  size_t end = std::min(line.find(' '), line.size());
  std::string_view field = line.substr(0, end);
  line.remove_prefix(end);
  return field;
}

bool ParseHex(std::string_view text, uint64_t* value) {
  if (text.empty()) return false;
  auto [ptr, ec] = std::from_chars(text.data(), text.data() + text.size(), *value, 16);
  return ec == std::errc() && ptr == text.data() + text.size();
}

bool ParseDecimal(std::string_view text, uint64_t* value) {
  if (text.empty()) return false;
  auto [ptr, ec] = std::from_chars(text.data(), text.data() + text.size(), *value, 10);
  return ec == std::errc() && ptr == text.data() + text.size();
}

// "start-end perms offset dev inode [path]"; the path may contain spaces.
bool ParseLine(std::string_view line, MemoryMapping* mapping) {
  std::string_view range = NextField(line);
  std::string_view perms = NextField(line);
  std::string_view offset = NextField(line);
  std::string_view dev = NextField(line);
  std::string_view inode = NextField(line);
  size_t dash = range.find('-');
  if (dash == std::string_view::npos || perms.size() < 4 || dev.empty()) return false;
  if (!ParseHex(range.substr(0, dash), &mapping->start) ||
      !ParseHex(range.substr(dash + 1), &mapping->end) || mapping->end <= mapping->start ||
      !ParseHex(offset, &mapping->offset) || !ParseDecimal(inode, &mapping->inode)) {
    return false;
  }
  mapping->executable = perms[2] == 'x';
  size_t path_begin = line.find_first_not_of(' ');
  std::string_view path = path_begin == std::string_view::npos ? "" : line.substr(path_begin);
  mapping->deleted = path.size() > kDeletedSuffix.size() && path.ends_with(kDeletedSuffix);
  if (mapping->deleted) path.remove_suffix(kDeletedSuffix.size());
  mapping->path = std::string(path);
  return true;
}

}  // namespace

std::string MemoryMapping::ModuleName() const {
  size_t slash = path.rfind('/');
  return slash == std::string::npos ? path : path.substr(slash + 1);
}

std::vector<MemoryMapping> ParseProcMaps(std::string_view text) {
  std::vector<MemoryMapping> mappings;
  while (!text.empty()) {
    size_t newline = std::min(text.find('\n'), text.size());
    std::string_view line = text.substr(0, newline);
    text.remove_prefix(std::min(newline + 1, text.size()));
    MemoryMapping mapping;
    if (ParseLine(line, &mapping)) mappings.push_back(std::move(mapping));
  }
  // The kernel already sorts; sorting again keeps lookups correct for hand-written input.
  std::stable_sort(
      mappings.begin(), mappings.end(),
      [](const MemoryMapping& a, const MemoryMapping& b) { return a.start < b.start; });
  return mappings;
}

absl::StatusOr<std::vector<MemoryMapping>> ReadProcMaps(const std::string& proc_root, pid_t pid) {
  std::string path = absl::StrCat(proc_root, "/", pid, "/maps");
  std::optional<std::string> text =
      target_files::ReadProcFile(path, target_files::kMaxProcMapsBytes);
  if (!text) return absl::NotFoundError(absl::StrCat("cannot read ", path));
  return ParseProcMaps(*text);
}

}  // namespace stallscope::symbolize
