#include "listen_check.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <grpcpp/generic/async_generic_service.h>
#include <grpcpp/grpcpp.h>
#include <httplib.h>

#include <memory>

#include "gtest/gtest.h"
#include "listener_security.h"

namespace stallscope::net {
namespace {

// A listening socket on 127.0.0.1 with SO_REUSEPORT, as gRPC and cpp-httplib make by default.
int ListenWithReusePort(int* port) {
  int fd = socket(AF_INET, SOCK_STREAM, 0);
  int yes = 1;
  setsockopt(fd, SOL_SOCKET, SO_REUSEPORT, &yes, sizeof(yes));
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  if (bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) != 0 || listen(fd, 1) != 0) return -1;
  socklen_t len = sizeof(addr);
  getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len);
  *port = ntohs(addr.sin_port);
  return fd;
}

// Binding 127.0.0.1:port with SO_REUSEPORT succeeds only when the socket already there set it
// too (same user): how two servers would end up sharing a port.
bool ReusePortBindSucceeds(int port) {
  int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  int yes = 1;
  setsockopt(fd, SOL_SOCKET, SO_REUSEPORT, &yes, sizeof(yes));
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  addr.sin_port = htons(static_cast<uint16_t>(port));
  bool bound = bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) == 0;
  close(fd);
  return bound;
}

TEST(ListenCheckTest, RefusesAPortAnotherServerListensOnEvenWithReusePort) {
  int port = 0;
  int fd = ListenWithReusePort(&port);
  ASSERT_GE(fd, 0);
  absl::Status same = CheckPortFree("127.0.0.1", port);
  EXPECT_TRUE(absl::IsAlreadyExists(same)) << same;
  EXPECT_NE(same.message().find("already in use"), std::string::npos) << same;
  // Every address (the collector's default) overlaps 127.0.0.1 too.
  EXPECT_TRUE(absl::IsAlreadyExists(CheckPortFree("", port)));
  EXPECT_TRUE(ReusePortBindSucceeds(port));  // what the refusal is there to stop
  close(fd);
  EXPECT_TRUE(CheckPortFree("127.0.0.1", port).ok());
}

TEST(ListenCheckTest, PortZeroAndHostNamesAreLeftToTheServer) {
  EXPECT_TRUE(CheckPortFree("127.0.0.1", 0).ok());
  EXPECT_TRUE(CheckPortFree("localhost", 0).ok());
}

TEST(ListenCheckTest, ListenAddressAsGrpcWritesIt) {
  EXPECT_EQ(ListenAddress("", 80), "[::]:80");
  EXPECT_EQ(ListenAddress("::1", 80), "[::1]:80");
  EXPECT_EQ(ListenAddress("127.0.0.1", 80), "127.0.0.1:80");
}

// The whole HTTP listener setup: a server made by ListenerSecurity, bound through
// BindHttpServer. A second one on the same port is refused, though cpp-httplib's own default
// (SO_REUSEPORT) would have let both share it.
TEST(ListenCheckTest, SecondHttpServerOnAPortIsRefused) {
  auto security = ListenerSecurity::Create({});
  ASSERT_TRUE(security.ok()) << security.status();
  std::unique_ptr<httplib::Server> first = (*security)->NewHttpServer();
  absl::StatusOr<int> port = BindHttpServer(*first, "127.0.0.1", 0);
  ASSERT_TRUE(port.ok()) << port.status();
  EXPECT_GT(*port, 0);
  std::unique_ptr<httplib::Server> second = (*security)->NewHttpServer();
  absl::StatusOr<int> again = BindHttpServer(*second, "127.0.0.1", *port);
  EXPECT_TRUE(absl::IsAlreadyExists(again.status())) << again.status();
  EXPECT_NE(again.status().message().find("already in use (127.0.0.1:"), std::string::npos) << again.status();
  // Nor does the first server let a socket with SO_REUSEPORT in beside it.
  EXPECT_FALSE(ReusePortBindSucceeds(*port));
}

TEST(ListenCheckTest, GrpcPortInUseIsRefusedBeforeTheServerIsBuilt) {
  int port = 0;
  int fd = ListenWithReusePort(&port);
  ASSERT_GE(fd, 0);
  grpc::ServerBuilder taken;
  int bound = -1;
  absl::Status st = AddGrpcListeningPort(taken, "127.0.0.1", port, grpc::InsecureServerCredentials(), &bound);
  EXPECT_TRUE(absl::IsAlreadyExists(st)) << st;
  EXPECT_EQ(bound, -1);  // never handed to gRPC
  close(fd);

  grpc::ServerBuilder free;
  ASSERT_TRUE(AddGrpcListeningPort(free, "127.0.0.1", 0, grpc::InsecureServerCredentials(), &bound).ok());
  grpc::CallbackGenericService nothing;  // a server needs a service to start
  free.RegisterCallbackGenericService(&nothing);
  std::unique_ptr<grpc::Server> server = free.BuildAndStart();
  ASSERT_NE(server, nullptr);
  EXPECT_GT(bound, 0);
  // gRPC's socket has no SO_REUSEPORT either: no second server can share its port.
  EXPECT_FALSE(ReusePortBindSucceeds(bound));
  server->Shutdown();
}

}  // namespace
}  // namespace stallscope::net
