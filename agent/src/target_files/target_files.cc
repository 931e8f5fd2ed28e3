#include "target_files/target_files.h"

#include <dirent.h>
#include <fcntl.h>
#include <limits.h>
#include <linux/openat2.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/sysmacros.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdio>

#include "absl/strings/str_format.h"
#include "proc/text_fields.h"
#include "target_files/fuse_mounts.h"

namespace stallscope::target_files {
namespace {

constexpr size_t kChunkBytes = 64 << 10;

Opened Refused(Refusal reason) {
  CountRefusal(reason);
  Opened out;
  out.refusal = reason;
  return out;
}

Opened Failed(int error) {
  Opened out;
  out.error = error;
  return out;
}

// The O_PATH fd of `path` in `root` (or on the host when `root` is empty). O_PATH opens
// nothing: no FIFO wait, no device side effect. With O_NOFOLLOW it yields the symlink itself.
int OpenPath(const std::string& root, const std::string& path, bool follow) {
  int flags = O_PATH | O_CLOEXEC | (follow ? 0 : O_NOFOLLOW);
  if (root.empty()) return open(path.c_str(), flags);
  ScopedFd root_fd(open(root.c_str(), O_PATH | O_DIRECTORY | O_CLOEXEC));
  if (!root_fd.valid()) return -1;
  open_how how = {};
  how.flags = static_cast<uint64_t>(flags);
  how.resolve = RESOLVE_IN_ROOT | RESOLVE_NO_MAGICLINKS;
  return static_cast<int>(syscall(SYS_openat2, root_fd.get(), path.c_str(), &how, sizeof(how)));
}

constexpr int kMaxSymlinkHops = 40;  // the kernel's own limit

bool IsSymlinkNoSync(int fd) {
  struct statx st;
  return statx(fd, "", AT_EMPTY_PATH | AT_STATX_DONT_SYNC, STATX_TYPE, &st) == 0 &&
         S_ISLNK(st.stx_mode);
}

// The O_PATH fd of `path` in the root `root_fd`, following no symlink at all (a final one is
// returned as itself).
int OpenNoSymlinks(int root_fd, const std::string& path) {
  open_how how = {};
  how.flags = O_PATH | O_CLOEXEC | O_NOFOLLOW;
  how.resolve = RESOLVE_IN_ROOT | RESOLVE_NO_SYMLINKS;
  return static_cast<int>(syscall(SYS_openat2, root_fd, path.c_str(), &how, sizeof(how)));
}

// `path` with its first symlink replaced by the link's text (an absolute text from the root, a
// relative one from the link's directory, as the kernel follows it). Each prefix is opened
// with no symlink on the way, so lookups happen only in directories of the checked path.
// nullopt when there is no readable symlink.
std::optional<std::string> ExpandFirstSymlink(int root_fd, const std::string& path) {
  size_t start = 0;
  while (start < path.size()) {
    while (start < path.size() && path[start] == '/') ++start;
    if (start >= path.size()) break;
    size_t end = std::min(path.find('/', start), path.size());
    ScopedFd fd(OpenNoSymlinks(root_fd, path.substr(0, end)));
    if (!fd.valid()) return std::nullopt;
    if (IsSymlinkNoSync(fd.get())) {
      char text[PATH_MAX];
      ssize_t n = readlinkat(fd.get(), "", text, sizeof(text));
      if (n <= 0 || static_cast<size_t>(n) >= sizeof(text)) return std::nullopt;
      std::string target(text, static_cast<size_t>(n));
      std::string rest = path.substr(end);
      if (target[0] == '/') return target + rest;
      return path.substr(0, start) + target + rest;
    }
    start = end;
  }
  return std::nullopt;
}

// OpenPath for a target with FUSE mounts in its view: the symlinks on the way are followed
// here, one at a time, so that where each leads is checked before any lookup in it (the kernel
// would follow them unchecked into the mount). Sets *on_fuse when a name leads into one.
int OpenPathAvoidingFuse(const std::string& root, std::string path, bool follow,
                         const std::string& proc_dir, bool* on_fuse) {
  ScopedFd root_fd(open(root.c_str(), O_PATH | O_DIRECTORY | O_CLOEXEC));
  if (!root_fd.valid()) return -1;
  for (int hops = 0; hops <= kMaxSymlinkHops; ++hops) {
    if (TargetFuseMounts().PathOnFuse(proc_dir, path)) {
      *on_fuse = true;
      return -1;
    }
    int fd = OpenNoSymlinks(root_fd.get(), path);
    if (fd < 0 && errno != ELOOP) return -1;
    // A final symlink comes back as itself: judged as one unless symlinks may be followed.
    if (fd >= 0 && (!follow || !IsSymlinkNoSync(fd))) return fd;
    if (fd >= 0) close(fd);
    std::optional<std::string> next = ExpandFirstSymlink(root_fd.get(), path);
    if (!next) break;
    path = std::move(*next);
  }
  errno = ELOOP;
  return -1;
}

// The target's /proc/PID from a path the callers pass for it ("/proc/PID/root" with leaf
// "root"): where its mountinfo is. Empty for anything else (the host's own files).
std::string ProcDirOf(const std::string& path, std::string_view leaf) {
  std::string suffix = "/" + std::string(leaf);
  if (path.size() <= suffix.size() || !path.ends_with(suffix)) return "";
  return path.substr(0, path.size() - suffix.size());
}

// Type, size, owner and mount of an O_PATH fd without asking a FUSE daemon: AT_STATX_DONT_SYNC
// makes fuse answer from its attribute cache, and the mount id is the VFS's own (fstat would
// send FUSE_GETATTR once the cached attributes expire, and wait for the answer for ever).
bool StatNoSync(int fd, struct statx* st) {
  return statx(fd, "", AT_EMPTY_PATH | AT_STATX_DONT_SYNC,
               STATX_TYPE | STATX_MODE | STATX_UID | STATX_SIZE | STATX_INO | STATX_MNT_ID, st) == 0;
}

// Whether the fd lies on a FUSE mount of the target (none known when `proc_dir` is empty, or
// when the kernel does not give mount ids: statx before 5.8).
bool OnTargetFuse(const struct statx& st, const std::string& proc_dir) {
  if (proc_dir.empty() || !(st.stx_mask & STATX_MNT_ID)) return false;
  return TargetFuseMounts().IsFuseMount(proc_dir, st.stx_mnt_id, st.stx_dev_major, st.stx_dev_minor);
}

// Checks the file's type, size and owner against the rules; the refusal, if any.
std::optional<Refusal> Judge(mode_t mode, uint64_t size, uid_t uid, const Rules& rules) {
  if (S_ISLNK(mode)) return Refusal::kSymlink;
  if (!S_ISREG(mode)) return Refusal::kNotRegular;
  if (size > rules.max_bytes) return Refusal::kTooLarge;
  if (rules.owner && uid != *rules.owner) return Refusal::kWrongOwner;
  return std::nullopt;
}

// Opens for reading exactly the inode behind `path_fd`, after the rules passed on it. Nothing
// before the FUSE check can reach a FUSE daemon (O_PATH opens and statx DONT_SYNC do not).
Opened OpenChecked(ScopedFd path_fd, const Rules& rules, const std::string& proc_dir) {
  struct statx before;
  if (!StatNoSync(path_fd.get(), &before)) return Failed(errno);
  if (OnTargetFuse(before, proc_dir)) return Refused(Refusal::kOnFuse);
  if (std::optional<Refusal> refusal = Judge(before.stx_mode, before.stx_size, before.stx_uid, rules))
    return Refused(*refusal);
  // Reopening through /proc/self/fd opens the inode already checked, whatever the name now
  // points to (the target may swap it in between).
  char reopen[64];
  snprintf(reopen, sizeof(reopen), "/proc/self/fd/%d", path_fd.get());
  ScopedFd fd(open(reopen, O_RDONLY | O_NONBLOCK | O_CLOEXEC | O_NOCTTY));
  if (!fd.valid()) return Failed(errno);
  struct stat after;
  if (fstat(fd.get(), &after) != 0) return Failed(errno);
  if (makedev(before.stx_dev_major, before.stx_dev_minor) != after.st_dev ||
      after.st_ino != before.stx_ino)
    return Refused(Refusal::kNotRegular);
  if (std::optional<Refusal> refusal =
          Judge(after.st_mode, static_cast<uint64_t>(after.st_size), after.st_uid, rules))
    return Refused(*refusal);
  Opened out;
  out.fd = std::move(fd);
  return out;
}

}  // namespace

Opened OpenInRoot(const std::string& root, const std::string& path, const Rules& rules) {
  if (path.empty()) return Failed(ENOENT);
  std::string absolute = path[0] == '/' ? path : "/" + path;
  // Refused before any lookup: resolving a name inside a FUSE mount asks its daemon.
  std::string proc_dir = ProcDirOf(root, "root");
  bool on_fuse = false;
  ScopedFd path_fd(!proc_dir.empty() && TargetFuseMounts().HasFuseMountPoints(proc_dir)
                       ? OpenPathAvoidingFuse(root, absolute, rules.follow_symlinks_in_root,
                                              proc_dir, &on_fuse)
                       : OpenPath(root, absolute, rules.follow_symlinks_in_root));
  if (on_fuse) return Refused(Refusal::kOnFuse);
  if (!path_fd.valid()) {
    int error = errno;
    // ELOOP: a magic link on the way (RESOLVE_NO_MAGICLINKS) or a symlink loop.
    if (error == ELOOP) return Refused(Refusal::kSymlink);
    // Without openat2 the name would be resolved against the host's root: refuse instead.
    if (!root.empty() && (error == ENOSYS || error == EPERM)) return Refused(Refusal::kNoOpenat2);
    return Failed(error);
  }
  return OpenChecked(std::move(path_fd), rules, proc_dir);
}

Opened OpenBeneath(const std::string& dir, const std::string& relative, const Rules& rules) {
  if (relative.empty() || relative[0] == '/') return Failed(ENOENT);
  ScopedFd dir_fd(open(dir.c_str(), O_PATH | O_DIRECTORY | O_CLOEXEC));
  if (!dir_fd.valid()) return Failed(errno);
  // A working directory on FUSE: any name looked up in it would ask the daemon.
  std::string proc_dir = ProcDirOf(dir, "cwd");
  struct statx dir_st;
  if (!StatNoSync(dir_fd.get(), &dir_st)) return Failed(errno);
  if (OnTargetFuse(dir_st, proc_dir)) return Refused(Refusal::kOnFuse);
  open_how how = {};
  how.flags = O_PATH | O_CLOEXEC | (rules.follow_symlinks_in_root ? 0 : O_NOFOLLOW);
  how.resolve = RESOLVE_BENEATH | RESOLVE_NO_MAGICLINKS;
  ScopedFd path_fd(static_cast<int>(syscall(SYS_openat2, dir_fd.get(), relative.c_str(), &how, sizeof(how))));
  if (!path_fd.valid()) {
    int error = errno;
    // EXDEV: ".." or an absolute symlink would leave the directory.
    if (error == ELOOP || error == EXDEV) return Refused(Refusal::kSymlink);
    if (error == ENOSYS || error == EPERM) return Refused(Refusal::kNoOpenat2);
    return Failed(error);
  }
  return OpenChecked(std::move(path_fd), rules, proc_dir);
}

Opened OpenMappedObject(const std::string& proc_root, pid_t pid, uint64_t start, uint64_t end,
                        const Rules& rules) {
  char path[128];
  snprintf(path, sizeof(path), "/%d/map_files/%llx-%llx", static_cast<int>(pid),
           static_cast<unsigned long long>(start), static_cast<unsigned long long>(end));
  // map_files entries are the kernel's links to the mapped inode (following them needs
  // CAP_SYS_ADMIN), not names the target chose: they are followed, then judged like any file.
  // Following one jumps to the mapped inode without a lookup in its filesystem, and O_PATH
  // opens nothing: no FUSE request before OpenChecked's check.
  ScopedFd path_fd(open((proc_root + path).c_str(), O_PATH | O_CLOEXEC));
  if (!path_fd.valid()) return Failed(errno);
  return OpenChecked(std::move(path_fd), rules, absl::StrFormat("%s/%d", proc_root, pid));
}

Opened OpenProcFile(const std::string& path) {
  ScopedFd fd(open(path.c_str(), O_RDONLY | O_NONBLOCK | O_NOFOLLOW | O_CLOEXEC | O_NOCTTY));
  if (!fd.valid()) return errno == ELOOP ? Refused(Refusal::kSymlink) : Failed(errno);
  struct stat st;
  if (fstat(fd.get(), &st) != 0) return Failed(errno);
  if (!S_ISREG(st.st_mode)) return Refused(Refusal::kNotRegular);
  Opened out;
  out.fd = std::move(fd);
  return out;
}

std::optional<std::string> ReadProcFile(const std::string& path, size_t max_bytes) {
  Opened opened = OpenProcFile(path);
  if (!opened.ok()) return std::nullopt;
  // /proc files report size 0 and are read sequentially, so read() rather than pread.
  std::string contents;
  char buf[16384];
  while (true) {
    size_t want = std::min(sizeof(buf), max_bytes - contents.size() + 1);
    ssize_t n = read(opened.fd.get(), buf, want);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) return std::nullopt;
    if (n == 0) break;
    contents.append(buf, static_cast<size_t>(n));
    if (contents.size() > max_bytes) {
      contents.resize(max_bytes);
      CountShed(Shed::kReadTruncated);
      break;
    }
  }
  return contents;
}

