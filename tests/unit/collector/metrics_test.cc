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
  // A newline is first made the visible text "\n" (safe_text.h), whose backslash is escaped.
  EXPECT_EQ(Label("host", "a\"b\\c\nd"), "host=\"a\\\"b\\\\c\\\\nd\"");
  // Bytes that are not UTF-8 would make Prometheus refuse the whole page.
  EXPECT_EQ(Label("host", "a\xff"), "host=\"a\xef\xbf\xbd\"");
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
  EXPECT_NE(text.find("stallscope_stalls_total{service=\"shop\",namespace=\"\",workload=\"\",container=\"\"} 1\n"), std::string::npos) << text;
  EXPECT_NE(text.find("stallscope_stall_duration_seconds_bucket{service=\"shop\",namespace=\"\",workload=\"\",container=\"\",le=\"0.25\"} 1\n"),
            std::string::npos);
  EXPECT_NE(text.find("stallscope_collector_reports_stored_total 2\n"), std::string::npos);
  EXPECT_NE(text.find("stallscope_collector_reports_duplicate_total 1\n"), std::string::npos);
  EXPECT_NE(text.find("stallscope_collector_streams 1\n"), std::string::npos);
  EXPECT_NE(text.find("stallscope_collector_batches_rejected_total{reason=\"malformed\"} 1\n"), std::string::npos);
  EXPECT_NE(text.find("stallscope_agent_reports_dropped_total{service=\"shop\",host=\"web-1\"} 7\n"),
            std::string::npos);
  EXPECT_NE(text.find("stallscope_collector_ingest_reports_per_second 0.2\n"), std::string::npos);
}

// Two replicas of one Deployment (pods checkout-7d9f-x and -y, workers of different PIDs):
// one series per workload and pool kind, summed, with no PID or pod name in any label.
TEST(MetricsTest, PoolSeriesPerWorkloadSummedOverReplicasWithoutPids) {
  Metrics m;
  auto report = [](const std::string& pod, uint32_t pid) {
    v1::Report r;
    r.mutable_process()->set_service("checkout");
    r.mutable_process()->set_pod_namespace("shop");
    r.mutable_process()->set_pod(pod);
    r.mutable_process()->set_workload("checkout");
    r.mutable_process()->set_container("web");
    r.mutable_pool_utilization()->set_pid(pid);
    r.mutable_pool_utilization()->set_kind(v1::PREFORK);
    r.mutable_pool_utilization()->set_pool("prefork 0.0.0.0:8000 (pid " + std::to_string(pid) + ")");
    r.mutable_pool_utilization()->set_size(4);
    r.mutable_pool_utilization()->set_busy(2.5);  // a mean: a double
    r.mutable_pool_utilization()->set_max_queued(3);
    r.mutable_pool_utilization()->set_time_unix_nano(5 * kMs);
    return r;
  };
  v1::Report sat = report("checkout-7d9f-y", 41);
  sat.clear_pool_utilization();
  sat.mutable_pool_saturation()->set_pid(41);
  sat.mutable_pool_saturation()->set_kind(v1::PREFORK);
  sat.mutable_pool_saturation()->set_duration_ns(1'500 * kMs);
  sat.mutable_pool_saturation()->set_accepted(4);
  sat.mutable_pool_saturation()->set_accept_wait_mean_ns(200 * kMs);
  v1::Report accepted;
  accepted.mutable_socket_lifetime()->set_accepted(true);
  accepted.mutable_socket_lifetime()->set_accept_wait_ns(30 * kMs);
  IngestBatch a = Stored(Batch(Agent("node-a", "web-1", ""), 1, {report("checkout-7d9f-x", 40), accepted}));
  IngestBatch b = Stored(Batch(Agent("node-b", "web-2", ""), 1, {report("checkout-7d9f-y", 41), sat}));
  m.OnStored(a, 0.001);
  m.OnStored(b, 0.001);
  std::string text = m.Render(b.received_ns);
  const std::string labels =
      "service=\"checkout\",namespace=\"shop\",workload=\"checkout\",container=\"web\",pool_kind=\"prefork\"";
  EXPECT_NE(text.find("stallscope_pool_size{" + labels + "} 8\n"), std::string::npos) << text;
  EXPECT_NE(text.find("stallscope_pool_busy_workers{" + labels + "} 5\n"), std::string::npos) << text;
  EXPECT_NE(text.find("stallscope_pool_queued_connections{" + labels + "} 6\n"), std::string::npos) << text;
  EXPECT_NE(text.find("stallscope_pool_saturated_seconds_total{" + labels + "} 1.5\n"), std::string::npos) << text;
  EXPECT_NE(text.find("stallscope_pool_queue_wait_seconds_bucket{" + labels + ",le=\"0.25\"} 4\n"), std::string::npos)
      << text;
  EXPECT_NE(text.find("stallscope_accept_wait_seconds_count{service=\"\",namespace=\"\",workload=\"\",container=\"\"} 1\n"),
            std::string::npos) << text;
  EXPECT_EQ(text.find("pid"), std::string::npos) << text;
  EXPECT_EQ(text.find("7d9f"), std::string::npos) << text;
  // A replica gone quiet for 5 minutes no longer counts.
  EXPECT_NE(m.Render(b.received_ns + 301'000'000'000).find("stallscope_pool_size"), std::string::npos);
  EXPECT_EQ(m.Render(b.received_ns + 301'000'000'000).find("stallscope_pool_size{"), std::string::npos);
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
