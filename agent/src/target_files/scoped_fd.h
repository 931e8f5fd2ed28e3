// An owning file descriptor, and the identity of an opened file (for cache keys).
#ifndef STALLSCOPE_AGENT_TARGET_FILES_SCOPED_FD_H_
#define STALLSCOPE_AGENT_TARGET_FILES_SCOPED_FD_H_

#include <cstdint>
#include <optional>

namespace stallscope::target_files {

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

struct FileIdentity {
  uint64_t dev = 0;
  uint64_t ino = 0;
  uint64_t size = 0;
  int64_t mtime_ns = 0;
};

std::optional<FileIdentity> IdentifyFile(int fd);

}  // namespace stallscope::target_files

#endif  // STALLSCOPE_AGENT_TARGET_FILES_SCOPED_FD_H_
