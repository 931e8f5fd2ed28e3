// Refusing a listen port that another process already uses. Every listener of stallscope (the
// collector's gRPC and HTTP ports, the daemon's ops port) calls this first: gRPC and
// cpp-httplib set SO_REUSEPORT, with which two servers on one port share its traffic silently.
#ifndef STALLSCOPE_COMMON_LISTEN_CHECK_H_
#define STALLSCOPE_COMMON_LISTEN_CHECK_H_

#include <string>

#include "absl/status/status.h"

namespace stallscope {

// Exit code of both binaries when a listen port is already in use (README, docs/collector.md).
inline constexpr int kExitAddressInUse = 9;

// Binds a TCP socket to host:port (an empty host or "::" means every address, IPv6 and IPv4)
// without SO_REUSEPORT and closes it. AlreadyExists when a socket is bound there already, with
// a one-line message naming the address; Unavailable for other bind failures; OK for port 0.
absl::Status CheckPortFree(const std::string& host, int port);

// The options every listening socket gets instead of cpp-httplib's default (SO_REUSEPORT):
// SO_REUSEADDR only, so a restart is not refused over TIME_WAIT leftovers but a second server
// on the port is. For httplib::Server::set_socket_options.
void SetListenSocketOptions(int fd);

}  // namespace stallscope

#endif  // STALLSCOPE_COMMON_LISTEN_CHECK_H_
