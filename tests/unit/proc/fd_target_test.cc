#include "proc/fd_target.h"

#include <arpa/inet.h>
#include <fcntl.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/inotify.h>
#include <sys/socket.h>
#include <sys/timerfd.h>
#include <sys/un.h>
#include <unistd.h>

#include <algorithm>
#include <bit>
#include <cerrno>
#include <cstring>
#include <filesystem>
#include <string>
#include <utility>
#include <vector>

#include "absl/strings/str_cat.h"
#include "proc/proc_net_tables.h"

namespace stallscope {
namespace {

namespace fs = std::filesystem;

testing::AssertionResult Is(const FdInfo& got, FdKind kind, std::string_view target) {
  if (got.kind == kind && got.target == target) return testing::AssertionSuccess();
  return testing::AssertionFailure()
         << "got {" << FdKindName(got.kind) << ", \"" << got.target << "\"}, want {"
         << FdKindName(kind) << ", \"" << target << "\"}";
}

// Closes the fds a test opened, so a failing assertion does not leak them into later tests.
class FdCloser {
 public:
  ~FdCloser() {
    for (int fd : fds_) close(fd);
  }
  int Add(int fd) {
    if (fd >= 0) fds_.push_back(fd);
    return fd;
  }

 private:
  std::vector<int> fds_;
};

class TempDir {
 public:
  TempDir() {
    std::string tmpl = (fs::temp_directory_path() / "fd_target_test.XXXXXX").string();
    if (mkdtemp(tmpl.data()) != nullptr) path_ = tmpl;
  }
  ~TempDir() {
    std::error_code ec;
    if (!path_.empty()) fs::remove_all(path_, ec);
  }
  const fs::path& path() const { return path_; }

