// File access for the symbolizer: an owning fd, and opening a target's files inside its root
// directory (/proc/PID/root) without ever opening anything but a regular file.
#ifndef STALLSCOPE_AGENT_SYMBOLIZE_FILE_ACCESS_H_
#define STALLSCOPE_AGENT_SYMBOLIZE_FILE_ACCESS_H_

#include <cstdint>
#include <optional>
#include <string>

namespace stallscope::symbolize {

class ScopedFd {
 public:
  ScopedFd() = default;
  explicit ScopedFd(int fd) : fd_(fd) {}
  ~ScopedFd() { Reset(); }
  ScopedFd(ScopedFd&& other) noexcept : fd_(other.Release()) {}
  ScopedFd& operator=(ScopedFd&& other) noexcept {
    if (this != &other) {
      Reset();
      fd_ = other.Release();
    }
    return *this;
  }
  ScopedFd(const ScopedFd&) = delete;
  ScopedFd& operator=(const ScopedFd&) = delete;

  int get() const { return fd_; }
  bool valid() const { return fd_ >= 0; }
  int Release() {
    int fd = fd_;
    fd_ = -1;
    return fd;
  }
  void Reset();

 private:
  int fd_ = -1;
};

// Identity of an opened file, for cache keys.
struct FileIdentity {
  uint64_t dev = 0;
  uint64_t ino = 0;
  uint64_t size = 0;
  int64_t mtime_ns = 0;
};

// Opens `path` (absolute) read-only. With a non-empty `root`, the path is resolved as if
// `root` were "/" (symlinks included), so a container's absolute symlinks stay inside the
// container. Returns an invalid fd unless the result is a regular file: the target controls
// its paths, and opening a device or FIFO could block or have side effects.
ScopedFd OpenRegularFile(const std::string& root, const std::string& path);

std::optional<FileIdentity> IdentifyFile(int fd);

// Whole contents of a (small, e.g. /proc) file; nullopt when it cannot be read.
std::optional<std::string> ReadSmallFile(const std::string& path);

}  // namespace stallscope::symbolize

#endif  // STALLSCOPE_AGENT_SYMBOLIZE_FILE_ACCESS_H_