std::optional<std::string> ReadOpened(int fd, size_t max_bytes) {
  std::string contents;
  char buf[16384];
  while (contents.size() < max_bytes) {
    size_t want = std::min(sizeof(buf), max_bytes - contents.size());
    ssize_t n = pread(fd, buf, want, static_cast<off_t>(contents.size()));
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) return std::nullopt;
    if (n == 0) return contents;
    contents.append(buf, static_cast<size_t>(n));
  }
  char extra;
  if (pread(fd, &extra, 1, static_cast<off_t>(contents.size())) == 1) CountShed(Shed::kReadTruncated);
  return contents;
}

std::optional<bool> IsRegularBehindLink(const std::string& link_path) {
  struct statx st;
  if (statx(AT_FDCWD, link_path.c_str(), AT_STATX_DONT_SYNC, STATX_TYPE, &st) != 0) return std::nullopt;
  return S_ISREG(st.stx_mode);
}

std::optional<std::string> ReadProcLink(const std::string& path) {
  char buf[PATH_MAX];
  ssize_t n = readlink(path.c_str(), buf, sizeof(buf));
  if (n < 0) return std::nullopt;
  if (static_cast<size_t>(n) == sizeof(buf)) CountShed(Shed::kReadTruncated);
  return std::string(buf, static_cast<size_t>(n));
}

