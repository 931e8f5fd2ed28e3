#include "daemon/daemon_config.h"

#include <gtest/gtest.h>

namespace stallscope {
namespace {

TEST(DaemonConfigTest, ParsesEveryKeyAndRepeatsSelectors) {
  auto c = ParseDaemonConfig(R"(# a comment
collector = collector.stallscope:7700
listen = 127.0.0.1:0
select = server:gunicorn
select = server:tornado cgroup:kubepods   # both terms
exclude = cmdline:--no-profile
service = label:app, workload, comm
max_processes = 64
memory_limit_mb = 128
scan_interval_ms = 500
stats_interval_s = 30
block_threshold_ms = 200
host_root = /host
)");
  ASSERT_TRUE(c.ok()) << c.status();
  EXPECT_EQ(c->collector, "collector.stallscope:7700");
  EXPECT_EQ(c->listen, "127.0.0.1:0");
  EXPECT_EQ(c->select, (std::vector<std::string>{"server:gunicorn", "server:tornado cgroup:kubepods"}));
  EXPECT_EQ(c->exclude, std::vector<std::string>{"cmdline:--no-profile"});
  EXPECT_EQ(c->service, "label:app, workload, comm");
  EXPECT_EQ(c->max_processes, 64u);
  EXPECT_EQ(c->memory_limit_mb, 128u);
  EXPECT_EQ(c->scan_interval_ms, 500u);
  EXPECT_EQ(c->stats_interval_s, 30u);
  EXPECT_EQ(c->block_threshold_ms, 200u);
  EXPECT_EQ(c->host_root, "/host");
}

TEST(DaemonConfigTest, ErrorsNameTheLine) {
  auto unknown = ParseDaemonConfig("collector = x:1\nfrobnicate = yes\n");
  ASSERT_FALSE(unknown.ok());
  EXPECT_EQ(unknown.status().message(), "line 2: frobnicate: unknown key 'frobnicate'");
  auto no_eq = ParseDaemonConfig("\n\nselect server:gunicorn\n");
  EXPECT_EQ(no_eq.status().message(), "line 3: expected 'key = value'");
  auto bad_number = ParseDaemonConfig("max_processes = lots\n");
  EXPECT_EQ(bad_number.status().message(), "line 1: max_processes: 'lots' is not a number from 1 to 65536");
  EXPECT_FALSE(ParseDaemonConfig("select = server:nginx\n").ok());
  EXPECT_FALSE(ParseDaemonConfig("select = cmdline:([\n").ok());
  EXPECT_FALSE(ParseDaemonConfig("service = label\n").ok());
  EXPECT_FALSE(ParseDaemonConfig("memory_limit_mb = 1\n").ok());
  EXPECT_FALSE(ParseDaemonConfig("listen_insecure = yes\n").ok());
  EXPECT_TRUE(ParseDaemonConfig("listen_insecure = true\n")->listen_insecure);
}

TEST(DaemonConfigTest, DefaultsWithoutAFile) {
  auto c = ParseDaemonConfig("");
  ASSERT_TRUE(c.ok());
  EXPECT_TRUE(c->select.empty());  // = server:any
  // Loopback unless told: /metrics is never on the network by default.
  EXPECT_EQ(c->listen, "127.0.0.1:7702");
  EXPECT_FALSE(c->listen_insecure);
  EXPECT_FALSE(LoadDaemonConfig("/nonexistent/stallscope.conf").ok());
}

}  // namespace
}  // namespace stallscope
