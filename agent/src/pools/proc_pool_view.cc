#include "pools/proc_pool_view.h"

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/uio.h>
#include <unistd.h>

#include <algorithm>
#include <fstream>
#include <tuple>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_split.h"
#include "proc/fd_target.h"
#include "proc/proc_stat.h"
#include "proc/process_tree.h"
#include "target_files/target_files.h"

namespace stallscope {
namespace {

constexpr absl::string_view kTcpListen = "0A";

// Socket fds of /proc/PID/fd, by inode. The cap is past any pool worker's fd count: the
// listeners may sit at any fd number.
absl::flat_hash_map<uint64_t, int> SocketFds(pid_t pid) {
  constexpr size_t kMaxFds = 1 << 16;
  absl::flat_hash_map<uint64_t, int> out;
  for (const target_files::SocketFd& s : target_files::ListSocketFds(absl::StrCat("/proc/", pid, "/fd"), kMaxFds))
    out[s.inode] = s.fd;
  return out;
}

// The first 8 bytes at `addr` in the process, 0 when unreadable.
uint64_t ReadWord(pid_t pid, uint64_t addr) {
  uint64_t word = 0;
  if (!addr) return 0;
  iovec local{&word, sizeof(word)}, remote{reinterpret_cast<void*>(addr), sizeof(word)};
  if (process_vm_readv(pid, &local, 1, &remote, 1, 0) != sizeof(word)) return 0;
  return word;
}

std::string FormatListenAddress(absl::string_view hex, bool ipv6) {
  if (!ipv6 && hex.size() == 8) {
    uint32_t a = 0;
    if (!absl::SimpleHexAtoi(hex, &a)) return "";
    return absl::StrFormat("%u.%u.%u.%u", a & 0xff, (a >> 8) & 0xff, (a >> 16) & 0xff, a >> 24);
  }
  return hex == "00000000000000000000000000000000" ? "[::]" : "[ipv6]";
}

// Listening TCP sockets of a live process from duplicates of its socket fds (pidfd_getfd,
// Linux 5.6, ptrace rights): /proc/PID/net/tcp would make the kernel walk its whole connection
// hash table on every read (15-25 ms of CPU here), for every process, every second. What each
// socket inode is gets cached, so a rescan only duplicates sockets it has not seen.
// nullopt: pidfd_getfd is not available (the caller reads the /proc tables instead).
class ListenerCache {
 public:
  std::optional<std::vector<ListenerFd>> Listeners(pid_t pid,
                                                   const absl::flat_hash_map<uint64_t, int>& sockets) {
#if defined(SYS_pidfd_open) && defined(SYS_pidfd_getfd)
    if (known_.size() > kMaxEntries) known_.clear();  // exited processes' entries, now and then
    int pidfd = static_cast<int>(syscall(SYS_pidfd_open, pid, 0));
    if (pidfd < 0) return std::nullopt;
    std::vector<ListenerFd> out;
    bool failed = false;
    for (const auto& [inode, fd] : sockets) {
      auto [it, fresh] = known_.try_emplace(std::make_pair(pid, inode));
      if (fresh) {
        int dup = static_cast<int>(syscall(SYS_pidfd_getfd, pidfd, fd, 0));
        if (dup < 0) {
          known_.erase(it);
          failed = errno == EPERM || errno == ENOSYS;
          if (failed) break;
          continue;  // closed meanwhile
        }
        it->second = Describe(dup, inode);
        close(dup);
      }
      if (it->second) {
        ListenerFd l = *it->second;
        l.fd = fd;
        out.push_back(std::move(l));
      }
    }
    close(pidfd);
    if (failed) return std::nullopt;
    return out;
#else
    (void)pid;
    (void)sockets;
    return std::nullopt;
#endif
  }

 private:
  static constexpr size_t kMaxEntries = 200'000;

  static std::optional<ListenerFd> Describe(int sock, uint64_t inode) {
    int listening = 0, domain = 0, type = 0;
    socklen_t len = sizeof(int);
    if (getsockopt(sock, SOL_SOCKET, SO_ACCEPTCONN, &listening, &len) != 0 || !listening) return std::nullopt;
    len = sizeof(int);
    if (getsockopt(sock, SOL_SOCKET, SO_DOMAIN, &domain, &len) != 0) return std::nullopt;
    len = sizeof(int);
    if (getsockopt(sock, SOL_SOCKET, SO_TYPE, &type, &len) != 0 || type != SOCK_STREAM) return std::nullopt;
    sockaddr_storage ss{};
    socklen_t ss_len = sizeof(ss);
    if (getsockname(sock, reinterpret_cast<sockaddr*>(&ss), &ss_len) != 0) return std::nullopt;
    ListenerFd l;
    l.inode = inode;
    char text[INET6_ADDRSTRLEN] = "";
    if (domain == AF_INET) {
      const auto* in = reinterpret_cast<const sockaddr_in*>(&ss);
      inet_ntop(AF_INET, &in->sin_addr, text, sizeof(text));
      l.port = ntohs(in->sin_port);
      l.address = absl::StrCat(text, ":", l.port);
    } else if (domain == AF_INET6) {
      const auto* in6 = reinterpret_cast<const sockaddr_in6*>(&ss);
      inet_ntop(AF_INET6, &in6->sin6_addr, text, sizeof(text));
      l.port = ntohs(in6->sin6_port);
      l.address = absl::StrCat("[", text, "]:", l.port);
    } else {
      return std::nullopt;  // unix listeners are not pools' listeners here
    }
    return l;
  }

