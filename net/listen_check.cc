#include "listen_check.h"

#include <arpa/inet.h>
#include <grpcpp/grpcpp.h>
#include <httplib.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <utility>

#include "absl/strings/str_cat.h"

namespace stallscope::net {
namespace {

// Binds fd to the address; returns errno (0 when bound), or EINVAL for a host that is no
// numeric address of the family.
int BindTo(int family, const std::string& host, int port) {
  int fd = socket(family, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) return errno;
  SetListenSocketOptions(fd);  // as the servers do: TIME_WAIT leftovers are no conflict
  int err = 0;
  if (family == AF_INET6) {
    int no = 0;
    setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &no, sizeof(no));
    sockaddr_in6 addr{};
    addr.sin6_family = AF_INET6;
    addr.sin6_port = htons(port);
    if (inet_pton(AF_INET6, host.c_str(), &addr.sin6_addr) != 1) err = EINVAL;
    else if (bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) != 0) err = errno;
  } else {
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_port = htons(port);
    if (inet_pton(AF_INET, host.c_str(), &addr.sin_addr) != 1) err = EINVAL;
    else if (bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) != 0) err = errno;
  }
  close(fd);
  return err;
}

}  // namespace

void SetListenSocketOptions(int fd) {
  int yes = 1;
  setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &yes, sizeof(yes));
}

std::string ListenAddress(const std::string& host, int port) {
  std::string h = host.empty() ? "::" : host;
  return absl::StrCat(h.find(':') != std::string::npos ? "[" + h + "]" : h, ":", port);
}

absl::Status CheckPortFree(const std::string& host, int port) {
  if (port == 0) return absl::OkStatus();
  std::string h = host.empty() ? "::" : host;
  int err = BindTo(AF_INET6, h, port);
  if (err == EINVAL || err == EAFNOSUPPORT) err = BindTo(AF_INET, h == "::" ? "0.0.0.0" : h, port);
  // A host name rather than an address: the server resolves it and reports its own error.
  if (err == EINVAL) return absl::OkStatus();
  std::string where = ListenAddress(h, port);
  if (err == EADDRINUSE)
    return absl::AlreadyExistsError(absl::StrCat("port ", port, " is already in use (", where, ")"));
  if (err != 0) return absl::UnavailableError(absl::StrCat("cannot listen on ", where, ": ", strerror(err)));
  return absl::OkStatus();
}

absl::StatusOr<int> BindHttpServer(httplib::Server& server, const std::string& host, int port) {
  if (absl::Status free = CheckPortFree(host, port); !free.ok()) return free;
  if (port == 0) {
    int bound = server.bind_to_any_port(host);
    if (bound < 0) return absl::UnavailableError(absl::StrCat("cannot listen on ", ListenAddress(host, 0)));
    return bound;
  }
  if (!server.bind_to_port(host, port))
    return absl::UnavailableError(absl::StrCat("cannot listen on ", ListenAddress(host, port), " (in use?)"));
  return port;
}

absl::Status AddGrpcListeningPort(grpc::ServerBuilder& builder, const std::string& host, int port,
                                  std::shared_ptr<grpc::ServerCredentials> credentials, int* bound) {
  // Refused up front in one line: gRPC would log several, and with SO_REUSEPORT (its default,
  // turned off here) two servers would share the port silently.
  if (absl::Status free = CheckPortFree(host, port); !free.ok()) return free;
  builder.AddChannelArgument(GRPC_ARG_ALLOW_REUSEPORT, 0);
  builder.AddListeningPort(ListenAddress(host, port), std::move(credentials), bound);
  return absl::OkStatus();
}

}  // namespace stallscope::net
