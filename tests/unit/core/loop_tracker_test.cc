#include "core/loop_tracker.h"

#include <sys/syscall.h>

#include <gtest/gtest.h>

#include <map>

#include "bpf/syscall_table.h"
#include "core/event_fixtures.h"

namespace stallscope {
namespace {

using testing::BusyThread;
using testing::kMs;
using testing::StallEvent;
using testing::ThreadState;

// A recorded world: which (pid, epfd) wait sets show a loop, and what was reported.
class LoopTrackerTest : public ::testing::Test {
 protected:
  LoopTrackerTest()
      : classes_(BuildSyscallClassTable()),
        tracker_(Options(),
                 [this](pid_t pid, int epfd) {
                   probes_++;
                   return loops_[{pid, epfd}];
                 },
                 [this](int nr) { return nr >= 0 && nr < SS_SYSCALL_TABLE_SIZE ? classes_[nr] : 0; },
                 [this](const BusySnapshot& s) { emitted_.push_back(s); }) {}

  static LoopTracker::Options Options() {
    LoopTracker::Options o;
    o.threshold_ns = 100 * kMs;
    o.pending_grace_ns = 2000 * kMs;
    o.probe_interval_ns = 250 * kMs;
    return o;
  }

  std::array<uint8_t, SS_SYSCALL_TABLE_SIZE> classes_;
  std::map<std::pair<pid_t, int>, bool> loops_;
  int probes_ = 0;
  std::vector<BusySnapshot> emitted_;
  LoopTracker tracker_;
};

TEST_F(LoopTrackerTest, ProvenLoopStallIsReportedAtOnce) {
  loops_[{10, 6}] = true;
  tracker_.OnStallEnded(SnapshotFromStallEvent(StallEvent(10, 10, 0, 300 * kMs, 1)), 300 * kMs);
  ASSERT_EQ(emitted_.size(), 1u);
  EXPECT_FALSE(emitted_[0].in_progress);
  EXPECT_EQ(tracker_.stats().final_reported, 1u);
}

TEST_F(LoopTrackerTest, UnprovenStallIsHeldUntilTheWaitSetShowsALoop) {
  // Tornado reads the request inline: the connection joins the epoll set only afterwards.
  tracker_.OnStallEnded(SnapshotFromStallEvent(StallEvent(10, 10, 0, 300 * kMs, 1)), 300 * kMs);
  EXPECT_TRUE(emitted_.empty());
  tracker_.Tick(400 * kMs);
  EXPECT_TRUE(emitted_.empty());
  loops_[{10, 6}] = true;
  tracker_.Tick(700 * kMs);
  ASSERT_EQ(emitted_.size(), 1u);
  EXPECT_TRUE(tracker_.IsKnownLoop(10));
}

TEST_F(LoopTrackerTest, KernelEvidenceOfAddedConnectionsProvesALoop) {
  // Tornado answering a "Connection: close" request: the connection was added to the epoll set
  // and removed again within the stall, so no wait set ever shows it; the kernel saw the add.
  ss_stall_event e = StallEvent(10, 10, 0, 300 * kMs, 1);
  e.flags = SS_STALL_F_ADDS_CONNECTIONS;
  tracker_.OnStallEnded(SnapshotFromStallEvent(e), 300 * kMs);
  ASSERT_EQ(emitted_.size(), 1u);
  EXPECT_TRUE(tracker_.IsKnownLoop(10));
}

TEST_F(LoopTrackerTest, IdleThreadWithKernelEvidenceIsALoopWithoutProbing) {
  ss_thread_state idle = ThreadState(10, 10);
  idle.in_wait = 1;
  idle.adds_connections = 1;
  tracker_.OnThreadStates({idle}, 100 * kMs);
  EXPECT_TRUE(tracker_.IsKnownLoop(10));
  EXPECT_EQ(probes_, 0);
}

TEST_F(LoopTrackerTest, SyncWorkerBusyPeriodsAreNeverReported) {
  // gunicorn sync: select() on the listener and a pipe; serving a request is not a stall.
  ss_stall_event e = StallEvent(20, 20, 0, 300 * kMs, 1);
  e.wait_nr = SYS_pselect6;
  e.wait_fd = 5;
  tracker_.OnStallEnded(SnapshotFromStallEvent(e), 300 * kMs);
  tracker_.Tick(5000 * kMs);
  tracker_.Flush(6000 * kMs);
  EXPECT_TRUE(emitted_.empty());
  EXPECT_EQ(tracker_.stats().not_loops, 1u);
  EXPECT_EQ(probes_, 0);  // nothing to read for select()
}

TEST_F(LoopTrackerTest, UnprovenStallExpiresAfterGrace) {
  tracker_.OnStallEnded(SnapshotFromStallEvent(StallEvent(10, 10, 0, 300 * kMs, 1)), 300 * kMs);
  tracker_.Tick(2400 * kMs);
  EXPECT_TRUE(emitted_.empty());
  EXPECT_EQ(tracker_.stats().not_loops, 1u);
  loops_[{10, 6}] = true;  // too late for that stall
  tracker_.Tick(3000 * kMs);
  EXPECT_TRUE(emitted_.empty());
}

TEST_F(LoopTrackerTest, IdleWaitersAreClassifiedBeforeTheirFirstStall) {
  loops_[{10, 6}] = true;
  ss_thread_state idle = ThreadState(10, 10);
  idle.in_wait = 1;
  tracker_.OnThreadStates({idle}, 100 * kMs);
  EXPECT_TRUE(tracker_.IsKnownLoop(10));
}

TEST_F(LoopTrackerTest, InProgressReportedAtThresholdThenOnDoubling) {
  loops_[{10, 6}] = true;
  ss_thread_state t = BusyThread(10, 10, 1000 * kMs, 7);
  tracker_.OnThreadStates({t}, 1050 * kMs);  // under the threshold
  EXPECT_TRUE(emitted_.empty());
  tracker_.OnThreadStates({t}, 1150 * kMs);
  ASSERT_EQ(emitted_.size(), 1u);
  EXPECT_TRUE(emitted_[0].in_progress);
  EXPECT_EQ(emitted_[0].duration_ns(), 150 * kMs);
  tracker_.OnThreadStates({t}, 1250 * kMs);  // 250 < 2 x 150: no new report
  EXPECT_EQ(emitted_.size(), 1u);
  tracker_.OnThreadStates({t}, 1310 * kMs);  // 310 >= 300
  EXPECT_EQ(emitted_.size(), 2u);
  // Then the final one, with the same seq.
  tracker_.OnStallEnded(SnapshotFromStallEvent(StallEvent(10, 10, 1000 * kMs, 1400 * kMs, 7)), 1400 * kMs);
  ASSERT_EQ(emitted_.size(), 3u);
  EXPECT_FALSE(emitted_[2].in_progress);
  EXPECT_EQ(emitted_[2].seq, emitted_[0].seq);
  EXPECT_EQ(tracker_.stats().in_progress_reported, 2u);
}

TEST_F(LoopTrackerTest, EarlyReadOnceAtAQuarterOfTheThresholdWithoutAReport) {
  loops_[{10, 6}] = true;
  std::vector<BusySnapshot> early;
  tracker_.SetEarlyRead([&](const BusySnapshot& s) { early.push_back(s); });
  ss_thread_state t = BusyThread(10, 10, 1000 * kMs, 7);
  tracker_.OnThreadStates({t}, 1020 * kMs);  // under a quarter: nothing
  EXPECT_TRUE(early.empty());
  tracker_.OnThreadStates({t}, 1060 * kMs);
  ASSERT_EQ(early.size(), 1u);
  EXPECT_EQ(early[0].seq, 7u);
  EXPECT_EQ(early[0].duration_ns(), 60 * kMs);
  EXPECT_TRUE(emitted_.empty()) << "no report under the threshold";
  tracker_.OnThreadStates({t}, 1090 * kMs);  // once per busy period
  EXPECT_EQ(early.size(), 1u);
  ss_thread_state next = BusyThread(10, 10, 2000 * kMs, 8);
  tracker_.OnThreadStates({next}, 2070 * kMs);
  EXPECT_EQ(early.size(), 2u);
  // A thread that is no loop is never read.
  ss_thread_state worker = BusyThread(20, 20, 1000 * kMs, 3);
  worker.last_wait_fd = 9;
  tracker_.OnThreadStates({worker}, 1070 * kMs);
  EXPECT_EQ(early.size(), 2u);
}

TEST_F(LoopTrackerTest, NextBusyPeriodStartsItsOwnInProgressSeries) {
  loops_[{10, 6}] = true;
  tracker_.OnThreadStates({BusyThread(10, 10, 10 * kMs, 1)}, 160 * kMs);
  tracker_.OnThreadStates({BusyThread(10, 10, 1000 * kMs, 2)}, 1150 * kMs);
  ASSERT_EQ(emitted_.size(), 2u);
  EXPECT_EQ(emitted_[1].seq, 2u);
}

TEST_F(LoopTrackerTest, ThreadExitMidStallOfAKnownLoopIsReported) {
  loops_[{10, 6}] = true;
  ss_thread_state idle = ThreadState(10, 11);
  idle.in_wait = 1;
  tracker_.OnThreadStates({idle}, 0);
  ss_stall_event e = StallEvent(10, 11, 100 * kMs, 700 * kMs, 3);
  e.end_reason = SS_END_THREAD_EXIT;
  e.wait_nr = -1;
  e.wait_fd = -1;
  tracker_.OnStallEnded(SnapshotFromStallEvent(e), 700 * kMs);
  ASSERT_EQ(emitted_.size(), 1u);
  EXPECT_TRUE(emitted_[0].thread_exited);
}

TEST_F(LoopTrackerTest, ReusedThreadIdDoesNotInheritAVerdict) {
  loops_[{10, 6}] = true;
  ss_thread_state idle = ThreadState(10, 10);
  idle.in_wait = 1;
  tracker_.OnThreadStates({idle}, 0);
  ASSERT_TRUE(tracker_.IsKnownLoop(10));
  tracker_.ForgetProcess(10);
  EXPECT_FALSE(tracker_.IsKnownLoop(10));
}

TEST_F(LoopTrackerTest, ProbesAreRateLimitedPerThread) {
  ss_thread_state idle = ThreadState(10, 10);
  idle.in_wait = 1;
  for (uint64_t t = 0; t < 1000 * kMs; t += 50 * kMs) tracker_.OnThreadStates({idle}, t);
  EXPECT_LE(probes_, 4);  // every 250 ms, not every scan
}

TEST_F(LoopTrackerTest, IdleSyncWorkersAreProbedWithBackoff) {
  // An idle gunicorn worker's wait set never shows a loop: reading it every 250 ms forever
  // would cost the agent a few % of a core.
  ss_thread_state idle = ThreadState(10, 10);
  idle.in_wait = 1;
  for (uint64_t t = 0; t < 60'000 * kMs; t += 100 * kMs) tracker_.OnThreadStates({idle}, t);
  EXPECT_LE(probes_, 12);
  EXPECT_GE(probes_, 6);
}

TEST_F(LoopTrackerTest, HeldStallIsReprobedAtTheShortIntervalEvenAfterBackoff) {
  ss_thread_state idle = ThreadState(10, 10);
  idle.in_wait = 1;
  for (uint64_t t = 0; t < 20'000 * kMs; t += 100 * kMs) tracker_.OnThreadStates({idle}, t);
  tracker_.OnStallEnded(SnapshotFromStallEvent(StallEvent(10, 10, 20'000 * kMs, 20'300 * kMs, 9)),
                        20'300 * kMs);
  loops_[{10, 6}] = true;  // evidence appears shortly after
  tracker_.Tick(20'600 * kMs);
  EXPECT_EQ(emitted_.size(), 1u);
}

TEST_F(LoopTrackerTest, FlushJudgesHeldStallsOnce) {
  tracker_.OnStallEnded(SnapshotFromStallEvent(StallEvent(10, 10, 0, 300 * kMs, 1)), 300 * kMs);
  loops_[{10, 6}] = true;
  tracker_.Flush(310 * kMs);
  EXPECT_EQ(emitted_.size(), 1u);
  tracker_.Flush(320 * kMs);
  EXPECT_EQ(emitted_.size(), 1u);
}

}  // namespace
}  // namespace stallscope
