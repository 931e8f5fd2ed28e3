#include "report_index.h"

#include <gtest/gtest.h>

#include "collector/test_reports.h"

namespace stallscope::collector {
namespace {

TEST(ReportIndexTest, IndexesALoopBlockThroughItsFieldNames) {
  ReportIndex x = IndexReport(Stall(42, 1'000, 250'000'000, "handler"), 99);
  EXPECT_EQ(x.kind, "loop_block");
  EXPECT_EQ(x.pid, 42u);
  EXPECT_EQ(x.time_ns, 1'000u);
  EXPECT_EQ(x.duration_ns, 250'000'000u);
  EXPECT_TRUE(x.final);
  EXPECT_EQ(x.site, "app.py:42 handler");  // the innermost Python frame, not libc's recv
}

TEST(ReportIndexTest, ADaemonReportNamesItsOwnService) {
  v1::Report r = Stall(42, 1'000, 250'000'000, "handler");
  EXPECT_EQ(ServiceOf(IndexReport(r, 0), "agent-service"), "agent-service");
  r.mutable_process()->set_service("checkout");
  r.mutable_process()->set_pod("checkout-7d9f8b6c5-x2x9k");
  ReportIndex x = IndexReport(r, 0);
  EXPECT_EQ(x.service, "checkout");
  EXPECT_EQ(ServiceOf(x, "agent-service"), "checkout");
}

TEST(ReportIndexTest, CallSiteFallsBackToTheInnermostNamedNativeFrame) {
  ReportIndex x = IndexReport(Stall(1, 1, 1, ""), 0);
  EXPECT_EQ(x.site, "recv (libc.so.6)");
  EXPECT_FALSE(IndexReport(Stall(1, 1, 1, "f", /*in_progress=*/true), 0).final);
}

TEST(ReportIndexTest, KindsWithoutTimeUseTheReceiveTime) {
  v1::Report stats;
  stats.mutable_agent_stats()->set_ringbuf_drops(3);
  ReportIndex x = IndexReport(stats, 777);
  EXPECT_EQ(x.kind, "agent_stats");
  EXPECT_EQ(x.time_ns, 777u);
  EXPECT_EQ(x.site, "");

  v1::Report event;
  event.mutable_process_event()->set_pid(9);
  event.mutable_process_event()->set_time_unix_nano(555);
  x = IndexReport(event, 777);
  EXPECT_EQ(x.kind, "process_event");
  EXPECT_EQ(x.pid, 9u);
  EXPECT_EQ(x.time_ns, 555u);
}

TEST(ReportIndexTest, AKindFromANewerAgentIsKeptAsUnknown) {
  // Field 99 of Report: a kind this build has never heard of.
  std::string wire = std::string("\x9a\x06\x02\x08\x01", 5);
  v1::Report r;
  ASSERT_TRUE(r.ParseFromString(wire));
  EXPECT_EQ(IndexReport(r, 1).kind, kUnknownKind);
  EXPECT_EQ(IndexReport(v1::Report(), 1).kind, "");  // nothing set at all
}

TEST(ReportIndexTest, KindsComeFromTheOneof) {
  EXPECT_TRUE(IsReportKind("loop_block"));
  EXPECT_TRUE(IsReportKind("process_event"));
  EXPECT_FALSE(IsReportKind("agent"));  // a field outside the oneof
  EXPECT_FALSE(IsReportKind("bogus"));
}

}  // namespace
}  // namespace stallscope::collector
