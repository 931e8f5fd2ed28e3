#include "stream/report_buffer.h"

#include <gtest/gtest.h>

namespace stallscope {
namespace {

std::vector<uint64_t> Seqs(const std::vector<ReportBuffer::Entry>& entries) {
  std::vector<uint64_t> out;
  for (const auto& e : entries) out.push_back(e.seq);
  return out;
}

TEST(ReportBufferTest, SendsInOrderInBatchesAndForgetsWhatIsAcked) {
  ReportBuffer b(100);
  for (int i = 0; i < 5; ++i) EXPECT_EQ(b.Push("r"), static_cast<uint64_t>(i + 1));
  EXPECT_EQ(Seqs(b.TakeUnsent(2, 1 << 20)), (std::vector<uint64_t>{1, 2}));
  EXPECT_EQ(Seqs(b.TakeUnsent(10, 1 << 20)), (std::vector<uint64_t>{3, 4, 5}));
  EXPECT_FALSE(b.has_unsent());
  EXPECT_EQ(b.pending(), 5u);
  b.Ack(3);
  EXPECT_EQ(b.pending(), 2u);
  EXPECT_EQ(b.acked(), 3u);
  b.Ack(2);  // late, older ack: nothing changes
  EXPECT_EQ(b.pending(), 2u);
}

TEST(ReportBufferTest, ANewStreamResendsEverythingUnacknowledged) {
  ReportBuffer b(100);
  for (int i = 0; i < 4; ++i) b.Push("r");
  b.TakeUnsent(10, 1 << 20);
  b.Ack(1);
  b.Rewind();
  EXPECT_EQ(Seqs(b.TakeUnsent(10, 1 << 20)), (std::vector<uint64_t>{2, 3, 4}));
  // The collector's first answer may say it already has more than was acked.
  b.Rewind();
  b.Ack(3);
  EXPECT_EQ(Seqs(b.TakeUnsent(10, 1 << 20)), (std::vector<uint64_t>{4}));
}

TEST(ReportBufferTest, WhenFullTheOldestAreDroppedAndCounted) {
  ReportBuffer b(3);
  for (int i = 0; i < 5; ++i) b.Push("r");
  EXPECT_EQ(b.dropped(), 2u);
  EXPECT_EQ(b.pending(), 3u);
  EXPECT_EQ(Seqs(b.TakeUnsent(10, 1 << 20)), (std::vector<uint64_t>{3, 4, 5}));
  EXPECT_EQ(b.last_seq(), 5u);
}

TEST(ReportBufferTest, BatchesStopAtTheByteLimitButNeverComeBackEmpty) {
  ReportBuffer b(10);
  b.Push(std::string(600, 'a'));
  b.Push(std::string(600, 'b'));
  EXPECT_EQ(b.TakeUnsent(10, 1000).size(), 1u);
  EXPECT_EQ(b.TakeUnsent(10, 100).size(), 1u);  // larger than the limit alone: still sent
  EXPECT_TRUE(b.TakeUnsent(10, 1000).empty());
}

// The collector names reports it could not read in its ack, or refuses a whole batch: they
// leave the buffer counted as rejected, not acknowledged, and are never sent again.
TEST(ReportBufferTest, RejectedReportsAreCountedApartAndNeverResent) {
  ReportBuffer b(100);
  for (int i = 0; i < 10; ++i) b.Push("r");
  b.TakeUnsent(10, 1 << 20);
  EXPECT_EQ(b.Ack(4, {2, 3}), 2u);
  EXPECT_EQ(b.acked(), 2u);
  EXPECT_EQ(b.rejected(), 2u);
  EXPECT_EQ(b.Reject(5, 7), 3u);  // a batch refused whole
  EXPECT_EQ(b.Reject(9, 9), 1u);  // one report that does not parse
  EXPECT_EQ(b.rejected(), 6u);
  b.Rewind();
  std::vector<ReportBuffer::Entry> resent = b.TakeUnsent(10, 1 << 20);
  ASSERT_EQ(resent.size(), 2u);
  EXPECT_EQ(resent[0].seq, 8u);
  EXPECT_EQ(resent[1].seq, 10u);
}

}  // namespace
}  // namespace stallscope
