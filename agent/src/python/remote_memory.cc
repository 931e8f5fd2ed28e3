#include "python/remote_memory.h"

#include <sys/uio.h>

#include <algorithm>
#include <cerrno>
#include <climits>
#include <cstring>
#include <vector>

#include "absl/strings/str_format.h"

namespace stallscope {
namespace {

// The kernel takes at most IOV_MAX vectors per call.
constexpr size_t kMaxIovecs = IOV_MAX;

absl::Status ErrnoStatus(int error, pid_t pid, uint64_t address) {
  switch (error) {
    case ESRCH:
      return absl::NotFoundError(absl::StrFormat("process %d is gone", pid));
    case EPERM:
    case EACCES:
      return absl::PermissionDeniedError(
          absl::StrFormat("process_vm_readv on pid %d refused (needs ptrace permission: root or "
                          "CAP_SYS_PTRACE, and Yama ptrace_scope < 3)",
                          pid));
    case EFAULT:
      return absl::DataLossError(absl::StrFormat("pid %d: unreadable address 0x%x", pid, address));
    default:
      return absl::InternalError(
          absl::StrFormat("process_vm_readv(pid %d): %s", pid, strerror(error)));
  }
}

}  // namespace

absl::Status ProcessMemory::ReadMany(std::span<const RemoteRead> reads) {
  std::vector<iovec> local;
  std::vector<iovec> remote;
  for (size_t begin = 0; begin < reads.size(); begin += kMaxIovecs) {
    size_t end = std::min(reads.size(), begin + kMaxIovecs);
    local.clear();
    remote.clear();
    size_t expected = 0;
    for (size_t i = begin; i < end; ++i) {
      const RemoteRead& read = reads[i];
      if (read.size == 0) continue;
      if (read.address == 0) return ErrnoStatus(EFAULT, pid_, 0);
      local.push_back({.iov_base = read.buffer, .iov_len = read.size});
      remote.push_back({.iov_base = reinterpret_cast<void*>(read.address), .iov_len = read.size});
      expected += read.size;
    }
    if (local.empty()) continue;
    ++read_calls_;
    ssize_t n = process_vm_readv(pid_, local.data(), local.size(), remote.data(), remote.size(), 0);
    if (n < 0) return ErrnoStatus(errno, pid_, reads[begin].address);
    // A short count means some range was (partly) unmapped; which one does not matter to callers.
    if (static_cast<size_t>(n) != expected) {
      size_t done = static_cast<size_t>(n);
      uint64_t failed_at = 0;
      for (const iovec& v : remote) {
        if (done < v.iov_len) {
          failed_at = reinterpret_cast<uint64_t>(v.iov_base) + done;
          break;
        }
        done -= v.iov_len;
      }
      return ErrnoStatus(EFAULT, pid_, failed_at);
    }
  }
  return absl::OkStatus();
}

}  // namespace stallscope
