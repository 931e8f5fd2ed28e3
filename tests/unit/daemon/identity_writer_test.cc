#include "daemon/identity_writer.h"

#include <gtest/gtest.h>
#include <unistd.h>

#include <map>
#include <string>
#include <vector>

#include "daemon/daemon_metrics.h"

namespace stallscope {
namespace {

class Capture : public ReportWriter {
 public:
  void Write(const v1::Report& r) override { written.push_back(r); }
  void Finish(const StallSummary&, const v1::AgentStats& s) override { final_stats = s; }
  bool ok() const override { return true; }
  std::vector<v1::Report> written;
  v1::AgentStats final_stats;
};

TEST(IdentityWriterTest, EveryReportAboutAProcessCarriesItsIdentity) {
  IdentityResolver identity("/", *ParseServiceRule("text:checkout"));
  auto capture = std::make_unique<Capture>();
  Capture* out = capture.get();
  IdentityWriter writer(std::move(capture), &identity, [](v1::AgentStats& s) { s.set_discovery_over_limit(7); });

  v1::Report stall;
  stall.mutable_loop_block()->set_pid(static_cast<uint32_t>(getpid()));
  writer.Write(stall);
  v1::Report exited;
  exited.mutable_process_event()->set_pid(static_cast<uint32_t>(getpid()));
  exited.mutable_process_event()->set_kind(v1::ProcessEvent::EXITED);
  writer.Write(exited);
  v1::Report stats;
  stats.mutable_agent_stats()->set_ringbuf_drops(1);
  writer.Write(stats);
  writer.Finish(StallSummary{}, v1::AgentStats{});

  ASSERT_EQ(out->written.size(), 3u);
  EXPECT_EQ(out->written[0].process().service(), "checkout");
  EXPECT_EQ(out->written[1].process().service(), "checkout");
  EXPECT_FALSE(out->written[2].has_process());  // agent counters are about no process
  EXPECT_EQ(identity.cached(), 0u);             // forgotten at EXITED
  EXPECT_EQ(out->final_stats.discovery_over_limit(), 7u);
  EXPECT_EQ(writer.written().at("loop_block"), 1u);
  EXPECT_EQ(writer.written().at("process_event"), 1u);
  EXPECT_EQ(writer.written().at("agent_stats"), 1u);
}

TEST(IdentityWriterTest, CountsFinalStallsWithoutPythonFramesByReasonForTheMetrics) {
  IdentityResolver identity("/", *ParseServiceRule("text:checkout"));
  IdentityWriter writer(std::make_unique<Capture>(), &identity, nullptr);
  v1::Report stall;
  stall.mutable_loop_block()->set_pid(static_cast<uint32_t>(getpid()));
  stall.mutable_loop_block()->set_python_stack_reason("_PyRuntime symbol not found");
  writer.Write(stall);
  stall.mutable_loop_block()->set_in_progress(true);  // previews are not counted
  writer.Write(stall);
  stall.mutable_loop_block()->set_in_progress(false);
  stall.mutable_loop_block()->set_python_stack_reason("");  // frames captured
  writer.Write(stall);
  EXPECT_EQ(writer.python_stack_reasons(),
            (std::map<std::string, uint64_t>{{"_PyRuntime symbol not found", 1}}));

  DaemonMetrics metrics;
  metrics.python_stack_reasons = writer.python_stack_reasons();
  metrics.python_stack_reasons["odd \"reason\""] = 2;
  std::string text = FormatDaemonMetrics(metrics);
  EXPECT_NE(text.find("stallscope_agent_python_stacks_missing_total{reason=\"_PyRuntime symbol "
                      "not found\"} 1"),
            std::string::npos)
      << text;
  EXPECT_NE(text.find("{reason=\"odd \\\"reason\\\"\"} 2"), std::string::npos) << text;
}

TEST(IdentityWriterTest, FindsThePidOfAnyKindByName) {
  v1::Report r;
  EXPECT_EQ(ReportPid(r), 0u);
  EXPECT_EQ(ReportKind(r), "");
  r.mutable_process_event()->set_pid(42);
  EXPECT_EQ(ReportPid(r), 42u);
  EXPECT_EQ(ReportKind(r), "process_event");
  r.mutable_agent_stats();
  EXPECT_EQ(ReportPid(r), 0u);
}

}  // namespace
}  // namespace stallscope