 private:
  fs::path path_;
};

uint16_t LocalPort(int fd) {
  sockaddr_storage addr = {};
  socklen_t len = sizeof(addr);
  if (getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len) != 0) return 0;
  if (addr.ss_family == AF_INET6) return ntohs(reinterpret_cast<sockaddr_in6*>(&addr)->sin6_port);
  return ntohs(reinterpret_cast<sockaddr_in*>(&addr)->sin_port);
}

sockaddr_in Loopback4(uint16_t port) {
  sockaddr_in addr = {};
  addr.sin_family = AF_INET;
  addr.sin_port = htons(port);
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  return addr;
}

// ---------------------------------------------------------------------------------------------
// FormatSockAddr

ss_sock_addr MakeAddr(int family, int protocol, uint8_t state, const char* saddr, uint16_t sport,
                      const char* daddr, uint16_t dport) {
  ss_sock_addr sock = {};
  sock.family = static_cast<__u16>(family);
  sock.protocol = static_cast<__u8>(protocol);
  sock.state = state;
  sock.sport = sport;
  sock.dport = dport;
  EXPECT_EQ(inet_pton(family, saddr, sock.saddr), 1) << saddr;
  EXPECT_EQ(inet_pton(family, daddr, sock.daddr), 1) << daddr;
  return sock;
}

constexpr uint8_t kEstablished = 1;
constexpr uint8_t kListen = 10;
constexpr uint8_t kClose = 7;

TEST(FormatSockAddr, Ipv4Connection) {
  EXPECT_EQ(FormatSockAddr(MakeAddr(AF_INET, IPPROTO_TCP, kEstablished, "127.0.0.1", 41870,
                                    "127.0.0.1", 5432)),
            "tcp 127.0.0.1:41870 -> 127.0.0.1:5432");
  EXPECT_EQ(FormatSockAddr(MakeAddr(AF_INET, IPPROTO_TCP, kEstablished, "10.0.0.1", 1,
                                    "192.168.200.17", 65535)),
            "tcp 10.0.0.1:1 -> 192.168.200.17:65535");
}

TEST(FormatSockAddr, Ipv6Connection) {
  EXPECT_EQ(
      FormatSockAddr(MakeAddr(AF_INET6, IPPROTO_TCP, kEstablished, "::1", 8000, "::1", 51000)),
      "tcp6 [::1]:8000 -> [::1]:51000");
  EXPECT_EQ(FormatSockAddr(MakeAddr(AF_INET6, IPPROTO_TCP, kEstablished, "2001:db8::1", 443,
                                    "fe80::1:2", 51000)),
            "tcp6 [2001:db8::1]:443 -> [fe80::1:2]:51000");
}

TEST(FormatSockAddr, V4MappedIpv6IsShownAsIpv4) {
  EXPECT_EQ(FormatSockAddr(MakeAddr(AF_INET6, IPPROTO_TCP, kEstablished, "::ffff:127.0.0.1", 8000,
                                    "::ffff:10.1.2.3", 40000)),
            "tcp 127.0.0.1:8000 -> 10.1.2.3:40000");
  EXPECT_EQ(
      FormatSockAddr(MakeAddr(AF_INET6, IPPROTO_TCP, kListen, "::ffff:0.0.0.0", 8000, "::", 0)),
      "tcp listen 0.0.0.0:8000");
}

TEST(FormatSockAddr, Listener) {
  EXPECT_EQ(FormatSockAddr(MakeAddr(AF_INET, IPPROTO_TCP, kListen, "0.0.0.0", 8000, "0.0.0.0", 0)),
            "tcp listen 0.0.0.0:8000");
  EXPECT_EQ(FormatSockAddr(MakeAddr(AF_INET6, IPPROTO_TCP, kListen, "::", 8000, "::", 0)),
            "tcp6 listen [::]:8000");
}

TEST(FormatSockAddr, Udp) {
  EXPECT_EQ(FormatSockAddr(
                MakeAddr(AF_INET, IPPROTO_UDP, kEstablished, "10.0.0.1", 5000, "10.0.0.2", 53)),
            "udp 10.0.0.1:5000 -> 10.0.0.2:53");
  // Unconnected: no peer to show. UDP never "listens", whatever the state byte says.
  EXPECT_EQ(FormatSockAddr(MakeAddr(AF_INET, IPPROTO_UDP, kClose, "0.0.0.0", 53, "0.0.0.0", 0)),
            "udp 0.0.0.0:53");
  EXPECT_EQ(FormatSockAddr(MakeAddr(AF_INET6, IPPROTO_UDP, kListen, "::1", 53, "::", 0)),
            "udp6 [::1]:53");
}

TEST(FormatSockAddr, UnknownFamilyIsEmpty) {
  ss_sock_addr sock = {};
  EXPECT_EQ(FormatSockAddr(sock), "");
  sock.family = AF_UNIX;
  sock.sport = 80;
  EXPECT_EQ(FormatSockAddr(sock), "");
}

// ---------------------------------------------------------------------------------------------
// Table line parsing

TEST(FdTargetTables, ParsesRecordedTcpLine) {
  if constexpr (std::endian::native != std::endian::little) {
    GTEST_SKIP() << "recorded on x86-64: the kernel prints address words in host byte order";
  }
  auto entry = ParseInetSocketLine(
      "   1: 1401A8C0:A38E 0500000A:1538 01 00000000:00000000 00:00000000 00000000  1000        "
      "0 2001 2 00000000d0455b4a 20 0 0 10 -1",
      AF_INET, IPPROTO_TCP);
  ASSERT_TRUE(entry.has_value());
  EXPECT_EQ(entry->inode, 2001u);
  EXPECT_EQ(entry->addr.state, 1);
  EXPECT_EQ(entry->addr.sport, 41870);
  EXPECT_EQ(entry->addr.dport, 5432);
  const uint8_t saddr[] = {192, 168, 1, 20};
  const uint8_t daddr[] = {10, 0, 0, 5};
  EXPECT_EQ(std::memcmp(entry->addr.saddr, saddr, 4), 0);
  EXPECT_EQ(std::memcmp(entry->addr.daddr, daddr, 4), 0);
  EXPECT_EQ(FormatSockAddr(entry->addr), "tcp 192.168.1.20:41870 -> 10.0.0.5:5432");
}

TEST(FdTargetTables, RejectsMalformedInetLines) {
  const char* lines[] = {
      "",
      "  sl  local_address rem_address   st tx_queue rx_queue tr tm->when retrnsmt   uid  "
      "timeout inode",
      "   4: 0100007F:1F40 0100007F:DC4",
      "   7: 100007F:1F40 0100007F:DC48 01 00000000:00000000 00:00000000 00000000 0 0 3003 1",
      "   8: 0100007F:1F40 0100007F:DC48 0A 00000000:00000000 00:00000000 00000000 0 0 -3 1",
      "   9: 0x00007F:1F40 0100007F:DC48 01 00000000:00000000 00:00000000 00000000 0 0 3005 1",
      "   9: 0100007F:11F40 0100007F:DC48 01 00000000:00000000 00:00000000 00000000 0 0 3005 1",
      "   9: 0100007F:1F40 0100007F:DC48 100 00000000:00000000 00:00000000 00000000 0 0 3005 1",
      "   9: 0100007F1F40 0100007F:DC48 01 00000000:00000000 00:00000000 00000000 0 0 3005 1",
      "garbage line with enough fields to pass a count check 1 2 3",
  };
  for (const char* line : lines) {
    EXPECT_FALSE(ParseInetSocketLine(line, AF_INET, IPPROTO_TCP).has_value()) << line;
  }
  // An IPv4 line in the IPv6 table (and the reverse) has the wrong address width.
  const char* v4 =
      "   0: 0100007F:1F40 00000000:0000 0A 00000000:00000000 00:00000000 00000000 "
      "    0        0 1161 1";
  EXPECT_TRUE(ParseInetSocketLine(v4, AF_INET, IPPROTO_TCP).has_value());
  EXPECT_FALSE(ParseInetSocketLine(v4, AF_INET6, IPPROTO_TCP).has_value());
  EXPECT_FALSE(ParseInetSocketLine(v4, AF_UNIX, IPPROTO_TCP).has_value());
}

TEST(FdTargetTables, ParsesUnixLines) {
  auto listener = ParseUnixSocketLine(
      "00000000e1ccf5c5: 00000002 00000000 00010000 0001 01 10171 /tmp/app.sock");
  ASSERT_TRUE(listener.has_value());
  EXPECT_EQ(listener->inode, 10171u);
  EXPECT_TRUE(listener->listening);
  EXPECT_EQ(listener->path, "/tmp/app.sock");

  auto unnamed = ParseUnixSocketLine("000000007a160bf8: 00000003 00000000 00000000 0001 03  1157");
  ASSERT_TRUE(unnamed.has_value());
  EXPECT_EQ(unnamed->inode, 1157u);
  EXPECT_FALSE(unnamed->listening);
  EXPECT_EQ(unnamed->path, "");

  auto spaced = ParseUnixSocketLine(
      "0000000011111111: 00000003 00000000 00000000 0001 03 5005 /tmp/my app.sock\n");
  ASSERT_TRUE(spaced.has_value());
  EXPECT_EQ(spaced->path, "/tmp/my app.sock");

  EXPECT_FALSE(ParseUnixSocketLine("Num       RefCount Protocol Flags    Type St Inode Path"));
  EXPECT_FALSE(ParseUnixSocketLine("0000000033333333: 00000003 00000000"));
  EXPECT_FALSE(ParseUnixSocketLine("0000000044444444: 00000003 00000000 zz000000 0001 03 5007 /x"));
  EXPECT_FALSE(ParseUnixSocketLine(""));
}

// ---------------------------------------------------------------------------------------------
// Recorded tables under a fake proc root

constexpr pid_t kFakePid = 4242;

// tmp/4242/{net,fdinfo} -> the recorded files; tmp/4242/fd/N -> the given link texts.
class FakeProcRoot {
 public:
  explicit FakeProcRoot(const std::vector<std::pair<int, std::string>>& fd_links) {
    fs::path pid_dir = dir_.path() / std::to_string(kFakePid);
    fs::path recorded = fs::path(TESTDATA_DIR) / "proc" / std::to_string(kFakePid);
    fs::create_directories(pid_dir / "fd");
    fs::create_directory_symlink(recorded / "net", pid_dir / "net");
    fs::create_directory_symlink(recorded / "fdinfo", pid_dir / "fdinfo");
    for (const auto& [fd, link] : fd_links) {
      fs::create_symlink(link, pid_dir / "fd" / std::to_string(fd));
    }
  }
  std::string root() const { return dir_.path().string(); }

