#include "symbolize/file_access.h"

#include <fcntl.h>
#include <linux/openat2.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>

namespace stallscope::symbolize {
namespace {

// /proc/PID/maps of a huge process is a few MiB; anything far beyond that is not a proc file.
constexpr size_t kMaxSmallFileBytes = 64 << 20;

int OpenPathInRoot(const std::string& root, const std::string& path) {
  if (root.empty()) return open(path.c_str(), O_PATH | O_CLOEXEC);
  ScopedFd root_fd(open(root.c_str(), O_PATH | O_DIRECTORY | O_CLOEXEC));
  if (!root_fd.valid()) return -1;
  open_how how = {};
  how.flags = O_PATH | O_CLOEXEC;
  how.resolve = RESOLVE_IN_ROOT | RESOLVE_NO_MAGICLINKS;
  int fd = static_cast<int>(syscall(SYS_openat2, root_fd.get(), path.c_str(), &how, sizeof(how)));
  // Kernels before 5.6 (or seccomp filters) lack openat2: plain lookup, absolute symlinks then
  // resolve against our own root, which is the best available.
  if (fd < 0 && (errno == ENOSYS || errno == EPERM)) {
    fd = open((root + path).c_str(), O_PATH | O_CLOEXEC);
  }
  return fd;
}

bool IsRegular(int fd) {
  struct stat st;
  return fstat(fd, &st) == 0 && S_ISREG(st.st_mode);
}

}  // namespace

void ScopedFd::Reset() {
  if (fd_ >= 0) close(fd_);
  fd_ = -1;
}

ScopedFd OpenRegularFile(const std::string& root, const std::string& path) {
  if (path.empty() || path[0] != '/') return ScopedFd();
  // O_PATH opens nothing, so checking the type before the real open has no side effects;
  // reopening through /proc/self/fd then opens exactly the inode that was checked.
  ScopedFd path_fd(OpenPathInRoot(root, path));
  if (!path_fd.valid() || !IsRegular(path_fd.get())) return ScopedFd();
  char reopen_path[64];
  snprintf(reopen_path, sizeof(reopen_path), "/proc/self/fd/%d", path_fd.get());
  ScopedFd fd(open(reopen_path, O_RDONLY | O_CLOEXEC | O_NOCTTY));
  if (!fd.valid() || !IsRegular(fd.get())) return ScopedFd();
  return fd;
}

std::optional<FileIdentity> IdentifyFile(int fd) {
  struct stat st;
  if (fstat(fd, &st) != 0) return std::nullopt;
  FileIdentity id;
  id.dev = st.st_dev;
  id.ino = st.st_ino;
  id.size = static_cast<uint64_t>(st.st_size);
  id.mtime_ns = static_cast<int64_t>(st.st_mtim.tv_sec) * 1'000'000'000 + st.st_mtim.tv_nsec;
  return id;
}

std::optional<std::string> ReadSmallFile(const std::string& path) {
  ScopedFd fd(open(path.c_str(), O_RDONLY | O_CLOEXEC));
  if (!fd.valid()) return std::nullopt;
  std::string contents;
  char buf[16384];
  while (contents.size() < kMaxSmallFileBytes) {
    ssize_t n = read(fd.get(), buf, sizeof(buf));
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) return std::nullopt;
    if (n == 0) break;
    contents.append(buf, static_cast<size_t>(n));
  }
  return contents;
}

}  // namespace stallscope::symbolize
