#include "metrics.h"

#include <gtest/gtest.h>
#include <stdlib.h>
#include <unistd.h>

#include <cstdio>
#include <fstream>

#include "collector/test_reports.h"

namespace stallscope::collector {
namespace {

constexpr uint64_t kMs = 1'000'000;

IngestBatch Stored(IngestBatch b) {
  for (IngestRow& r : b.rows) r.stored = true;
  return b;
}

TEST(MetricsTest, HistogramsAreCumulativeWithSumAndCount) {
  Histogram h({0.1, 1});
  h.Observe(0.05);
  h.Observe(0.5);
  h.Observe(5);
  std::string out;
  h.Render("x_seconds", Label("service", "a"), out);
  EXPECT_EQ(out,
            "x_seconds_bucket{service=\"a\",le=\"0.1\"} 1\n"
            "x_seconds_bucket{service=\"a\",le=\"1\"} 2\n"
            "x_seconds_bucket{service=\"a\",le=\"+Inf\"} 3\n"
            "x_seconds_sum{service=\"a\"} 5.55\n"
            "x_seconds_count{service=\"a\"} 3\n");
}

TEST(MetricsTest, LabelValuesAreEscaped) {
  EXPECT_EQ(Label("host", "a\"b\\c\nd"), "host=\"a\\\"b\\\\c\\nd\"");
}

TEST(MetricsTest, CountsFinalStallsOnlyAndSkipsDuplicates) {
  Metrics m;
  IngestBatch b = Stored(Batch(Agent("a", "web-1", "shop"), 1,
                               {Stall(1, 1, 150 * kMs, "f"), Stall(1, 1, 2'000 * kMs, "f"),
                                Stall(1, 1, 300 * kMs, "f", /*in_progress=*/true)}));
  b.rows[1].stored = false;  // a duplicate of a resend
  b.dropped_total = 7;
  m.OnStored(b, 0.002);
  m.OnStreamOpened();
  m.OnRejected("malformed");
  std::string text = m.Render(b.received_ns);
  EXPECT_NE(text.find("stallscope_stalls_total{service=\"shop\",host=\"web-1\"} 1\n"), std::string::npos) << text;
  EXPECT_NE(text.find("stallscope_stall_duration_seconds_bucket{service=\"shop\",host=\"web-1\",le=\"0.25\"} 1\n"),
            std::string::npos);
  EXPECT_NE(text.find("stallscope_collector_reports_stored_total 2\n"), std::string::npos);
  EXPECT_NE(text.find("stallscope_collector_reports_duplicate_total 1\n"), std::string::npos);
  EXPECT_NE(text.find("stallscope_collector_streams 1\n"), std::string::npos);
  EXPECT_NE(text.find("stallscope_collector_batches_rejected_total{reason=\"malformed\"} 1\n"), std::string::npos);
  EXPECT_NE(text.find("stallscope_agent_reports_dropped_total{service=\"shop\",host=\"web-1\"} 7\n"),
            std::string::npos);
  EXPECT_NE(text.find("stallscope_collector_ingest_reports_per_second 0.2\n"), std::string::npos);
}

TEST(MetricsTest, PoolGaugesAndAcceptWaitsFromTheAgentsReports) {
  Metrics m;
  v1::Report util;
  v1::PoolUtilization* u = util.mutable_pool_utilization();
  u->set_pid(40);
  u->set_pool("prefork 127.0.0.1:8000 (pid 40)");
  u->set_size(3);
  u->set_busy(2.5);  // a mean: a double
  u->set_time_unix_nano(5 * kMs);
  v1::Report accepted, outbound;
  accepted.mutable_socket_lifetime()->set_accepted(true);
  accepted.mutable_socket_lifetime()->set_accept_wait_ns(30 * kMs);
  accepted.mutable_socket_lifetime()->set_local_address("127.0.0.1:8000");
  outbound.mutable_socket_lifetime()->set_remote_address("10.0.0.5:5432");  // no accept wait
  m.OnStored(Stored(Batch(Agent("a", "web-1", "shop"), 1, {util, accepted, outbound})), 0.001);
  std::string text = m.Render(1);
  EXPECT_NE(text.find("stallscope_pool_size{service=\"shop\",host=\"web-1\",pool=\"prefork 127.0.0.1:8000 (pid 40)\"} 3\n"),
            std::string::npos) << text;
  EXPECT_NE(text.find("stallscope_pool_busy{service=\"shop\",host=\"web-1\",pool=\"prefork 127.0.0.1:8000 (pid 40)\"} 2.5\n"),
            std::string::npos) << text;
  EXPECT_NE(text.find("stallscope_accept_wait_seconds_count{service=\"shop\",host=\"web-1\"} 1\n"),
            std::string::npos) << text;
}

// The exposition must satisfy Prometheus's own checker (Debian package prometheus).
TEST(MetricsTest, PassesPromtoolCheckMetrics) {
  if (system("command -v promtool >/dev/null 2>&1") != 0) GTEST_SKIP() << "promtool not installed (package prometheus)";
  Metrics m;
  m.OnStored(Stored(Batch(Agent("a", "web \"1\"", "shop"), 1, {Stall(1, 1, 150 * kMs, "f")})), 0.01);
  m.OnStreamOpened();
  m.OnRejected("invalid");
  char path[] = "/tmp/stallscope-metrics-XXXXXX";
  int fd = mkstemp(path);
  ASSERT_GE(fd, 0);
  close(fd);
  std::ofstream(path) << m.Render(1);
  std::string cmd = std::string("promtool check metrics < ") + path + " 2>&1";
  FILE* p = popen(cmd.c_str(), "r");
  std::string output;
  char buf[512];
  while (fgets(buf, sizeof(buf), p)) output += buf;
  int rc = pclose(p);
  unlink(path);
  EXPECT_EQ(rc, 0) << output;
  EXPECT_EQ(output, "");
}

}  // namespace
}  // namespace stallscope::collector