 private:
  TempDir dir_;
};

TEST(FdTargetRecorded, ResolvesSocketsFromAllTables) {
  if constexpr (std::endian::native != std::endian::little) {
    GTEST_SKIP() << "recorded on x86-64: the kernel prints address words in host byte order";
  }
  struct Case {
    int fd;
    std::string link;
    FdKind kind;
    std::string target;
  };
  const std::vector<Case> cases = {
      {3, "socket:[1161]", FdKind::kTcpListener, "tcp listen 0.0.0.0:8000"},
      {4, "socket:[2001]", FdKind::kTcpConnection, "tcp 192.168.1.20:41870 -> 10.0.0.5:5432"},
      {5, "socket:[10163]", FdKind::kTcpListener, "tcp6 listen [::]:8001"},
      {6, "socket:[10167]", FdKind::kTcpConnection, "tcp 127.0.0.1:8001 -> 127.0.0.1:38468"},
      {7, "socket:[10165]", FdKind::kTcpConnection, "tcp6 [::1]:8001 -> [::1]:47570"},
      {8, "socket:[2002]", FdKind::kTcpConnection, "tcp6 [2001:db8::1]:443 -> [2001:db8::2]:51000"},
      {9, "socket:[10169]", FdKind::kUdp, "udp 192.0.2.2:35690 -> 10.1.2.3:53"},
      {10, "socket:[10168]", FdKind::kUdp, "udp 0.0.0.0:5353"},
      {11, "socket:[10170]", FdKind::kUdp, "udp6 [::1]:5354"},
      {12, "socket:[10171]", FdKind::kUnixListener, "unix listen /tmp/app.sock"},
      {13, "socket:[10173]", FdKind::kUnixNamedConnection, "unix /tmp/app.sock"},
      {14, "socket:[10172]", FdKind::kUnixUnnamed, "unix (unnamed)"},
      {15, "socket:[10174]", FdKind::kUnixListener, "unix listen @abstract-name"},
      {16, "socket:[5005]", FdKind::kUnixNamedConnection, "unix /tmp/my app.sock"},
      {17, "socket:[5006]", FdKind::kUnixNamedConnection, "unix /run/systemd/notify"},
      {18, "socket:[10175]", FdKind::kUnixUnnamed, "unix (unnamed)"},
      // On malformed lines only, or in no table at all.
      {21, "socket:[3003]", FdKind::kOtherSocket, "socket"},
      {22, "socket:[3005]", FdKind::kOtherSocket, "socket"},
      {23, "socket:[3006]", FdKind::kOtherSocket, "socket"},
      {24, "socket:[5007]", FdKind::kOtherSocket, "socket"},
      {25, "socket:[99999]", FdKind::kOtherSocket, "socket"},
      {26, "socket:[garbage]", FdKind::kOtherSocket, "socket"},
      {27, "socket:[0]", FdKind::kOtherSocket, "socket"},
      // Not sockets.
      {19, "pipe:[12345]", FdKind::kPipe, "pipe"},
      {20, "anon_inode:[eventpoll]", FdKind::kEpoll, "eventpoll"},
      {30, "anon_inode:[eventfd]", FdKind::kEventFd, "eventfd"},
      {31, "anon_inode:[eventpoll]", FdKind::kEpoll, "eventpoll"},
      {32, "anon_inode:[signalfd]", FdKind::kEventFd, "signalfd"},
      {33, "anon_inode:[timerfd]", FdKind::kEventFd, "timerfd"},
      {34, "anon_inode:inotify", FdKind::kEventFd, "inotify"},
      {35, "anon_inode:[io_uring]", FdKind::kOther, "io_uring"},
      {36, "net:[4026531840]", FdKind::kOther, "net:[4026531840]"},
      {37, "/nonexistent/dir/file.db (deleted)", FdKind::kOther,
       "/nonexistent/dir/file.db (deleted)"},
      {38, "socket:[", FdKind::kOther, "socket:["},
  };
  std::vector<std::pair<int, std::string>> links;
  std::vector<int> fds;
  for (const Case& c : cases) {
    links.emplace_back(c.fd, c.link);
    fds.push_back(c.fd);
  }
  FakeProcRoot proc(links);
  fds.push_back(99);  // no such fd
  fds.push_back(-1);

  std::vector<FdInfo> infos = ResolveFds(kFakePid, fds, proc.root());
  ASSERT_EQ(infos.size(), fds.size());
  for (size_t i = 0; i < cases.size(); ++i) {
    EXPECT_TRUE(Is(infos[i], cases[i].kind, cases[i].target)) << "fd " << cases[i].fd;
    // One at a time gives the same answers.
    EXPECT_TRUE(Is(ResolveFd(kFakePid, cases[i].fd, proc.root()), cases[i].kind, cases[i].target))
        << "fd " << cases[i].fd;
  }
  EXPECT_TRUE(Is(infos[cases.size()], FdKind::kUnknown, ""));
  EXPECT_TRUE(Is(infos[cases.size() + 1], FdKind::kUnknown, ""));
}

TEST(FdTargetRecorded, UnixOnlyLookupSkipsTheInetTables) {
  // The agent knows a socket is AF_UNIX from a duplicate of its fd; the inet tables (whose
  // every read walks the kernel's whole TCP hash) must then not be consulted.
  fs::path net = fs::path(TESTDATA_DIR) / "proc" / std::to_string(kFakePid) / "net";
  ProcNetTables tables(net.string());
  EXPECT_FALSE(tables.Find(1161, AF_UNIX).has_value());  // a TCP listener's inode
  std::optional<FdInfo> unix_listener = tables.Find(10171, AF_UNIX);
  ASSERT_TRUE(unix_listener.has_value());
  EXPECT_TRUE(Is(*unix_listener, FdKind::kUnixListener, "unix listen /tmp/app.sock"));
  // Without a family every table is read, the unix one already loaded.
  std::optional<FdInfo> tcp_listener = tables.Find(1161);
  ASSERT_TRUE(tcp_listener.has_value());
  EXPECT_TRUE(Is(*tcp_listener, FdKind::kTcpListener, "tcp listen 0.0.0.0:8000"));
}

TEST(FdTargetRecorded, MissingProcessOrTables) {
  FakeProcRoot proc({{3, "socket:[1161]"}});
  EXPECT_TRUE(Is(ResolveFd(kFakePid + 1, 3, proc.root()), FdKind::kUnknown, ""));
  EXPECT_TRUE(Is(ResolveFd(kFakePid, 3, "/nonexistent-proc"), FdKind::kUnknown, ""));
  EXPECT_TRUE(ResolveFds(kFakePid, {}, proc.root()).empty());

  // A process whose net tables cannot be read still gets its sockets called sockets.
  TempDir dir;
  fs::create_directories(dir.path() / "7" / "fd");
  fs::create_symlink("socket:[1161]", dir.path() / "7" / "fd" / "3");
  EXPECT_TRUE(Is(ResolveFd(7, 3, dir.path().string()), FdKind::kOtherSocket, "socket"));
}

TEST(FdTargetRecorded, ReadsEpollTargetsFromFdinfo) {
  FakeProcRoot proc(
      {{19, "pipe:[12345]"}, {20, "anon_inode:[eventpoll]"}, {31, "anon_inode:[eventpoll]"}});
  // fdinfo/20 also holds malformed "tfd:" lines, which are skipped.
  EXPECT_EQ(ReadEpollTargets(kFakePid, 20, proc.root()), (std::vector<int>{6, 4}));
  // An epoll fd with an empty interest list.
  EXPECT_EQ(ReadEpollTargets(kFakePid, 31, proc.root()), std::vector<int>{});
  // fdinfo of a pipe: no "tfd:" lines and not an epoll fd.
  EXPECT_EQ(ReadEpollTargets(kFakePid, 19, proc.root()), std::nullopt);
  EXPECT_EQ(ReadEpollTargets(kFakePid, 55, proc.root()), std::nullopt);
  EXPECT_EQ(ReadEpollTargets(kFakePid, -1, proc.root()), std::nullopt);
}

// ---------------------------------------------------------------------------------------------
// Real fds of this test process

TEST(FdTargetRealFds, TcpListenerAndBothEndsOfAConnection) {
  FdCloser fds;
  int listener = fds.Add(socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0));
  ASSERT_GE(listener, 0);
  sockaddr_in addr = Loopback4(0);
  ASSERT_EQ(bind(listener, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)), 0) << strerror(errno);
  ASSERT_EQ(listen(listener, 4), 0);
  const uint16_t port = LocalPort(listener);

  int client = fds.Add(socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0));
  addr = Loopback4(port);
  ASSERT_EQ(connect(client, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)), 0)
      << strerror(errno);
  int server = fds.Add(accept4(listener, nullptr, nullptr, SOCK_CLOEXEC));
  ASSERT_GE(server, 0);
  const uint16_t client_port = LocalPort(client);

  EXPECT_TRUE(Is(ResolveFd(getpid(), listener), FdKind::kTcpListener,
                 absl::StrCat("tcp listen 127.0.0.1:", port)));
  EXPECT_TRUE(Is(ResolveFd(getpid(), client), FdKind::kTcpConnection,
                 absl::StrCat("tcp 127.0.0.1:", client_port, " -> 127.0.0.1:", port)));
  EXPECT_TRUE(Is(ResolveFd(getpid(), server), FdKind::kTcpConnection,
                 absl::StrCat("tcp 127.0.0.1:", port, " -> 127.0.0.1:", client_port)));
}

