#include "batch_builder.h"

#include <gtest/gtest.h>

#include "collector/test_reports.h"

namespace stallscope::collector {
namespace {

v1::AgentMessage Message(std::initializer_list<uint64_t> seqs, bool identity = true) {
  v1::AgentMessage m;
  if (identity) *m.mutable_identity() = Agent("agent-1", "web-1", "shop");
  for (uint64_t seq : seqs) {
    v1::SequencedReport* sr = m.add_reports();
    sr->set_seq(seq);
    *sr->mutable_report() = Stall(1, 1, 1, "f");
  }
  return m;
}

TEST(BatchBuilderTest, TheFirstMessageMustIdentifyTheAgent) {
  BatchBuilder b;
  auto batch = b.Build(Message({1}, false), 5);
  ASSERT_FALSE(batch.ok());
  EXPECT_EQ(batch.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_NE(batch.status().message().find("identity"), std::string::npos);
}

TEST(BatchBuilderTest, LaterMessagesCarryTheStreamIdentity) {
  BatchBuilder b;
  ASSERT_TRUE(b.Build(Message({}), 5).ok());
  auto batch = b.Build(Message({1, 2}, false), 6);
  ASSERT_TRUE(batch.ok()) << batch.status();
  EXPECT_EQ((*batch)->identity.host(), "web-1");
  EXPECT_EQ((*batch)->rows.size(), 2u);
  EXPECT_EQ((*batch)->rows[1].seq, 2u);
  EXPECT_EQ((*batch)->received_ns, 6u);
}

TEST(BatchBuilderTest, SeqMustIncreaseAcrossTheStream) {
  BatchBuilder b;
  ASSERT_TRUE(b.Build(Message({1, 2, 3}), 1).ok());
  EXPECT_FALSE(b.Build(Message({3}, false), 1).ok());
  BatchBuilder c;
  EXPECT_FALSE(c.Build(Message({2, 1}), 1).ok());
  BatchBuilder d;
  EXPECT_FALSE(d.Build(Message({0}), 1).ok());
}

TEST(BatchBuilderTest, RefusesReportsWithoutKindAloneAndBadIdentitiesWhole) {
  BatchBuilder b;
  v1::AgentMessage m = Message({});
  m.add_reports()->set_seq(1);  // no report at all
  v1::SequencedReport* sr = m.add_reports();
  sr->set_seq(2);
  sr->mutable_report();  // a report with no kind
  *m.add_reports() = Message({3}).reports(0);
  auto batch = b.Build(m, 1);
  ASSERT_TRUE(batch.ok()) << batch.status();
  ASSERT_EQ((*batch)->rows.size(), 3u);
  EXPECT_TRUE((*batch)->rows[0].malformed && (*batch)->rows[0].refused);
  EXPECT_TRUE((*batch)->rows[1].malformed && (*batch)->rows[1].refused);
  EXPECT_FALSE((*batch)->rows[2].malformed || (*batch)->rows[2].refused);
  BatchBuilder d;
  m = Message({});
  m.mutable_identity()->set_agent_id("");
  EXPECT_FALSE(d.Build(m, 1).ok());
  BatchBuilder e;
  m = Message({});
  m.mutable_identity()->set_service(std::string(1000, 's'));
  EXPECT_FALSE(e.Build(m, 1).ok());
}

// A target's thread name of bytes that are not UTF-8 made a report that does not parse: it is
// refused alone (its seq consumed, named in the ack), the rest of the batch is stored.
TEST(BatchBuilderTest, AReportThatDoesNotParseIsRefusedAloneAndTheRestStored) {
  v1::AgentMessageFrames frames;
  *frames.mutable_identity() = Agent("agent-1", "web-1", "shop");
  for (uint64_t seq = 1; seq <= 3; ++seq) {
    v1::SequencedReportBytes* sr = frames.add_reports();
    sr->set_seq(seq);
    v1::Report report = Stall(1, 1, 1, "f");
    if (seq == 2) report.mutable_loop_block()->set_comm("\xff\xfe\x1b]0;x\x07");
    sr->set_report(report.SerializeAsString());  // serializes (and logs) in spite of the bytes
  }
  frames.add_reports()->set_seq(4);
  frames.mutable_reports(3)->set_report("\x0a\xff\xff garbage");
  BatchBuilder b;
  auto batch = b.Build(frames, 5);
  ASSERT_TRUE(batch.ok()) << batch.status();
  ASSERT_EQ((*batch)->rows.size(), 4u);
  EXPECT_FALSE((*batch)->rows[0].refused);
  EXPECT_TRUE((*batch)->rows[1].malformed);
  EXPECT_FALSE((*batch)->rows[2].refused);
  EXPECT_TRUE((*batch)->rows[3].malformed);
  EXPECT_TRUE((*batch)->rows[1].body.empty());
  // The stream goes on: the next message continues after seq 4.
  frames.clear_reports();
  frames.add_reports()->set_seq(5);
  frames.mutable_reports(0)->set_report(Stall(1, 1, 1, "f").SerializeAsString());
  EXPECT_TRUE(b.Build(frames, 6).ok());
}

TEST(BatchBuilderTest, RejectsTooManyReportsInOneMessage) {
  BatchBuilder b;
  v1::AgentMessage m = Message({});
  for (size_t i = 1; i <= kMaxReportsPerMessage + 1; ++i) {
    v1::SequencedReport* sr = m.add_reports();
    sr->set_seq(i);
    sr->mutable_report()->mutable_agent_stats();
  }
  EXPECT_FALSE(b.Build(m, 1).ok());
}

TEST(BatchBuilderTest, StripsAnAgentFieldTheSenderSet) {
  BatchBuilder b;
  v1::AgentMessage m = Message({1});
  m.mutable_reports(0)->mutable_report()->mutable_agent()->set_host("spoofed");
  auto batch = b.Build(m, 1);
  ASSERT_TRUE(batch.ok());
  v1::Report stored;
  ASSERT_TRUE(stored.ParseFromString((*batch)->rows[0].body));
  EXPECT_FALSE(stored.has_agent());
}

TEST(BatchBuilderTest, ReportsDatedOutsideRetentionOrAheadAreRefusedButConsumed) {
  constexpr uint64_t kNow = 1'800'000'000'000'000'000, kMin = 60'000'000'000;
  BatchBuilder b(/*retention_ns=*/24 * 60 * kMin);
  v1::AgentMessage m;
  *m.mutable_identity() = Agent("agent-1", "web-1", "shop");
  uint64_t seq = 0;
  for (uint64_t t : {kNow - kMin, kNow + 9 * kMin, kNow + 11 * kMin, kNow - 25 * 60 * kMin, kNow + 365 * 24 * 60 * kMin}) {
    v1::SequencedReport* sr = m.add_reports();
    sr->set_seq(++seq);
    *sr->mutable_report() = Stall(1, t, 1, "f");
  }
  auto batch = b.Build(m, kNow);
  ASSERT_TRUE(batch.ok()) << batch.status();
  ASSERT_EQ((*batch)->rows.size(), 5u);
  EXPECT_FALSE((*batch)->rows[0].refused);
  EXPECT_FALSE((*batch)->rows[1].refused);  // within 10 minutes ahead (clock skew)
  EXPECT_TRUE((*batch)->rows[2].refused);
  EXPECT_TRUE((*batch)->rows[3].refused);   // older than retention
  EXPECT_TRUE((*batch)->rows[4].refused);   // a year ahead
}

}  // namespace
}  // namespace stallscope::collector
