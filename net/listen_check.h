// Refusing a listen port that another process already uses. Every listener of stallscope (the
// collector's gRPC and HTTP ports, the daemon's ops port) binds through here: gRPC and
// cpp-httplib set SO_REUSEPORT, with which two servers on one port share its traffic silently.
// The rest of a listener's setup (TLS, tokens, the loopback rule) is ListenerSecurity's.
#ifndef STALLSCOPE_NET_LISTEN_CHECK_H_
#define STALLSCOPE_NET_LISTEN_CHECK_H_

#include <memory>
#include <string>

#include "absl/status/status.h"
#include "absl/status/statusor.h"

namespace grpc {
class ServerBuilder;
class ServerCredentials;
}  // namespace grpc

namespace httplib {
class Server;
}  // namespace httplib

namespace stallscope::net {

// Exit code of both binaries when a listen port is already in use (README, docs/collector.md).
inline constexpr int kExitAddressInUse = 9;

// "host:port" as gRPC and the error messages write it: "[::]:80" for an empty host (every
// address), "[::1]:80", "127.0.0.1:80".
std::string ListenAddress(const std::string& host, int port);

// Binds a TCP socket to host:port (an empty host or "::" means every address, IPv6 and IPv4)
// without SO_REUSEPORT and closes it. AlreadyExists when a socket is bound there already, with
// a one-line message naming the address; Unavailable for other bind failures; OK for port 0.
absl::Status CheckPortFree(const std::string& host, int port);

// The options every listening socket gets instead of cpp-httplib's default (SO_REUSEPORT):
// SO_REUSEADDR only, so a restart is not refused over TIME_WAIT leftovers but a second server
// on the port is. ListenerSecurity::NewHttpServer sets it on the servers it makes.
void SetListenSocketOptions(int fd);

// Binds an HTTP server made by ListenerSecurity::NewHttpServer to host:port (0: any free
// port) once CheckPortFree passed. The bound port; AlreadyExists for a port in use,
// Unavailable when the bind fails. The caller then runs server.listen_after_bind().
absl::StatusOr<int> BindHttpServer(httplib::Server& server, const std::string& host, int port);

// Adds host:port to a gRPC server being built, without SO_REUSEPORT, once CheckPortFree
// passed (AlreadyExists, Unavailable as there). *bound is set when the server starts: the port,
// or 0 when it could not listen.
absl::Status AddGrpcListeningPort(grpc::ServerBuilder& builder, const std::string& host, int port,
                                  std::shared_ptr<grpc::ServerCredentials> credentials, int* bound);

}  // namespace stallscope::net

#endif  // STALLSCOPE_NET_LISTEN_CHECK_H_
