#include "core/busy_snapshot.h"

#include <sys/syscall.h>

#include <gtest/gtest.h>

#include "core/event_fixtures.h"

namespace stallscope {
namespace {

using testing::AddSlot;
using testing::BusyThread;
using testing::kMs;
using testing::StallEvent;

TEST(SnapshotFromStallEvent, CopiesTimesAndSortsSyscallsLargestFirst) {
  ss_stall_event e = StallEvent(10, 11, 1000 * kMs, 1350 * kMs, 4);
  e.busy.on_cpu_ns = 20 * kMs;
  e.busy.off_cpu_ns = 320 * kMs;
  e.busy.runq_ns = 10 * kMs;
  AddSlot(e.busy, SYS_read, 7, 5 * kMs, 2);
  AddSlot(e.busy, SYS_recvfrom, 9, 300 * kMs, 1);
  e.busy.other_ns = 3 * kMs;
  e.busy.other_count = 40;

  BusySnapshot s = SnapshotFromStallEvent(e);
  EXPECT_EQ(s.pid, 10);
  EXPECT_EQ(s.tid, 11);
  EXPECT_EQ(s.comm, "python3");
  EXPECT_EQ(s.duration_ns(), 350 * kMs);
  EXPECT_FALSE(s.in_progress);
  EXPECT_EQ(s.seq, 4u);
  ASSERT_EQ(s.syscalls.size(), 3u);
  EXPECT_EQ(s.syscalls[0].nr, SYS_recvfrom);
  EXPECT_EQ(s.syscalls[1].nr, SYS_read);
  EXPECT_EQ(s.syscalls[2].nr, -1);  // the "other" bucket
  EXPECT_EQ(s.syscalls[2].count, 40u);
}

TEST(SnapshotFromStallEvent, ThreadExitMidStallIsMarked) {
  ss_stall_event e = StallEvent(10, 12, 0, 500 * kMs, 1);
  e.end_reason = SS_END_THREAD_EXIT;
  e.wait_nr = -1;
  BusySnapshot s = SnapshotFromStallEvent(e);
  EXPECT_TRUE(s.thread_exited);
  EXPECT_EQ(s.wait_nr, -1);
}

TEST(SnapshotFromStallEvent, PicksStackByDominantTime) {
  ss_stall_event e = StallEvent(1, 1, 0, 400 * kMs, 1);
  e.busy.block_stack_len = 2;
  e.busy.block_stack[0] = 0x1000;
  e.busy.block_stack[1] = 0x2000;
  e.busy.cpu_stack_len = 1;
  e.busy.cpu_stack[0] = 0x3000;

  e.busy.off_cpu_ns = 390 * kMs;  // mostly blocked: where it blocked
  BusySnapshot blocked = SnapshotFromStallEvent(e);
  EXPECT_EQ(blocked.stack_kind, StackKind::kBlockingSyscall);
  EXPECT_EQ(blocked.stack, (std::vector<uint64_t>{0x1000, 0x2000}));

  e.busy.off_cpu_ns = 0;
  e.busy.on_cpu_ns = 399 * kMs;  // mostly on CPU: the sample
  BusySnapshot cpu = SnapshotFromStallEvent(e);
  EXPECT_EQ(cpu.stack_kind, StackKind::kCpuSample);
  EXPECT_EQ(cpu.stack, (std::vector<uint64_t>{0x3000}));

  e.busy.cpu_stack_len = 0;  // no sample: fall back to what there is
  EXPECT_EQ(SnapshotFromStallEvent(e).stack_kind, StackKind::kBlockingSyscall);
}

TEST(SnapshotFromStallEvent, StackStopsAtZeroAndIsBounded) {
  ss_stall_event e = StallEvent(1, 1, 0, 200 * kMs, 1);
  e.busy.block_stack_len = 1000;  // corrupt length must not read past the array
  for (int i = 0; i < SS_STACK_DEPTH; ++i) e.busy.block_stack[i] = 0x100 + i;
  e.busy.block_stack[5] = 0;
  EXPECT_EQ(SnapshotFromStallEvent(e).stack.size(), 5u);
}

TEST(SnapshotFromThreadState, OnCpuSliceStillRunningCountsAsOnCpu) {
  ss_thread_state t = BusyThread(5, 5, 1000 * kMs, 3);
  t.busy.on_cpu_ns = 10 * kMs;
  t.last_on_ns = 1100 * kMs;
  t.off_kind = SS_ON_CPU;
  BusySnapshot s = SnapshotFromThreadState(t, 1300 * kMs);
  EXPECT_TRUE(s.in_progress);
  EXPECT_EQ(s.duration_ns(), 300 * kMs);
  EXPECT_EQ(s.on_cpu_ns, 210 * kMs);
  EXPECT_EQ(s.off_cpu_ns, 0u);
}

TEST(SnapshotFromThreadState, BlockedThenWokenSplitsBlockedAndRunQueue) {
  ss_thread_state t = BusyThread(5, 5, 1000 * kMs, 3);
  t.busy.on_cpu_ns = 5 * kMs;
  t.off_kind = SS_OFF_BLOCKED;
  t.last_off_ns = 1005 * kMs;
  t.wakeup_ns = 1200 * kMs;  // woken, not yet on a CPU
  BusySnapshot s = SnapshotFromThreadState(t, 1250 * kMs);
  EXPECT_EQ(s.off_cpu_ns, 195 * kMs);
  EXPECT_EQ(s.runq_ns, 50 * kMs);
  EXPECT_EQ(s.on_cpu_ns + s.off_cpu_ns + s.runq_ns, s.duration_ns());
}

TEST(SnapshotFromThreadState, StaleWakeupFromBeforeTheSleepIsIgnored) {
  ss_thread_state t = BusyThread(5, 5, 1000 * kMs, 3);
  t.off_kind = SS_OFF_BLOCKED;
  t.last_off_ns = 1010 * kMs;
  t.wakeup_ns = 1001 * kMs;  // belongs to an earlier sleep
  BusySnapshot s = SnapshotFromThreadState(t, 1500 * kMs);
  EXPECT_EQ(s.off_cpu_ns, 490 * kMs);
  EXPECT_EQ(s.runq_ns, 0u);
}

TEST(SnapshotFromThreadState, PreemptedThreadWaitsForCpu) {
  ss_thread_state t = BusyThread(5, 5, 1000 * kMs, 3);
  t.busy.on_cpu_ns = 100 * kMs;
  t.off_kind = SS_OFF_RUNNABLE;
  t.last_off_ns = 1100 * kMs;
  BusySnapshot s = SnapshotFromThreadState(t, 1180 * kMs);
  EXPECT_EQ(s.runq_ns, 80 * kMs);
}

// The tornado CPU-burn case: preempted at 35 ms, switched back in without a sched_switch event
// reaching the probes, and on CPU ever since. Its CPU time says so.
TEST(SnapshotFromThreadState, ThreadThatRanAgainUnseenCountsAsOnCpu) {
  ss_thread_state t = BusyThread(5, 5, 1000 * kMs, 3);
  t.busy.on_cpu_ns = 35 * kMs;
  t.off_kind = SS_OFF_RUNNABLE;
  t.last_off_ns = 1035 * kMs;
  t.last_off_exec_ns = 500 * kMs;
  BusySnapshot s = SnapshotFromThreadState(t, 1200 * kMs, 500 * kMs + 164 * kMs);
  EXPECT_EQ(s.on_cpu_ns, 199 * kMs);
  EXPECT_EQ(s.runq_ns, 1 * kMs);
  EXPECT_EQ(s.on_cpu_ns + s.off_cpu_ns + s.runq_ns, s.duration_ns());
  // Without its CPU time, or when it has not run since, the wait is what the kernel says.
  EXPECT_EQ(SnapshotFromThreadState(t, 1200 * kMs).runq_ns, 165 * kMs);
  EXPECT_EQ(SnapshotFromThreadState(t, 1200 * kMs, 500 * kMs).runq_ns, 165 * kMs);
}

TEST(SnapshotFromThreadState, BlockedCallThatReturnedUnseenIsNotInProgress) {
  ss_thread_state t = BusyThread(5, 5, 1000 * kMs, 3);
  t.off_kind = SS_OFF_BLOCKED;
  t.last_off_ns = 1010 * kMs;
  t.wakeup_ns = 1110 * kMs;
  t.last_off_exec_ns = 300 * kMs;
  t.sys_nr = 0;  // read
  t.sys_fd = 7;
  t.sys_blocked = 1;
  t.sys_start_ns = 1010 * kMs;
  BusySnapshot s = SnapshotFromThreadState(t, 1300 * kMs, 300 * kMs + 150 * kMs);
  EXPECT_EQ(s.on_cpu_ns, 150 * kMs);
  EXPECT_EQ(s.off_cpu_ns, 100 * kMs);  // asleep until woken
  EXPECT_EQ(s.runq_ns, 40 * kMs);      // woken, then waited for a CPU until it ran
  EXPECT_EQ(s.asleep_since_ns, 0u);
  ASSERT_EQ(s.syscalls.size(), 1u);
  EXPECT_FALSE(s.syscalls[0].in_progress);
  EXPECT_EQ(s.syscalls[0].total_ns, 140 * kMs);
}

TEST(SnapshotFromThreadState, InFlightSyscallIsAddedAndMarked) {
  ss_thread_state t = BusyThread(5, 5, 1000 * kMs, 3);
  AddSlot(t.busy, SYS_recvfrom, 9, 30 * kMs, 1);
  t.busy.longest_block_ns = 30 * kMs;
  t.off_kind = SS_OFF_BLOCKED;
  t.last_off_ns = 1040 * kMs;
  t.sys_nr = SYS_recvfrom;  // the same (nr, fd) again: merged into the slot
  t.sys_fd = 9;
  t.sys_start_ns = 1040 * kMs;
  t.sys_blocked = 1;
  t.sys_stack_len = 1;
  t.sys_stack[0] = 0xabc;
  BusySnapshot s = SnapshotFromThreadState(t, 1540 * kMs);
  ASSERT_EQ(s.syscalls.size(), 1u);
  EXPECT_EQ(s.syscalls[0].total_ns, 530 * kMs);
  EXPECT_EQ(s.syscalls[0].count, 2u);
  EXPECT_TRUE(s.syscalls[0].in_progress);
  // The call it is stuck in now is the longest block: its stack explains the stall.
  EXPECT_EQ(s.stack, std::vector<uint64_t>{0xabc});
  // ... and the snapshot says since when, to check later that it is still in that call.
  EXPECT_EQ(s.asleep_since_ns, 1040 * kMs);
}

TEST(SnapshotFromThreadState, OnCpuThreadIsNotAsleep) {
  ss_thread_state t = BusyThread(5, 5, 1000 * kMs, 3);
  t.off_kind = SS_ON_CPU;
  t.last_on_ns = 1000 * kMs;
  BusySnapshot s = SnapshotFromThreadState(t, 1200 * kMs);
  EXPECT_EQ(s.asleep_since_ns, 0u);
}

TEST(SnapshotFromThreadState, NestedPollInsideTheLoopIsAnOrdinaryBlockingCall) {
  // A handler's socket with a timeout: Python waits in poll() on the upstream fd while the
  // loop's epoll wait is elsewhere. The busy period continues; poll is the blocking call.
  ss_thread_state t = BusyThread(5, 5, 1000 * kMs, 3);
  t.off_kind = SS_OFF_BLOCKED;
  t.last_off_ns = 1001 * kMs;
  t.sys_nr = SYS_poll;
  t.sys_fd = 12;
  t.sys_start_ns = 1001 * kMs;
  t.sys_blocked = 1;
  BusySnapshot s = SnapshotFromThreadState(t, 1401 * kMs);
  EXPECT_EQ(s.wait_nr, SYS_epoll_wait);
  ASSERT_EQ(s.syscalls.size(), 1u);
  EXPECT_EQ(s.syscalls[0].nr, SYS_poll);
  EXPECT_EQ(s.syscalls[0].fd, 12);
  EXPECT_EQ(s.syscalls[0].total_ns, 400 * kMs);
}

TEST(SnapshotFromThreadState, ClockBehindStartGivesZeroNotWraparound) {
  ss_thread_state t = BusyThread(5, 5, 1000 * kMs, 3);
  BusySnapshot s = SnapshotFromThreadState(t, 999 * kMs);
  EXPECT_EQ(s.duration_ns(), 0u);
  EXPECT_EQ(s.on_cpu_ns, 0u);
}

}  // namespace
}  // namespace stallscope
