// The one door through which the agent opens files a target process controls: its perf map, the
// ELF objects it maps, debug files in its root, its main script, and everything under
// /proc/PID/. The agent runs as root; these files are hostile input. The rules:
//  - names are resolved inside the target's root (openat2 RESOLVE_IN_ROOT |
//    RESOLVE_NO_MAGICLINKS on an fd of /proc/PID/root) or through /proc/PID/map_files/ for
//    mapped objects, never on the host;
//  - the last component is not followed (O_NOFOLLOW) unless a caller allows in-root symlinks;
//  - only regular files: the type is checked on an O_PATH fd, which opens nothing, before the
//    file is opened (O_NONBLOCK | O_CLOEXEC) through that very fd, so a FIFO cannot block and a
//    device is never opened;
//  - size caps and the owner are checked on the open fd (fstat), not on the name;
//  - nothing on a FUSE mount of the target is touched (fuse_mounts.h): names are refused before
//    any lookup when a prefix is a FUSE mount point in the target's view, files when their
//    O_PATH fd's mount (statx AT_STATX_DONT_SYNC, which never asks the daemon) is FUSE;
//  - reads are bounded in bytes, and line readers in line length.
// Each refusal is counted by reason (counters.h). New readers of target files must come here.
#ifndef STALLSCOPE_AGENT_TARGET_FILES_TARGET_FILES_H_
#define STALLSCOPE_AGENT_TARGET_FILES_TARGET_FILES_H_

#include <sys/types.h>

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "target_files/counters.h"
#include "target_files/scoped_fd.h"

namespace stallscope::target_files {

// Size caps by kind of file (bytes, from fstat on the open fd).
inline constexpr uint64_t kMaxElfBytes = 4ull << 30;       // binaries, shared objects, debug files
inline constexpr uint64_t kMaxPerfMapBytes = 64ull << 20;  // a JIT's /tmp/perf-PID.map
inline constexpr uint64_t kMaxScriptBytes = 16ull << 20;   // a main script read for discovery
inline constexpr uint64_t kMaxStateFileBytes = 4ull << 20; // container runtime state files
// Read caps for /proc/PID/* (their size is not known before reading).
inline constexpr size_t kMaxProcSmallBytes = 64 << 10;  // status, stat, comm, cgroup, fdinfo
inline constexpr size_t kMaxProcMapsBytes = 16 << 20;   // maps: 65530 mappings at most
inline constexpr size_t kMaxProcTableBytes = 64 << 20;  // net/tcp of a busy host, streamed

struct Rules {
  uint64_t max_bytes = kMaxElfBytes;
  // Set for perf maps: refused unless the file's owner is this uid (perf's rule).
  std::optional<uid_t> owner;
  // Debug files under .build-id/ are often symlinks; resolution still never leaves the root.
  bool follow_symlinks_in_root = false;
};

struct Opened {
  ScopedFd fd;                     // valid only when the file passed every rule
  std::optional<Refusal> refusal;  // set when a rule refused it (and it was counted)
  int error = 0;                   // errno when it could not be opened at all (ENOENT, ...)
  bool ok() const { return fd.valid(); }
};

// Opens `path` (absolute, or relative to "/") as the process whose root directory is `root`
// (e.g. /proc/PID/root) sees it. An empty `root` means the host's own files (e.g. the host's
// debug directory): the same rules apply except the root.
Opened OpenInRoot(const std::string& root, const std::string& path, const Rules& rules);

// Opens `relative` beneath the directory `dir` (e.g. /proc/PID/cwd, the target's working
// directory): never above it (no "..", no absolute symlink out: refused as kSymlink).
Opened OpenBeneath(const std::string& dir, const std::string& relative, const Rules& rules);

// Opens the object mapped at [start, end) in `pid` through <proc_root>/PID/map_files/, which
// names the mapped inode itself (deleted files included), so the name cannot be redirected.
Opened OpenMappedObject(const std::string& proc_root, pid_t pid, uint64_t start, uint64_t end,
                        const Rules& rules);

// Opens a file of /proc/PID/ (or of a test's fake proc root): O_NONBLOCK | O_NOFOLLOW, regular
// files only.
Opened OpenProcFile(const std::string& path);

// Up to `max_bytes` of a /proc file; a longer one is cut (counted as read_truncated). nullopt
// when it cannot be opened or read.
std::optional<std::string> ReadProcFile(const std::string& path, size_t max_bytes = kMaxProcSmallBytes);

// Up to `max_bytes` from an fd opened by the door (pread from offset 0).
std::optional<std::string> ReadOpened(int fd, size_t max_bytes);

// Whether the file behind a /proc/PID/fd/N link is a regular file, asked without reaching a
// FUSE daemon (the link is followed without a lookup; statx AT_STATX_DONT_SYNC answers from
// fuse's cache). nullopt when it cannot be stat'ed.
std::optional<bool> IsRegularBehindLink(const std::string& link_path);

// The text of a /proc symlink (exe, cwd, fd/N), at most PATH_MAX bytes. nullopt on error.
std::optional<std::string> ReadProcLink(const std::string& path);

// The inode of a socket fd's link text: "socket:[123]" -> 123. nullopt for any other shape:
// another prefix, missing brackets, anything but decimal digits inside them (no sign, no
// blanks), or a number past uint64_t.
std::optional<uint64_t> SocketInodeOfLink(std::string_view link);

// The socket inode that the fd link `name` of the directory `fd_dir` (an open /proc/PID/fd)
// names. The link is read with readlinkat, which never follows it, into a small buffer: a text
// too long for "socket:[<20 digits>]" is no socket link. `name` must be one path component.
// nullopt when the link is missing, is no socket, or is malformed.
std::optional<uint64_t> SocketInodeOfFdLink(int fd_dir, std::string_view name);

struct SocketFd {
  int fd;
  uint64_t inode;
};
// The socket fds of the fd directory `fd_dir_path` (/proc/PID/fd), in directory order, looking
// at no more than `max_entries` entries (a target may hold a million fds). Empty when the
// directory cannot be opened.
std::vector<SocketFd> ListSocketFds(const std::string& fd_dir_path, size_t max_entries);

// Lines of an fd, streamed in fixed chunks: at most `max_total_bytes` are read (then it stops,
// counted as read_truncated), and lines longer than `max_line_bytes` are skipped whole (counted
// as long_lines), so a file of any size or shape costs bounded memory.
class LineReader {
 public:
  LineReader(int fd, size_t max_total_bytes, size_t max_line_bytes = 4096);
  // The next line without its '\n' (valid until the next call); false at the end.
  bool Next(std::string_view* line);
  bool truncated() const { return truncated_; }

 private:
  bool Fill();

  int fd_;
  size_t max_total_bytes_;
  size_t max_line_bytes_;
  std::string buffer_;
  size_t begin_ = 0;      // unread data starts here
  uint64_t read_total_ = 0;
  bool eof_ = false;
  bool truncated_ = false;
  bool skipping_ = false;  // inside a line over the cap, dropping up to its '\n'
};

// The effective uid from the text of /proc/PID/status ("Uid:\treal\teffective\tsaved\tfs").
std::optional<uid_t> EffectiveUidFromStatus(std::string_view status);
// The innermost namespace PID from the text of /proc/PID/status (last field of "NSpid:").
std::optional<pid_t> InnermostPidFromStatus(std::string_view status);

}  // namespace stallscope::target_files

#endif  // STALLSCOPE_AGENT_TARGET_FILES_TARGET_FILES_H_
