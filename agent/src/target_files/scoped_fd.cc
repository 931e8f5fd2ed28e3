#include "target_files/scoped_fd.h"

#include <sys/stat.h>
#include <unistd.h>

namespace stallscope::target_files {

void ScopedFd::Reset() {
  if (fd_ >= 0) close(fd_);
  fd_ = -1;
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

}  // namespace stallscope::target_files
