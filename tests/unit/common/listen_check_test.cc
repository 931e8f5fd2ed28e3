#include "listen_check.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include "gtest/gtest.h"

namespace stallscope {
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

TEST(ListenCheckTest, RefusesAPortAnotherServerListensOnEvenWithReusePort) {
  int port = 0;
  int fd = ListenWithReusePort(&port);
  ASSERT_GE(fd, 0);
  absl::Status same = CheckPortFree("127.0.0.1", port);
  EXPECT_TRUE(absl::IsAlreadyExists(same)) << same;
  EXPECT_NE(same.message().find("already in use"), std::string::npos) << same;
  // Every address (the collector's default) overlaps 127.0.0.1 too.
  EXPECT_TRUE(absl::IsAlreadyExists(CheckPortFree("", port)));
  close(fd);
  EXPECT_TRUE(CheckPortFree("127.0.0.1", port).ok());
}

TEST(ListenCheckTest, PortZeroAndHostNamesAreLeftToTheServer) {
  EXPECT_TRUE(CheckPortFree("127.0.0.1", 0).ok());
  EXPECT_TRUE(CheckPortFree("localhost", 0).ok());
}

}  // namespace
}  // namespace stallscope