TEST(FdTargetRealFds, Udp) {
  FdCloser fds;
  int bound = fds.Add(socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0));
  int connected = fds.Add(socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0));
  ASSERT_GE(bound, 0);
  ASSERT_GE(connected, 0);
  sockaddr_in addr = Loopback4(0);
  ASSERT_EQ(bind(bound, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)), 0);
  const uint16_t port = LocalPort(bound);
  addr = Loopback4(port);
  ASSERT_EQ(connect(connected, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)), 0);

  EXPECT_TRUE(Is(ResolveFd(getpid(), bound), FdKind::kUdp, absl::StrCat("udp 127.0.0.1:", port)));
  EXPECT_TRUE(Is(ResolveFd(getpid(), connected), FdKind::kUdp,
                 absl::StrCat("udp 127.0.0.1:", LocalPort(connected), " -> 127.0.0.1:", port)));
}

TEST(FdTargetRealFds, Ipv6LoopbackAndDualStack) {
  FdCloser fds;
  int listener = fds.Add(socket(AF_INET6, SOCK_STREAM | SOCK_CLOEXEC, 0));
  if (listener < 0) GTEST_SKIP() << "no IPv6 sockets here: " << strerror(errno);
  sockaddr_in6 addr = {};
  addr.sin6_family = AF_INET6;
  addr.sin6_addr = in6addr_loopback;
  if (bind(listener, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) != 0) {
    GTEST_SKIP() << "cannot bind [::1]: " << strerror(errno);
  }
  ASSERT_EQ(listen(listener, 4), 0);
  const uint16_t port = LocalPort(listener);
  int client = fds.Add(socket(AF_INET6, SOCK_STREAM | SOCK_CLOEXEC, 0));
  addr.sin6_port = htons(port);
  ASSERT_EQ(connect(client, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)), 0)
      << strerror(errno);
  int server = fds.Add(accept4(listener, nullptr, nullptr, SOCK_CLOEXEC));
  ASSERT_GE(server, 0);
  const uint16_t client_port = LocalPort(client);

  EXPECT_TRUE(Is(ResolveFd(getpid(), listener), FdKind::kTcpListener,
                 absl::StrCat("tcp6 listen [::1]:", port)));
  EXPECT_TRUE(Is(ResolveFd(getpid(), client), FdKind::kTcpConnection,
                 absl::StrCat("tcp6 [::1]:", client_port, " -> [::1]:", port)));
  EXPECT_TRUE(Is(ResolveFd(getpid(), server), FdKind::kTcpConnection,
                 absl::StrCat("tcp6 [::1]:", port, " -> [::1]:", client_port)));

  // A dual-stack listener on [::] accepting an IPv4 client holds ::ffff:127.0.0.1.
  int dual = fds.Add(socket(AF_INET6, SOCK_STREAM | SOCK_CLOEXEC, 0));
  int off = 0;
  ASSERT_EQ(setsockopt(dual, IPPROTO_IPV6, IPV6_V6ONLY, &off, sizeof(off)), 0);
  sockaddr_in6 any = {};
  any.sin6_family = AF_INET6;
  any.sin6_addr = in6addr_any;
  ASSERT_EQ(bind(dual, reinterpret_cast<sockaddr*>(&any), sizeof(any)), 0) << strerror(errno);
  ASSERT_EQ(listen(dual, 4), 0);
  const uint16_t dual_port = LocalPort(dual);
  int client4 = fds.Add(socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0));
  sockaddr_in addr4 = Loopback4(dual_port);
  ASSERT_EQ(connect(client4, reinterpret_cast<sockaddr*>(&addr4), sizeof(addr4)), 0)
      << strerror(errno);
  int server4 = fds.Add(accept4(dual, nullptr, nullptr, SOCK_CLOEXEC));
  ASSERT_GE(server4, 0);

  EXPECT_TRUE(Is(ResolveFd(getpid(), dual), FdKind::kTcpListener,
                 absl::StrCat("tcp6 listen [::]:", dual_port)));
  EXPECT_TRUE(Is(ResolveFd(getpid(), server4), FdKind::kTcpConnection,
                 absl::StrCat("tcp 127.0.0.1:", dual_port, " -> 127.0.0.1:", LocalPort(client4))));
}

