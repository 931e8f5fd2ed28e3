// PythonStacks on a live interpreter: a stall's final report gets the frames read while it was
// in progress, even when the thread's next stall was read in progress before that final came.
#include "attach/python_stacks.h"

#include <gtest/gtest.h>

#include "python/live_python.h"

namespace stallscope {
namespace {

BusySnapshot Stall(pid_t pid, uint32_t seq) {
  BusySnapshot s;
  s.pid = pid;
  s.tid = pid;
  s.seq = seq;
  s.start_kernel_ns = 1'000'000'000ull * seq;
  s.end_kernel_ns = s.start_kernel_ns + 300'000'000;
  s.stack_kind = StackKind::kBlockingSyscall;
  return s;
}

TEST(PythonStacksTest, AFinalHeldPastTheNextStallKeepsItsOwnFrames) {
  auto app = testing::LivePython::Start(testing::kDebianPython,
                                        "import time\nprint('READY', flush=True)\ntime.sleep(60)  # LINE:sleep\n",
                                        "sleeper.py");
  if (!app) GTEST_SKIP() << testing::kDebianPython << " did not start";
  ASSERT_TRUE(app->WaitForLine("READY"));
  PythonStacks stacks([](const BusySnapshot&) { return true; });
  v1::LoopBlock first_in_progress, second_in_progress, first_final;
  stacks.OnInProgress(Stall(app->pid(), 1), first_in_progress);
  if (first_in_progress.python_stack_status() != v1::PYTHON_STACK_CAPTURED)
    GTEST_SKIP() << "Python stacks not readable here: " << first_in_progress.python_stack_status();
  ASSERT_GT(first_in_progress.stack_size(), 0);
  stacks.OnInProgress(Stall(app->pid(), 2), second_in_progress);  // the next stall, read first
  stacks.OnFinal(Stall(app->pid(), 1), first_final);
  EXPECT_EQ(first_final.python_stack_status(), v1::PYTHON_STACK_CAPTURED);
  ASSERT_EQ(first_final.stack_size(), first_in_progress.stack_size());
  EXPECT_EQ(first_final.stack(0).function(), first_in_progress.stack(0).function());
  EXPECT_EQ(first_final.stack(0).line(), first_in_progress.stack(0).line());
}

TEST(PythonStacksTest, FramesWithoutAnyNameSayWhy) {
  auto frame = [](v1::Frame::Kind kind, const char* function) {
    v1::Frame f;
    f.set_kind(kind);
    f.set_function(function);
    return f;
  };
  EXPECT_EQ(UnnamedFramesReason({}), "");
  EXPECT_EQ(UnnamedFramesReason({frame(v1::Frame::NATIVE, "clock_nanosleep")}), "");
  EXPECT_EQ(UnnamedFramesReason({frame(v1::Frame::NATIVE, "clock_nanosleep"),
                                 frame(v1::Frame::PYTHON, ""), frame(v1::Frame::PYTHON, "")}),
            kPythonNamesUnreadableReason);
  // One name read: the stack says something, blanks are only some frames'.
  EXPECT_EQ(UnnamedFramesReason({frame(v1::Frame::PYTHON, ""), frame(v1::Frame::PYTHON, "main")}),
            "");
}

}  // namespace
}  // namespace stallscope
