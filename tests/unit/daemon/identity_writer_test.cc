#include "daemon/identity_writer.h"

#include <gtest/gtest.h>
#include <unistd.h>

#include <vector>

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