TEST(FdTargetRealFds, UnixSockets) {
  FdCloser fds;
  int pair[2];
  ASSERT_EQ(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, pair), 0);
  fds.Add(pair[0]);
  fds.Add(pair[1]);
  EXPECT_TRUE(Is(ResolveFd(getpid(), pair[0]), FdKind::kUnixUnnamed, "unix (unnamed)"));
  EXPECT_TRUE(Is(ResolveFd(getpid(), pair[1]), FdKind::kUnixUnnamed, "unix (unnamed)"));

  TempDir dir;
  ASSERT_FALSE(dir.path().empty());
  const std::string path = (dir.path() / "app.sock").string();
  sockaddr_un addr = {};
  addr.sun_family = AF_UNIX;
  ASSERT_LT(path.size(), sizeof(addr.sun_path));
  std::memcpy(addr.sun_path, path.c_str(), path.size() + 1);

  int listener = fds.Add(socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0));
  ASSERT_EQ(bind(listener, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)), 0) << strerror(errno);
  ASSERT_EQ(listen(listener, 4), 0);
  int client = fds.Add(socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0));
  ASSERT_EQ(connect(client, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)), 0)
      << strerror(errno);
  int server = fds.Add(accept4(listener, nullptr, nullptr, SOCK_CLOEXEC));
  ASSERT_GE(server, 0);

  EXPECT_TRUE(Is(ResolveFd(getpid(), listener), FdKind::kUnixListener, "unix listen " + path));
  // The accepted socket shares the listener's address; the connecting side stays unbound and
  // /proc/net/unix does not name its peer, so it reads as unnamed.
  EXPECT_TRUE(Is(ResolveFd(getpid(), server), FdKind::kUnixNamedConnection, "unix " + path));
  EXPECT_TRUE(Is(ResolveFd(getpid(), client), FdKind::kUnixUnnamed, "unix (unnamed)"));
}

