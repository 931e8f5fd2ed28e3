#include "bpf/syscall_table.h"

#include <initializer_list>
#include <string_view>
#include <unordered_map>
#include <utility>

namespace stallscope {
namespace {

struct SyscallEntry {
  int nr;
  const char* name;
};

constexpr SyscallEntry kSyscalls[] = {
#include "syscall_names.inc"
};

// Syscalls whose first argument is a file descriptor worth naming in a report.
constexpr std::string_view kFdSyscalls[] = {
    "read",       "write",     "pread64",   "pwrite64",  "readv",         "writev",
    "preadv",     "pwritev",   "preadv2",   "pwritev2",  "recvfrom",      "sendto",
    "recvmsg",    "sendmsg",   "recvmmsg",  "sendmmsg",  "connect",       "accept",
    "accept4",    "shutdown",  "fsync",     "fdatasync", "sync_file_range", "flock",
    "fcntl",      "ioctl",     "sendfile",  "splice",    "getdents64",    "fstat",
    "newfstatat", "lseek",     "ftruncate", "fallocate", "close",         "copy_file_range",
    "io_uring_enter", "fstatfs", "syncfs", "flistxattr", "fgetxattr",
};
constexpr std::string_view kEpollWaits[] = {"epoll_wait", "epoll_pwait", "epoll_pwait2"};
constexpr std::string_view kPollWaits[] = {"poll", "ppoll"};
constexpr std::string_view kSelectWaits[] = {"select", "pselect6"};

const std::unordered_map<int, std::string>& NamesByNumber() {
  static const auto* table = [] {
    auto* m = new std::unordered_map<int, std::string>();
    for (const auto& e : kSyscalls) m->emplace(e.nr, e.name);
    return m;
  }();
  return *table;
}

}  // namespace

std::string SyscallName(int nr) {
  const auto& names = NamesByNumber();
  if (auto it = names.find(nr); it != names.end()) return it->second;
  return "syscall_" + std::to_string(nr);
}

int SyscallNumber(const std::string& name) {
  for (const auto& e : kSyscalls) {
    if (name == e.name) return e.nr;
  }
  return -1;
}

std::array<uint8_t, SS_SYSCALL_TABLE_SIZE> BuildSyscallClassTable() {
  std::array<uint8_t, SS_SYSCALL_TABLE_SIZE> table{};
  auto mark = [&table](auto&& names, ss_syscall_class cls) {
    for (std::string_view name : names) {
      int nr = SyscallNumber(std::string(name));
      if (nr >= 0 && nr < SS_SYSCALL_TABLE_SIZE) table[nr] = static_cast<uint8_t>(cls);
    }
  };
  mark(kFdSyscalls, SS_SC_FD);
  mark(kEpollWaits, SS_SC_EPOLL_WAIT);
  mark(kPollWaits, SS_SC_POLL);
  mark(kSelectWaits, SS_SC_SELECT);
  mark(std::initializer_list<std::string_view>{"epoll_ctl"}, SS_SC_EPOLL_CTL);
  return table;
}

}  // namespace stallscope
