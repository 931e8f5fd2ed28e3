#include "daemon/ops_server.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <httplib.h>

#include <cstdlib>
#include <string>

#include "gtest/gtest.h"

namespace stallscope {
namespace {

constexpr char kToken[] = "ops-token-0123456789abcdef";

// A `NAME TOKEN` file only its owner reads, as the daemon's Secret mount gives it.
std::string WriteTokenFile() {
  char path[] = "/tmp/stallscope-ops-tokens-XXXXXX";
  int fd = mkstemp(path);
  EXPECT_GE(fd, 0);
  fchmod(fd, 0600);
  std::string line = std::string("prometheus ") + kToken + "\n";
  EXPECT_EQ(write(fd, line.data(), line.size()), static_cast<ssize_t>(line.size()));
  close(fd);
  return path;
}

httplib::Result Get(int port, const std::string& path, const std::string& token = "") {
  httplib::Client client("127.0.0.1", port);
  client.set_connection_timeout(5);
  client.set_read_timeout(5);
  httplib::Headers headers;
  if (!token.empty()) headers.emplace("Authorization", "Bearer " + token);
  return client.Get(path, headers);
}

TEST(OpsServerTest, RefusesEveryAddressOrAPublicOneWithoutAToken) {
  for (const char* listen : {":0", "0.0.0.0:0", "[::]:0", "192.0.2.2:0"}) {
    OpsServer ops;
    absl::StatusOr<int> port = ops.Start(listen);
    ASSERT_FALSE(port.ok()) << listen;
    EXPECT_TRUE(absl::IsFailedPrecondition(port.status())) << port.status();
    EXPECT_NE(port.status().message().find("--listen-token-file"), std::string::npos) << port.status();
    EXPECT_NE(port.status().message().find("--listen-insecure"), std::string::npos) << port.status();
  }
}

TEST(OpsServerTest, LoopbackNeedsNoTokenAndInsecureIsExplicit) {
  OpsServer loopback;
  absl::StatusOr<int> port = loopback.Start("127.0.0.1:0");
  ASSERT_TRUE(port.ok()) << port.status();
  loopback.Publish("stallscope_agent_up 1\n", true);
  httplib::Result metrics = Get(*port, "/metrics");
  ASSERT_TRUE(metrics);
  EXPECT_EQ(metrics->status, 200);
  loopback.Stop();

  OpsServer insecure;
  EXPECT_TRUE(insecure.Start("0.0.0.0:0", "", /*insecure=*/true).ok());
}

TEST(OpsServerTest, MetricsNeedTheTokenProbesDoNot) {
  std::string tokens = WriteTokenFile();
  OpsServer ops;
  absl::StatusOr<int> port = ops.Start("0.0.0.0:0", tokens);
  ASSERT_TRUE(port.ok()) << port.status();
  ops.Publish("stallscope_agent_up 1\n", true);

  httplib::Result none = Get(*port, "/metrics");
  ASSERT_TRUE(none);
  EXPECT_EQ(none->status, 401);
  EXPECT_EQ(none->body.find("stallscope_agent_up"), std::string::npos);
  httplib::Result wrong = Get(*port, "/metrics", "not-the-token-0123456789");
  ASSERT_TRUE(wrong);
  EXPECT_EQ(wrong->status, 401);
  httplib::Result right = Get(*port, "/metrics", kToken);
  ASSERT_TRUE(right);
  EXPECT_EQ(right->status, 200);
  EXPECT_EQ(right->body, "stallscope_agent_up 1\n");
  // The kubelet's probes carry no token.
  for (const char* probe : {"/healthz", "/readyz"}) {
    httplib::Result r = Get(*port, probe);
    ASSERT_TRUE(r) << probe;
    EXPECT_EQ(r->status, 200) << probe;
  }
  ops.Stop();
  unlink(tokens.c_str());
}

}  // namespace
}  // namespace stallscope