std::optional<uint64_t> SocketInodeOfLink(std::string_view link) {
  constexpr std::string_view kPrefix = "socket:[";
  if (!link.starts_with(kPrefix) || !link.ends_with(']')) return std::nullopt;
  std::string_view digits = link.substr(kPrefix.size(), link.size() - kPrefix.size() - 1);
  uint64_t inode;
  // from_chars in base 10 takes digits only (no sign for unsigned, no blanks) and reports
  // overflow; ParseNumber also requires that it consumed all of them.
  if (!ParseNumber(digits, 10, &inode)) return std::nullopt;
  return inode;
}

std::optional<uint64_t> SocketInodeOfFdLink(int fd_dir, std::string_view name) {
  if (name.empty() || name == "." || name == ".." || name.find('/') != std::string_view::npos ||
      name.find('\0') != std::string_view::npos)
    return std::nullopt;
  // "socket:[" + 20 digits (UINT64_MAX) + "]" is 29 bytes; a read that fills the buffer may
  // have been cut, so it is refused rather than parsed.
  char buf[32];
  ssize_t n = readlinkat(fd_dir, std::string(name).c_str(), buf, sizeof(buf));
  if (n <= 0 || static_cast<size_t>(n) >= sizeof(buf)) return std::nullopt;
  return SocketInodeOfLink(std::string_view(buf, static_cast<size_t>(n)));
}

