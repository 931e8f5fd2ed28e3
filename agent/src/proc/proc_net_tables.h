// Parses the socket tables of /proc/PID/net (tcp, tcp6, udp, udp6, unix) to name a socket by
// its inode. The tables belong to the network namespace of PID, so reading them under
// /proc/PID (not /proc/net of the agent) names sockets of processes in containers too.
#ifndef STALLSCOPE_AGENT_PROC_PROC_NET_TABLES_H_
#define STALLSCOPE_AGENT_PROC_PROC_NET_TABLES_H_

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <utility>

#include "absl/container/flat_hash_map.h"
#include "proc/fd_target.h"
#include "stallscope_abi.h"

namespace stallscope {

struct InetSocketEntry {
  uint64_t inode = 0;
  ss_sock_addr addr = {};
};

// Parses one data line of /proc/net/{tcp,tcp6,udp,udp6}. `family` is AF_INET or AF_INET6 (which
// table the line came from), `protocol` IPPROTO_TCP or IPPROTO_UDP. nullopt for the header line
// and for anything malformed.
std::optional<InetSocketEntry> ParseInetSocketLine(std::string_view line, int family, int protocol);

struct UnixSocketEntry {
  uint64_t inode = 0;
  bool listening = false;
  std::string path;  // "" when unbound; abstract names start with '@'
};

// Parses one data line of /proc/net/unix; nullopt for the header line and anything malformed.
std::optional<UnixSocketEntry> ParseUnixSocketLine(std::string_view line);

// The sockets of one network namespace by inode. Tables are read lazily, each at most once per
// object, and only until the inode asked for is found.
class ProcNetTables {
 public:
  // `net_dir` is e.g. "/proc/1234/net".
  explicit ProcNetTables(std::string net_dir) : net_dir_(std::move(net_dir)) {}

  // What the socket with this inode is, or nullopt when no table lists it. `family` AF_UNIX
  // (known from elsewhere) reads only the unix table: the inet ones can cost far more.
  std::optional<FdInfo> Find(uint64_t inode, int family = 0 /* AF_UNSPEC: any table */);

 private:
  void LoadTable(int index);

  std::string net_dir_;
  uint32_t tables_loaded_ = 0;  // one bit per table
  absl::flat_hash_map<uint64_t, FdInfo> sockets_;
};

}  // namespace stallscope

#endif  // STALLSCOPE_AGENT_PROC_PROC_NET_TABLES_H_
