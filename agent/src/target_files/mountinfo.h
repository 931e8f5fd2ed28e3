// A bounded, streaming parser of /proc/PID/mountinfo (proc(5)): one line per mount,
//   36 35 98:0 /mnt1 /mnt2 rw,noatime master:1 - ext3 /dev/root rw,errors=continue
// The text is the kernel's, but the paths and the filesystem names in it are chosen by whoever
// mounts (a target with its own mount namespace): hostile input like any target file.
#ifndef STALLSCOPE_AGENT_TARGET_FILES_MOUNTINFO_H_
#define STALLSCOPE_AGENT_TARGET_FILES_MOUNTINFO_H_

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace stallscope::target_files {

struct MountEntry {
  uint64_t mount_id = 0;   // global: compares with statx's stx_mnt_id of any fd
  uint64_t parent_id = 0;
  uint32_t major = 0;
  uint32_t minor = 0;
  std::string root;         // the mount's root within its filesystem
  std::string mount_point;  // in the reading process's view (relative to its root)
  std::string fstype;       // "ext4", "fuse.bindfs", ...
};

// The mount described by one line, octal escapes (\040 space, \011 tab, \012 newline, \134
// backslash) decoded. nullopt for a line of any other shape.
std::optional<MountEntry> ParseMountinfoLine(std::string_view line);

// "fuse", "fuseblk" or "fuse.<subtype>": a filesystem served by a user-space daemon, which may
// never answer.
bool IsFuseType(std::string_view fstype);

// Reads mountinfo text from `fd` line by line (LineReader: lines over 8 KiB skipped and counted
// as long_lines, at most `max_bytes` read) and returns at most `max_entries` mounts (more is
// counted as read_truncated and sets *truncated). Lines of another shape are skipped.
std::vector<MountEntry> ReadMountinfo(int fd, size_t max_bytes, size_t max_entries,
                                      bool* truncated = nullptr);

}  // namespace stallscope::target_files

#endif  // STALLSCOPE_AGENT_TARGET_FILES_MOUNTINFO_H_
