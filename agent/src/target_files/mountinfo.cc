#include "target_files/mountinfo.h"

#include "proc/text_fields.h"
#include "target_files/counters.h"
#include "target_files/target_files.h"

namespace stallscope::target_files {
namespace {

// mountinfo lines are at most a few path lengths; a longer one is skipped, not parsed.
constexpr size_t kMaxLineBytes = 8192;

bool IsOctal(char c) { return c >= '0' && c <= '7'; }

// The kernel writes ' ', '\t', '\n' and '\\' of paths as "\ooo"; anything else is literal.
std::string Unescape(std::string_view field) {
  std::string out;
  out.reserve(field.size());
  for (size_t i = 0; i < field.size(); ++i) {
    if (field[i] == '\\' && i + 3 < field.size() && IsOctal(field[i + 1]) &&
        IsOctal(field[i + 2]) && IsOctal(field[i + 3])) {
      int value = (field[i + 1] - '0') * 64 + (field[i + 2] - '0') * 8 + (field[i + 3] - '0');
      if (value <= 0xff) {
        out.push_back(static_cast<char>(value));
        i += 3;
        continue;
      }
    }
    out.push_back(field[i]);
  }
  return out;
}

}  // namespace

std::optional<MountEntry> ParseMountinfoLine(std::string_view line) {
  std::vector<std::string_view> fields = SplitFields(line);
  // id parent major:minor root mount_point options [optional...] - fstype source super_options
  constexpr size_t kFixed = 6;
  size_t dash = kFixed;
  while (dash < fields.size() && fields[dash] != "-") ++dash;
  if (dash + 1 >= fields.size()) return std::nullopt;
  MountEntry entry;
  std::string_view device = fields[2];
  size_t colon = device.find(':');
  if (colon == std::string_view::npos || !ParseNumber(fields[0], 10, &entry.mount_id) ||
      !ParseNumber(fields[1], 10, &entry.parent_id) ||
      !ParseNumber(device.substr(0, colon), 10, &entry.major) ||
      !ParseNumber(device.substr(colon + 1), 10, &entry.minor)) {
    return std::nullopt;
  }
  entry.root = Unescape(fields[3]);
  entry.mount_point = Unescape(fields[4]);
  entry.fstype = Unescape(fields[dash + 1]);
  if (entry.mount_point.empty() || entry.mount_point[0] != '/') return std::nullopt;
  return entry;
}

bool IsFuseType(std::string_view fstype) {
  return fstype == "fuse" || fstype == "fuseblk" || fstype.starts_with("fuse.");
}

std::vector<MountEntry> ReadMountinfo(int fd, size_t max_bytes, size_t max_entries,
                                      bool* truncated) {
  std::vector<MountEntry> mounts;
  LineReader reader(fd, max_bytes, kMaxLineBytes);
  std::string_view line;
  bool cut = false;
  while (reader.Next(&line)) {
    std::optional<MountEntry> entry = ParseMountinfoLine(line);
    if (!entry) continue;
    if (mounts.size() >= max_entries) {
      CountShed(Shed::kReadTruncated);
      cut = true;
      break;
    }
    mounts.push_back(std::move(*entry));
  }
  if (truncated) *truncated = cut || reader.truncated();
  return mounts;
}

}  // namespace stallscope::target_files
