#include "daemon/daemon_metrics.h"

#include <gtest/gtest.h>
#include <unistd.h>

#include <cstdio>
#include <cstdlib>

#include "target_files/counters.h"

namespace stallscope {
namespace {

TEST(DaemonMetrics, TargetFileRefusalsAndShedsByLabel) {
  DaemonMetrics m;
  m.target_file_refusals = target_files::RefusalCounts();
  m.target_file_refusals["symlink"] = 3;
  m.bounded_sheds = target_files::ShedCounts();
  m.bounded_sheds["symbols"] = 7;
  std::string text = FormatDaemonMetrics(m);
  EXPECT_NE(text.find("# TYPE stallscope_agent_target_file_refusals_total counter"), std::string::npos);
  EXPECT_NE(text.find("stallscope_agent_target_file_refusals_total{reason=\"symlink\"} 3\n"), std::string::npos);
  EXPECT_NE(text.find("stallscope_agent_target_file_refusals_total{reason=\"not_regular\"} "), std::string::npos);
  EXPECT_NE(text.find("stallscope_agent_bounded_sheds_total{what=\"symbols\"} 7\n"), std::string::npos);
  EXPECT_NE(text.find("stallscope_agent_target_file_refusals_total{reason=\"on_fuse\"} "), std::string::npos);
  EXPECT_NE(text.find("stallscope_agent_bounded_sheds_total{what=\"mountinfo_unread\"} "), std::string::npos);
  EXPECT_NE(text.find("stallscope_agent_bounded_sheds_total{what=\"invalid_utf8\"} "), std::string::npos);
  EXPECT_NE(text.find("stallscope_agent_bounded_sheds_total{what=\"long_strings\"} "), std::string::npos);
}

// A label value from a target (a reason naming its version string, a service from its
// environment): valid UTF-8, one line, escaped as the exposition format wants; promtool reads it.
TEST(DaemonMetrics, HostileLabelValuesKeepThePageReadable) {
  DaemonMetrics m;
  m.python_stack_reasons["CPython 3.1\xff\xfe \"x\" \\ \x1b]0;t\x07\nfake_metric 1"] = 2;
  std::string text = FormatDaemonMetrics(m);
  EXPECT_NE(text.find("reason=\"CPython 3.1\xef\xbf\xbd\xef\xbf\xbd \\\"x\\\" \\\\ \\\\x1b]0;t\\\\x07\\\\nfake_metric 1\"} 2\n"),
            std::string::npos)
      << text;
  EXPECT_EQ(text.find("\nfake_metric"), std::string::npos);
  char path[] = "/tmp/stallscope-metrics-XXXXXX";
  int fd = mkstemp(path);
  ASSERT_GE(fd, 0);
  ASSERT_EQ(write(fd, text.data(), text.size()), static_cast<ssize_t>(text.size()));
  close(fd);
  if (access("/usr/bin/promtool", X_OK) != 0) GTEST_SKIP() << "promtool not installed (Debian package prometheus)";
  std::string command = std::string("/usr/bin/promtool check metrics < ") + path + " 2>&1";
  FILE* pipe = popen(command.c_str(), "r");
  std::string out;
  char buf[512];
  while (pipe != nullptr && fgets(buf, sizeof(buf), pipe) != nullptr) out += buf;
  int rc = pipe == nullptr ? -1 : pclose(pipe);
  unlink(path);
  EXPECT_EQ(rc, 0) << out;
}

}  // namespace
}  // namespace stallscope
