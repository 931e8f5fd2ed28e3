// Which in-progress Python stack a stall's final report shows: the one matching its native frames.
#include <gtest/gtest.h>

#include <string>

#include "attach/python_stacks.h"

namespace stallscope {
namespace {

StallCaptures::Capture Read(const std::string& function, uint64_t at_ms, uint64_t asleep_ms) {
  StallCaptures::Capture c;
  c.status = v1::PYTHON_STACK_CAPTURED;
  c.frames.emplace_back().set_function(function);
  c.at_ns = at_ms * 1000000;
  c.asleep_for_ns = asleep_ms * 1000000;
  return c;
}

StallCaptures::Capture Failed(v1::PythonStackStatus status) {
  StallCaptures::Capture c;
  c.status = status;
  return c;
}

std::string Chosen(const StallCaptures& captures, StackKind kind) {
  const StallCaptures::Capture* c = captures.Choose(kind);
  return c ? c->frames.at(0).function() : "none";
}

// The tornado case: asleep in time.sleep at 100 ms, then read again at 300 ms while the handler
// was writing its response; the report's native frames are the sleep's.
TEST(StallCaptures, BlockingStallShowsTheReadTakenAsleepNotTheLaterOne) {
  StallCaptures captures;
  captures.Offer(Read("run_stall", 100, 100));
  captures.Offer(Read("write_headers", 300, 0));
  EXPECT_EQ(Chosen(captures, StackKind::kBlockingSyscall), "run_stall");
}

TEST(StallCaptures, BlockingStallShowsTheLongestSleepSeen) {
  StallCaptures captures;
  captures.Offer(Read("short_read", 100, 2));
  captures.Offer(Read("long_query", 200, 90));
  captures.Offer(Read("another_short_read", 300, 5));
  EXPECT_EQ(Chosen(captures, StackKind::kBlockingSyscall), "long_query");
}

TEST(StallCaptures, CpuStallShowsTheFirstReadOnCpu) {
  StallCaptures captures;
  captures.Offer(Read("hot_loop", 100, 0));
  captures.Offer(Read("serialize_response", 300, 0));
  EXPECT_EQ(Chosen(captures, StackKind::kCpuSample), "hot_loop");
}

TEST(StallCaptures, FallsBackToTheOtherKindWhenNoneMatches) {
  StallCaptures on_cpu_only;
  on_cpu_only.Offer(Read("handler", 100, 0));
  EXPECT_EQ(Chosen(on_cpu_only, StackKind::kBlockingSyscall), "handler");
  StallCaptures asleep_only;
  asleep_only.Offer(Read("sleeper", 100, 50));
  EXPECT_EQ(Chosen(asleep_only, StackKind::kCpuSample), "sleeper");
  EXPECT_EQ(Chosen(asleep_only, StackKind::kNone), "sleeper");
}

TEST(StallCaptures, AFailedReadNeverReplacesASuccessfulOne) {
  StallCaptures captures;
  captures.Offer(Read("run_stall", 100, 100));
  captures.Offer(Failed(v1::PYTHON_STACK_NOT_CAPTURED));
  EXPECT_EQ(Chosen(captures, StackKind::kBlockingSyscall), "run_stall");
}

TEST(StallCaptures, OnlyFailuresSayWhy) {
  StallCaptures captures;
  captures.Offer(Failed(v1::PYTHON_STACK_READ_FAILED));
  EXPECT_EQ(captures.Choose(StackKind::kBlockingSyscall), nullptr);
  EXPECT_EQ(captures.failure(), v1::PYTHON_STACK_READ_FAILED);
}

TEST(PythonStackReasons, AreShortPhrasesWithoutPidsOrPaths) {
  EXPECT_EQ(PythonOpenFailureReason(absl::UnimplementedError(
                "CPython 3.15.0 layout unknown (pid 42, /usr/bin/python3.15): its offsets...")),
            "CPython 3.15.0 layout unknown");
  EXPECT_EQ(PythonOpenFailureReason(absl::UnimplementedError(
                "CPython 3.15.0 layout unknown: its _Py_DebugOffsets do not match")),
            "CPython 3.15.0 layout unknown");
  EXPECT_EQ(PythonOpenFailureReason(absl::NotFoundError(
                "process 42 is not CPython: no _PyRuntime in /usr/bin/node or a mapped libpython")),
            "_PyRuntime symbol not found");
  EXPECT_EQ(PythonOpenFailureReason(absl::PermissionDeniedError("cannot read /proc/42/maps")),
            "target memory unreadable: EPERM");
  EXPECT_EQ(PythonOpenFailureReason(absl::UnavailableError(
                "interpreter on a FUSE mount, not read (its daemon may never answer): pid 42")),
            "interpreter on a FUSE mount, not read");
  EXPECT_EQ(PythonOpenFailureReason(absl::NotFoundError("process 42: no such process")),
            "process exited");
  EXPECT_EQ(PythonReadFailureReason(absl::UnavailableError("changed during each of 3 reads")),
            "stack changed during every read");
  EXPECT_EQ(PythonReadFailureReason(
                absl::NotFoundError("pid 42 has no Python thread state for thread 43")),
            "thread has no Python thread state");
  EXPECT_EQ(PythonReadFailureReason(absl::DataLossError("pid 42: unreadable address 0x10")),
            "target memory unreadable: EFAULT");
}

}  // namespace
}  // namespace stallscope
