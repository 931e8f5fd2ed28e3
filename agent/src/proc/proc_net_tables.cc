#include "proc/proc_net_tables.h"

#include <netinet/in.h>
#include <sys/socket.h>

#include <cstring>
#include <vector>

#include "absl/strings/str_cat.h"
#include "proc/text_fields.h"
#include "target_files/target_files.h"
#include "target_files/target_strings.h"

namespace stallscope {
namespace {

constexpr uint8_t kTcpStateListen = 0x0A;
// __SO_ACCEPTCON in the Flags column of /proc/net/unix: the socket is listening.
constexpr uint32_t kUnixAcceptCon = 0x10000;

struct TableSpec {
  const char* name;
  int family;
  int protocol;  // 0 for unix
};
constexpr TableSpec kTables[] = {
    {"tcp", AF_INET, IPPROTO_TCP}, {"tcp6", AF_INET6, IPPROTO_TCP},
    {"udp", AF_INET, IPPROTO_UDP}, {"udp6", AF_INET6, IPPROTO_UDP},
    {"unix", AF_UNIX, 0},
};
constexpr int kNumTables = sizeof(kTables) / sizeof(kTables[0]);

// "0100007F:1F40" -> address bytes and port. The kernel prints each 32-bit word of the
// network-order address as a host-order integer (%08X), so storing the parsed integer back into
// memory restores the network-order bytes on any endianness. The port is printed in host order.
bool ParseInetAddress(std::string_view token, int family, uint8_t* addr, uint16_t* port) {
  size_t colon = token.find(':');
  if (colon == std::string_view::npos) return false;
  std::string_view hex = token.substr(0, colon);
  size_t words = family == AF_INET ? 1 : 4;
  if (hex.size() != words * 8) return false;
  for (size_t i = 0; i < words; ++i) {
    uint32_t word;
    if (!ParseNumber(hex.substr(i * 8, 8), 16, &word)) return false;
    std::memcpy(addr + i * 4, &word, sizeof(word));
  }
  return ParseNumber(token.substr(colon + 1), 16, port);
}

FdInfo InetFdInfo(const ss_sock_addr& addr) {
  FdKind kind = FdKind::kUdp;
  if (addr.protocol == IPPROTO_TCP) {
    kind = addr.state == kTcpStateListen ? FdKind::kTcpListener : FdKind::kTcpConnection;
  }
  return FdInfo{kind, FormatSockAddr(addr)};
}

FdInfo UnixFdInfo(const UnixSocketEntry& entry) {
  if (entry.listening) {
    return FdInfo{FdKind::kUnixListener,
                  absl::StrCat("unix listen ", entry.path.empty() ? "(unnamed)" : entry.path)};
  }
  if (entry.path.empty()) return FdInfo{FdKind::kUnixUnnamed, "unix (unnamed)"};
  return FdInfo{FdKind::kUnixNamedConnection, absl::StrCat("unix ", entry.path)};
}

}  // namespace

std::optional<InetSocketEntry> ParseInetSocketLine(std::string_view line, int family,
                                                   int protocol) {
  if (family != AF_INET && family != AF_INET6) return std::nullopt;
  // sl local_address rem_address st tx_queue:rx_queue tr:tm->when retrnsmt uid timeout inode ...
  std::vector<std::string_view> fields = SplitFields(line);
  if (fields.size() < 10 || !fields[0].ends_with(':')) return std::nullopt;
  InetSocketEntry entry;
  entry.addr.family = static_cast<__u16>(family);
  entry.addr.protocol = static_cast<__u8>(protocol);
  if (!ParseInetAddress(fields[1], family, entry.addr.saddr, &entry.addr.sport) ||
      !ParseInetAddress(fields[2], family, entry.addr.daddr, &entry.addr.dport) ||
      !ParseNumber(fields[3], 16, &entry.addr.state) || !ParseNumber(fields[9], 10, &entry.inode)) {
    return std::nullopt;
  }
  return entry;
}

std::optional<UnixSocketEntry> ParseUnixSocketLine(std::string_view line) {
  // Num: RefCount Protocol Flags Type St Inode [Path]
  std::vector<std::string_view> fields = SplitFields(line);
  if (fields.size() < 7 || !fields[0].ends_with(':')) return std::nullopt;
  UnixSocketEntry entry;
  uint32_t flags;
  if (!ParseNumber(fields[3], 16, &flags) || !ParseNumber(fields[6], 10, &entry.inode)) {
    return std::nullopt;
  }
  entry.listening = (flags & kUnixAcceptCon) != 0;
  // The path is the rest of the line: it may contain blanks.
  size_t inode_end = static_cast<size_t>(fields[6].data() - line.data()) + fields[6].size();
  std::string_view path = line.substr(inode_end);
  constexpr std::string_view kBlanks = " \t\r\n";
  size_t first = path.find_first_not_of(kBlanks);
  if (first != std::string_view::npos) {
    // The socket's path (an abstract name may hold any bytes): safe text.
    entry.path = SanitizeTargetString(path.substr(first, path.find_last_not_of(kBlanks) + 1 - first));
  }
  return entry;
}

std::optional<FdInfo> ProcNetTables::Find(uint64_t inode, int family) {
  while (true) {
    if (auto it = sockets_.find(inode); it != sockets_.end()) return it->second;
    int next = -1;
    for (int i = 0; i < kNumTables && next < 0; ++i) {
      bool wanted = family == AF_UNSPEC || kTables[i].family == family;
      if (wanted && !(tables_loaded_ & (1u << i))) next = i;
    }
    if (next < 0) return std::nullopt;
    tables_loaded_ |= 1u << next;
    LoadTable(next);
  }
}

void ProcNetTables::LoadTable(int index) {
  const TableSpec& table = kTables[index];
  // Streamed: the tables of a busy host run to tens of MB.
  target_files::Opened file = target_files::OpenProcFile(absl::StrCat(net_dir_, "/", table.name));
  if (!file.ok()) return;
  target_files::LineReader lines(file.fd.get(), target_files::kMaxProcTableBytes);
  std::string_view line;
  while (lines.Next(&line)) {
    if (table.family == AF_UNIX) {
      std::optional<UnixSocketEntry> entry = ParseUnixSocketLine(line);
      if (entry && entry->inode != 0) sockets_.try_emplace(entry->inode, UnixFdInfo(*entry));
    } else {
      // inode 0: TIME_WAIT and SYN_RECV entries, which no fd refers to.
      std::optional<InetSocketEntry> entry =
          ParseInetSocketLine(line, table.family, table.protocol);
      if (entry && entry->inode != 0) sockets_.try_emplace(entry->inode, InetFdInfo(entry->addr));
    }
  }
}

}  // namespace stallscope