TEST(FdTargetRealFds, PipesEventFdsFilesAndClosedFds) {
  FdCloser fds;
  int pipe_fds[2];
  ASSERT_EQ(pipe2(pipe_fds, O_CLOEXEC), 0);
  fds.Add(pipe_fds[0]);
  fds.Add(pipe_fds[1]);
  int efd = fds.Add(eventfd(0, EFD_CLOEXEC));
  int tfd = fds.Add(timerfd_create(CLOCK_MONOTONIC, TFD_CLOEXEC));
  int ifd = fds.Add(inotify_init1(IN_CLOEXEC));
  int epfd = fds.Add(epoll_create1(EPOLL_CLOEXEC));
  int null_fd = fds.Add(open("/dev/null", O_RDONLY | O_CLOEXEC));
  TempDir dir;
  const std::string file = (dir.path() / "data.txt").string();
  int file_fd = fds.Add(open(file.c_str(), O_CREAT | O_RDWR | O_CLOEXEC, 0600));
  for (int fd : {efd, tfd, ifd, epfd, null_fd, file_fd}) ASSERT_GE(fd, 0);
  int closed_fd = dup(null_fd);
  ASSERT_GE(closed_fd, 0);
  close(closed_fd);

  std::vector<FdInfo> infos = ResolveFds(
      getpid(), {pipe_fds[0], pipe_fds[1], efd, tfd, ifd, epfd, null_fd, file_fd, closed_fd});
  ASSERT_EQ(infos.size(), 9u);
  EXPECT_TRUE(Is(infos[0], FdKind::kPipe, "pipe"));
  EXPECT_TRUE(Is(infos[1], FdKind::kPipe, "pipe"));
  EXPECT_TRUE(Is(infos[2], FdKind::kEventFd, "eventfd"));
  EXPECT_TRUE(Is(infos[3], FdKind::kEventFd, "timerfd"));
  EXPECT_TRUE(Is(infos[4], FdKind::kEventFd, "inotify"));
  EXPECT_TRUE(Is(infos[5], FdKind::kEpoll, "eventpoll"));
  EXPECT_TRUE(Is(infos[6], FdKind::kOther, "/dev/null"));
  EXPECT_TRUE(Is(infos[7], FdKind::kRegularFile, file));
  EXPECT_TRUE(Is(infos[8], FdKind::kUnknown, ""));
}