std::vector<SocketFd> ListSocketFds(const std::string& fd_dir_path, size_t max_entries) {
  std::vector<SocketFd> out;
  int dir_fd = open(fd_dir_path.c_str(), O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
  if (dir_fd < 0) return out;
  DIR* dir = fdopendir(dir_fd);  // owns dir_fd from here
  if (dir == nullptr) {
    close(dir_fd);
    return out;
  }
  size_t looked = 0;
  while (dirent* entry = readdir(dir)) {
    if (entry->d_name[0] == '.') continue;
    if (++looked > max_entries) {
      CountShed(Shed::kReadTruncated);
      break;
    }
    int fd;
    if (!ParseNumber(std::string_view(entry->d_name), 10, &fd) || fd < 0) continue;
    if (std::optional<uint64_t> inode = SocketInodeOfFdLink(dirfd(dir), entry->d_name))
      out.push_back(SocketFd{fd, *inode});
  }
  closedir(dir);
  return out;
}

LineReader::LineReader(int fd, size_t max_total_bytes, size_t max_line_bytes)
    : fd_(fd), max_total_bytes_(max_total_bytes), max_line_bytes_(max_line_bytes) {}

bool LineReader::Fill() {
  if (eof_) return false;
  if (read_total_ >= max_total_bytes_) {
    eof_ = true;
    truncated_ = true;
    CountShed(Shed::kReadTruncated);
    return false;
  }
  buffer_.erase(0, begin_);
  begin_ = 0;
  size_t old = buffer_.size();
  size_t want = std::min<uint64_t>(kChunkBytes, max_total_bytes_ - read_total_);
  buffer_.resize(old + want);
  ssize_t n;
  do {
    n = read(fd_, buffer_.data() + old, want);
  } while (n < 0 && errno == EINTR);
  buffer_.resize(old + static_cast<size_t>(std::max<ssize_t>(n, 0)));
  if (n <= 0) {
    eof_ = true;
    return false;
  }
  read_total_ += static_cast<uint64_t>(n);
  return true;
}

bool LineReader::Next(std::string_view* line) {
  while (true) {
    size_t eol = buffer_.find('\n', begin_);
    if (eol != std::string::npos) {
      size_t start = begin_;
      begin_ = eol + 1;
      if (skipping_) {
        skipping_ = false;
        continue;
      }
      if (eol - start > max_line_bytes_) {
        CountShed(Shed::kLongLines);
        continue;
      }
      *line = std::string_view(buffer_).substr(start, eol - start);
      return true;
    }
    if (buffer_.size() - begin_ > max_line_bytes_) {
      // Drop what is buffered of an overlong line; keep dropping up to its end.
      if (!skipping_) CountShed(Shed::kLongLines);
      skipping_ = true;
      begin_ = buffer_.size();
    }
    if (!Fill()) {
      if (skipping_ || begin_ >= buffer_.size()) return false;
      // The last line, without a trailing newline.
      if (buffer_.size() - begin_ > max_line_bytes_) {
        CountShed(Shed::kLongLines);
        return false;
      }
      *line = std::string_view(buffer_).substr(begin_);
      begin_ = buffer_.size();
      return true;
    }
  }
}

namespace {

// The whitespace-separated fields after "KEY:" on its line of a status text.
std::vector<std::string_view> StatusFields(std::string_view status, std::string_view key) {
  size_t at = 0;
  while (at < status.size()) {
    size_t eol = status.find('\n', at);
    std::string_view line = status.substr(at, eol == std::string_view::npos ? eol : eol - at);
    if (line.starts_with(key) && line.size() > key.size() && line[key.size()] == ':') {
      return SplitFields(line.substr(key.size() + 1));
    }
    if (eol == std::string_view::npos) break;
    at = eol + 1;
  }
  return {};
}

}  // namespace

std::optional<uid_t> EffectiveUidFromStatus(std::string_view status) {
  std::vector<std::string_view> fields = StatusFields(status, "Uid");
  uid_t uid;
  if (fields.size() < 2 || !ParseNumber(fields[1], 10, &uid)) return std::nullopt;
  return uid;
}

std::optional<pid_t> InnermostPidFromStatus(std::string_view status) {
  std::vector<std::string_view> fields = StatusFields(status, "NSpid");
  pid_t pid;
  if (fields.empty() || !ParseNumber(fields.back(), 10, &pid) || pid <= 0) return std::nullopt;
  return pid;
}

}  // namespace stallscope::target_files
