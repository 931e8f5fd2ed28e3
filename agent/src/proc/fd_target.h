// Names what a file descriptor of another process is, for reports: "tcp 10.0.0.1:41870 ->
// 10.0.0.5:5432", "tcp listen 0.0.0.0:8000", "udp ...", "unix /run/app.sock", "unix (unnamed)",
// "pipe", a file path, "eventpoll", ... Reads /proc/PID/fd, /proc/PID/net/{tcp,tcp6,udp,udp6,unix}
// through /proc so containers (other mount and network namespaces) work.
#ifndef STALLSCOPE_AGENT_PROC_FD_TARGET_H_
#define STALLSCOPE_AGENT_PROC_FD_TARGET_H_

#include <sys/types.h>

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "stallscope_abi.h"

namespace stallscope {

// What kind of thing an fd refers to, as far as loop classification cares.
enum class FdKind {
  kUnknown,          // fd closed or unreadable
  kTcpListener,      // TCP socket in LISTEN
  kTcpConnection,    // TCP socket in any other state (client connection, inbound or outbound)
  kUdp,
  kUnixListener,     // unix socket accepting connections
  kUnixNamedConnection,  // connected unix stream socket bound to or accepted from a path
  kUnixUnnamed,      // socketpair() and other unnamed unix sockets (asyncio/uWSGI wake-up pipes)
  kOtherSocket,      // netlink, packet, ...
  kPipe,
  kEventFd,          // eventfd, signalfd, timerfd, inotify, ...
  kEpoll,
  kRegularFile,
  kOther,            // character devices, ...
};

// "kTcpConnection", ... for logs and test failures.
std::string_view FdKindName(FdKind kind);

struct FdInfo {
  FdKind kind = FdKind::kUnknown;
  std::string target;  // human-readable, as in SyscallStat.target; "" when unknown
};

// Formats an address captured by the kernel ("tcp 127.0.0.1:41870 -> 127.0.0.1:5432",
// "tcp6 [::1]:8000 -> [::1]:51000"); returns "" when sock.family is neither AF_INET nor AF_INET6.
std::string FormatSockAddr(const ss_sock_addr& sock);

// The name of fd `fd` for a report about a call made on it earlier, given what the kernel saw
// at the call (file_kind, enum ss_file_kind) and what the fd is now: `now`'s target while it is
// the same kind of file; "fd N (closed)" once closed, "fd N (closed; number reused)" when it now
// is another kind of file, never the later file's name. (A number reused by a file of the same
// kind is not told apart.)
std::string NameAtCall(int fd, uint32_t file_kind, const FdInfo& now);

// Resolves fd `fd` of process `pid` now. `proc_root` is "/proc" except in tests.
FdInfo ResolveFd(pid_t pid, int fd, const std::string& proc_root = "/proc");

// Resolves several fds of one process at once, parsing each /proc/PID/net table at most once.
std::vector<FdInfo> ResolveFds(pid_t pid, const std::vector<int>& fds,
                               const std::string& proc_root = "/proc");

// The target fds of an epoll instance, from /proc/PID/fdinfo/EPFD ("tfd: N ..." lines).
// nullopt when the fd is not an epoll fd or cannot be read.
std::optional<std::vector<int>> ReadEpollTargets(pid_t pid, int epfd,
                                                 const std::string& proc_root = "/proc");

}  // namespace stallscope

#endif  // STALLSCOPE_AGENT_PROC_FD_TARGET_H_