  absl::flat_hash_map<std::pair<pid_t, uint64_t>, std::optional<ListenerFd>> known_;
};

// The listening TCP sockets among `sockets`, from /proc/PID/net/tcp{,6} (the slow way).
std::vector<ListenerFd> ListenersFromProcTables(pid_t pid, const absl::flat_hash_map<uint64_t, int>& sockets) {
  std::vector<ListenerFd> out;
  for (bool ipv6 : {false, true}) {
    target_files::Opened table =
        target_files::OpenProcFile(absl::StrCat("/proc/", pid, "/net/", ipv6 ? "tcp6" : "tcp"));
    if (!table.ok()) continue;
    target_files::LineReader lines(table.fd.get(), target_files::kMaxProcTableBytes);
    std::string_view line;
    while (lines.Next(&line)) {
      std::optional<ListenerFd> l = ParseListenLine(absl::string_view(line.data(), line.size()), ipv6);
      if (!l) continue;
      auto fd = sockets.find(l->inode);
      if (fd == sockets.end()) continue;
      l->fd = fd->second;
      out.push_back(*l);
    }
  }
  return out;
}

}  // namespace

std::optional<ListenerFd> ParseListenLine(absl::string_view line, bool ipv6) {
  std::vector<absl::string_view> f = absl::StrSplit(line, ' ', absl::SkipEmpty());
  // sl local rem st tx:rx tr:when retrnsmt uid timeout inode
  if (f.size() < 10 || f[3] != kTcpListen) return std::nullopt;
  std::pair<absl::string_view, absl::string_view> local = absl::StrSplit(f[1], ':');
  ListenerFd l;
  uint32_t port = 0;
  if (!absl::SimpleHexAtoi(local.second, &port) || !absl::SimpleAtoi(f[9], &l.inode))
    return std::nullopt;
  l.port = static_cast<uint16_t>(port);
  l.address = absl::StrCat(FormatListenAddress(local.first, ipv6), ":", port);
  return l;
}

std::optional<ProcessView> ReadProcessView(pid_t pid, const WaitSyscalls& nr) {
  std::optional<ProcessStat> stat = ReadProcessStat(pid);
  if (!stat) return std::nullopt;
  ProcessView view;
  view.pid = pid;
  view.ppid = stat->ppid;
  std::string exe_path = target_files::ReadProcLink(absl::StrCat("/proc/", pid, "/exe")).value_or("");
  view.is_uwsgi = absl::EndsWith(exe_path, "/uwsgi") || absl::StrContains(exe_path, "/uwsgi-");

  absl::flat_hash_map<uint64_t, int> sockets = SocketFds(pid);
  static ListenerCache listener_cache;  // discovery runs on the agent's one thread
  if (std::optional<std::vector<ListenerFd>> found = listener_cache.Listeners(pid, sockets)) {
    view.listeners = std::move(*found);
  } else {
    view.listeners = ListenersFromProcTables(pid, sockets);
  }
  std::sort(view.listeners.begin(), view.listeners.end(),
            [](const ListenerFd& a, const ListenerFd& b) { return std::tie(a.port, a.fd) < std::tie(b.port, b.fd); });
  for (pid_t tid : ListThreads(pid)) {
    std::optional<CurrentSyscall> sc = ReadCurrentSyscall(pid, tid);
    if (!sc) continue;
    ThreadView t;
    t.tid = tid;
    t.syscall = *sc;
    if (sc->in_syscall) {
      if (sc->nr == nr.select || sc->nr == nr.pselect6) t.wait_word = ReadWord(pid, sc->args[1]);
      if (sc->nr == nr.poll || sc->nr == nr.ppoll) t.wait_word = ReadWord(pid, sc->args[0]);
      if ((sc->nr == nr.epoll_wait || sc->nr == nr.epoll_pwait || sc->nr == nr.epoll_pwait2) &&
          !view.listeners.empty()) {
        int epfd = static_cast<int>(sc->args[0]);
        if (!view.epoll_targets.contains(epfd))
          if (auto targets = ReadEpollTargets(pid, epfd)) view.epoll_targets[epfd] = *targets;
      }
    }
    view.threads.push_back(t);
  }
  return view;
}

}  // namespace stallscope