TEST(FdTargetRealFds, ReadEpollTargetsReturnsTheAddedFds) {
  FdCloser fds;
  int pipe_fds[2];
  ASSERT_EQ(pipe2(pipe_fds, O_CLOEXEC), 0);
  fds.Add(pipe_fds[0]);
  fds.Add(pipe_fds[1]);
  int pair[2];
  ASSERT_EQ(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, pair), 0);
  fds.Add(pair[0]);
  fds.Add(pair[1]);
  int efd = fds.Add(eventfd(0, EFD_CLOEXEC));
  int epfd = fds.Add(epoll_create1(EPOLL_CLOEXEC));
  int empty_epfd = fds.Add(epoll_create1(EPOLL_CLOEXEC));
  ASSERT_GE(efd, 0);
  ASSERT_GE(epfd, 0);
  ASSERT_GE(empty_epfd, 0);

  std::vector<int> added = {pipe_fds[0], pair[0], efd};
  for (int fd : added) {
    epoll_event ev = {};
    ev.events = EPOLLIN;
    ev.data.fd = fd;
    ASSERT_EQ(epoll_ctl(epfd, EPOLL_CTL_ADD, fd, &ev), 0) << strerror(errno);
  }

  std::optional<std::vector<int>> targets = ReadEpollTargets(getpid(), epfd);
  ASSERT_TRUE(targets.has_value());
  std::sort(targets->begin(), targets->end());
  std::sort(added.begin(), added.end());
  EXPECT_EQ(*targets, added);

  EXPECT_EQ(ReadEpollTargets(getpid(), empty_epfd), std::vector<int>{});
  EXPECT_EQ(ReadEpollTargets(getpid(), pipe_fds[0]), std::nullopt);
  EXPECT_EQ(ReadEpollTargets(getpid(), 1 << 20), std::nullopt);
}

}  // namespace
}  // namespace stallscope

