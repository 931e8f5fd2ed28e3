#include "proc/fd_target.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <cstring>
#include <string_view>

#include "absl/strings/str_cat.h"
#include "proc/proc_net_tables.h"
#include "proc/text_fields.h"
#include "target_files/target_files.h"
#include "target_files/target_strings.h"

namespace stallscope {
namespace {

constexpr uint8_t kTcpStateListen = 10;

bool IsAllZero(const uint8_t* bytes, size_t n) {
  for (size_t i = 0; i < n; ++i) {
    if (bytes[i] != 0) return false;
  }
  return true;
}

// ::ffff:a.b.c.d
bool IsV4Mapped(const uint8_t* addr) {
  return IsAllZero(addr, 10) && addr[10] == 0xff && addr[11] == 0xff;
}

// "1.2.3.4:80" or "[::1]:80".
std::string FormatEndpoint(int family, const uint8_t* addr, uint16_t port) {
  char text[INET6_ADDRSTRLEN] = {};
  if (inet_ntop(family, addr, text, sizeof(text)) == nullptr) return "?";
  if (family == AF_INET6) return absl::StrCat("[", text, "]:", port);
  return absl::StrCat(text, ":", port);
}

std::optional<std::string> ReadLink(const std::string& path) {
  return target_files::ReadProcLink(path);
}

// "socket:[123]" with prefix "socket:" -> "123"; nullopt when `link` has another shape.
std::optional<std::string_view> BracketedAfter(std::string_view link, std::string_view prefix) {
  if (!link.starts_with(prefix)) return std::nullopt;
  link.remove_prefix(prefix.size());
  if (link.size() < 2 || link.front() != '[' || link.back() != ']') return std::nullopt;
  return link.substr(1, link.size() - 2);
}

// Names an anon_inode file ("anon_inode:[eventfd]", "anon_inode:inotify").
FdInfo AnonInodeFdInfo(std::string_view name) {
  if (name.size() >= 2 && name.front() == '[' && name.back() == ']') {
    name = name.substr(1, name.size() - 2);
  }
  if (name == "eventpoll") return FdInfo{FdKind::kEpoll, "eventpoll"};
  if (name == "eventfd" || name == "signalfd" || name == "timerfd" || name == "inotify") {
    return FdInfo{FdKind::kEventFd, std::string(name)};
  }
  return FdInfo{FdKind::kOther, SanitizeTargetString(name)};
}

// An inet socket of a live process named from a duplicate of its fd (pidfd_getfd, Linux 5.6,
// needs ptrace rights over the target): a few syscalls, where finding the inode in
// /proc/PID/net/tcp makes the kernel walk its whole connection hash table on every read (tens
// of ms of CPU on a host with a large table). The duplicate is closed at once; the target's fd
// is untouched. nullopt: not inet, or no pidfd_getfd; the caller falls back to the /proc tables
// (only the unix one when *domain says AF_UNIX).
std::optional<FdInfo> InetFdInfoFromDuplicate(pid_t pid, int fd, int* domain) {
#if defined(SYS_pidfd_open) && defined(SYS_pidfd_getfd)
  int pidfd = static_cast<int>(syscall(SYS_pidfd_open, pid, 0));
  if (pidfd < 0) return std::nullopt;
  int dup = static_cast<int>(syscall(SYS_pidfd_getfd, pidfd, fd, 0));
  close(pidfd);
  if (dup < 0) return std::nullopt;
  auto int_option = [dup](int name, int* value) {
    socklen_t len = sizeof(*value);
    return getsockopt(dup, SOL_SOCKET, name, value, &len) == 0;
  };
  std::optional<FdInfo> info;
  int type = 0, listening = 0;
  sockaddr_storage local{}, peer{};
  socklen_t local_len = sizeof(local), peer_len = sizeof(peer);
  if (int_option(SO_DOMAIN, domain) && (*domain == AF_INET || *domain == AF_INET6) &&
      int_option(SO_TYPE, &type) && (type == SOCK_STREAM || type == SOCK_DGRAM) &&
      getsockname(dup, reinterpret_cast<sockaddr*>(&local), &local_len) == 0) {
    ss_sock_addr addr{};
    addr.family = static_cast<__u16>(*domain);
    addr.protocol = type == SOCK_DGRAM ? IPPROTO_UDP : IPPROTO_TCP;
    bool connected = getpeername(dup, reinterpret_cast<sockaddr*>(&peer), &peer_len) == 0;
    if (type == SOCK_STREAM && int_option(SO_ACCEPTCONN, &listening) && listening) {
      addr.state = kTcpStateListen;
    } else {
      addr.state = connected ? 1 /* TCP_ESTABLISHED */ : 7 /* TCP_CLOSE */;
    }
    auto copy = [&](const sockaddr_storage& ss, uint8_t* out, __u16* port) {
      if (ss.ss_family == AF_INET) {
        const auto* in = reinterpret_cast<const sockaddr_in*>(&ss);
        std::memcpy(out, &in->sin_addr, 4);
        *port = ntohs(in->sin_port);
      } else if (ss.ss_family == AF_INET6) {
        const auto* in6 = reinterpret_cast<const sockaddr_in6*>(&ss);
        std::memcpy(out, &in6->sin6_addr, 16);
        *port = ntohs(in6->sin6_port);
      }
    };
    copy(local, addr.saddr, &addr.sport);
    if (connected) copy(peer, addr.daddr, &addr.dport);
    FdKind kind = FdKind::kUdp;
    if (type == SOCK_STREAM) {
      kind = addr.state == kTcpStateListen ? FdKind::kTcpListener : FdKind::kTcpConnection;
    }
    info = FdInfo{kind, FormatSockAddr(addr)};
  }
  close(dup);
  return info;
#else
  (void)pid;
  (void)fd;
  (void)domain;
  return std::nullopt;
#endif
}

FdInfo ResolveOne(const std::string& pid_dir, pid_t pid, bool live, int fd,
                  ProcNetTables& tables) {
  if (fd < 0) return {};
  std::string link_path = absl::StrCat(pid_dir, "/fd/", fd);
  std::optional<std::string> link = ReadLink(link_path);
  if (!link) return {};

  if (BracketedAfter(*link, "socket:")) {
    int domain = AF_UNSPEC;
    if (live) {
      if (std::optional<FdInfo> info = InetFdInfoFromDuplicate(pid, fd, &domain)) return *info;
    }
    if (std::optional<uint64_t> inode = target_files::SocketInodeOfLink(*link)) {
      int family = domain == AF_UNIX ? AF_UNIX : AF_UNSPEC;
      if (std::optional<FdInfo> info = tables.Find(*inode, family)) return *info;
    }
    return FdInfo{FdKind::kOtherSocket, "socket"};
  }
  if (BracketedAfter(*link, "pipe:")) return FdInfo{FdKind::kPipe, "pipe"};
  constexpr std::string_view kAnonInode = "anon_inode:";
  if (link->starts_with(kAnonInode)) {
    return AnonInodeFdInfo(std::string_view(*link).substr(kAnonInode.size()));
  }
  if (link->starts_with('/')) {
    // Through the fd link rather than the path it names: the path may be deleted or live in
    // another mount namespace (or on a FUSE mount whose daemon never answers).
    bool regular = target_files::IsRegularBehindLink(link_path).value_or(false);
    // A path the target named (any bytes but NUL): safe text.
    return FdInfo{regular ? FdKind::kRegularFile : FdKind::kOther, SanitizeTargetString(*link)};
  }
  return FdInfo{FdKind::kOther, SanitizeTargetString(*link)};  // e.g. "net:[4026531840]"
}

}  // namespace

std::string_view FdKindName(FdKind kind) {
  switch (kind) {
    case FdKind::kUnknown:
      return "kUnknown";
    case FdKind::kTcpListener:
      return "kTcpListener";
    case FdKind::kTcpConnection:
      return "kTcpConnection";
    case FdKind::kUdp:
      return "kUdp";
    case FdKind::kUnixListener:
      return "kUnixListener";
    case FdKind::kUnixNamedConnection:
      return "kUnixNamedConnection";
    case FdKind::kUnixUnnamed:
      return "kUnixUnnamed";
    case FdKind::kOtherSocket:
      return "kOtherSocket";
    case FdKind::kPipe:
      return "kPipe";
    case FdKind::kEventFd:
      return "kEventFd";
    case FdKind::kEpoll:
      return "kEpoll";
    case FdKind::kRegularFile:
      return "kRegularFile";
    case FdKind::kOther:
      return "kOther";
  }
  return "?";
}

std::string FormatSockAddr(const ss_sock_addr& sock) {
  if (sock.family != AF_INET && sock.family != AF_INET6) return "";
  const bool udp = sock.protocol == IPPROTO_UDP;
  const bool listen = !udp && sock.state == kTcpStateListen;
  const size_t addr_len = sock.family == AF_INET ? 4 : 16;
  // An unconnected UDP socket has no peer: print only its local address.
  const bool has_peer = !listen && !(udp && sock.dport == 0 && IsAllZero(sock.daddr, addr_len));

  int family = sock.family;
  const uint8_t* saddr = sock.saddr;
  const uint8_t* daddr = sock.daddr;
  // A dual-stack IPv6 socket talking IPv4 holds ::ffff:a.b.c.d; show what is on the wire.
  if (family == AF_INET6 && IsV4Mapped(saddr) && (!has_peer || IsV4Mapped(daddr))) {
    family = AF_INET;
    saddr += 12;
    daddr += 12;
  }

  std::string out =
      absl::StrCat(udp ? "udp" : "tcp", family == AF_INET6 ? "6" : "", listen ? " listen " : " ",
                   FormatEndpoint(family, saddr, sock.sport));
  if (has_peer) absl::StrAppend(&out, " -> ", FormatEndpoint(family, daddr, sock.dport));
  return out;
}

FdInfo ResolveFd(pid_t pid, int fd, const std::string& proc_root) {
  return ResolveFds(pid, {fd}, proc_root).front();
}

std::vector<FdInfo> ResolveFds(pid_t pid, const std::vector<int>& fds,
                               const std::string& proc_root) {
  std::string pid_dir = absl::StrCat(proc_root, "/", pid);
  ProcNetTables tables(pid_dir + "/net");
  std::vector<FdInfo> result;
  result.reserve(fds.size());
  // Duplicating fds works on this host's processes only: not under a fake or foreign /proc.
  const bool live = proc_root == "/proc";
  for (int fd : fds) result.push_back(ResolveOne(pid_dir, pid, live, fd, tables));
  return result;
}

std::optional<std::vector<int>> ReadEpollTargets(pid_t pid, int epfd,
                                                 const std::string& proc_root) {
  if (epfd < 0) return std::nullopt;
  std::string pid_dir = absl::StrCat(proc_root, "/", pid);
  // An epoll fd's fdinfo has a line per watched fd: bounded like any table a target controls.
  target_files::Opened fdinfo = target_files::OpenProcFile(absl::StrCat(pid_dir, "/fdinfo/", epfd));
  if (!fdinfo.ok()) return std::nullopt;

  std::vector<int> targets;
  target_files::LineReader lines(fdinfo.fd.get(), target_files::kMaxProcTableBytes);
  std::string_view line;
  while (lines.Next(&line)) {
    // "tfd:        5 events:       19 data:                5  pos:0 ino:3d sdev:8"
    std::vector<std::string_view> fields = SplitFields(line);
    int tfd;
    if (fields.size() >= 2 && fields[0] == "tfd:" && ParseNumber(fields[1], 10, &tfd) && tfd >= 0) {
      targets.push_back(tfd);
    }
  }
  // An empty interest list looks like the fdinfo of any other file; only the link tells.
  if (targets.empty() &&
      ReadLink(absl::StrCat(pid_dir, "/fd/", epfd)) != "anon_inode:[eventpoll]") {
    return std::nullopt;
  }
  return targets;
}

namespace {

uint32_t FileKindOf(FdKind kind) {
  switch (kind) {
    case FdKind::kUnknown: return SS_FILE_UNKNOWN;
    case FdKind::kTcpListener:
    case FdKind::kTcpConnection:
    case FdKind::kUdp:
    case FdKind::kUnixListener:
    case FdKind::kUnixNamedConnection:
    case FdKind::kUnixUnnamed:
    case FdKind::kOtherSocket: return SS_FILE_SOCKET;
    case FdKind::kPipe: return SS_FILE_PIPE;
    case FdKind::kRegularFile: return SS_FILE_REGULAR;
    default: return SS_FILE_OTHER;
  }
}

}  // namespace

std::string NameAtCall(int fd, uint32_t file_kind, const FdInfo& now) {
  if (file_kind == SS_FILE_UNKNOWN) return now.target;  // the kernel could not tell: as it is now
  if (now.kind == FdKind::kUnknown) return absl::StrCat("fd ", fd, " (closed)");
  if (FileKindOf(now.kind) != file_kind) return absl::StrCat("fd ", fd, " (closed; number reused)");
  return now.target;
}

}  // namespace stallscope