namespace stallscope {
namespace {

TEST(NameAtCall, AClosedOrReusedFdIsNotNamedByItsNewFile) {
  FdInfo file{FdKind::kRegularFile, "/var/log/app.log"};
  FdInfo conn{FdKind::kTcpConnection, "tcp 127.0.0.1:41870 -> 127.0.0.1:5432"};
  EXPECT_EQ(NameAtCall(7, SS_FILE_REGULAR, file), "/var/log/app.log");
  EXPECT_EQ(NameAtCall(7, SS_FILE_SOCKET, conn), conn.target);
  // The call was on a file; the number is now a connection's.
  EXPECT_EQ(NameAtCall(7, SS_FILE_REGULAR, conn), "fd 7 (closed; number reused)");
  EXPECT_EQ(NameAtCall(7, SS_FILE_SOCKET, FdInfo{FdKind::kUnknown, ""}), "fd 7 (closed)");
  EXPECT_EQ(NameAtCall(7, SS_FILE_OTHER, FdInfo{FdKind::kEventFd, "eventfd"}), "eventfd");
  // The kernel did not see what it was: as it is now.
  EXPECT_EQ(NameAtCall(7, SS_FILE_UNKNOWN, file), "/var/log/app.log");
}

}  // namespace
}  // namespace stallscope
