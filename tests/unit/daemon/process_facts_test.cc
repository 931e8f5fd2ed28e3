// /proc/PID/stat as a fake proc root holds it: the parser must reject, not throw on, files the
// kernel would never write (found by the proc_pid fuzzer: a stat ending at the ')' of comm).
#include "daemon/process_facts.h"

#include <gtest/gtest.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>

namespace stallscope {
namespace {

namespace fs = std::filesystem;

class ProcessStatTest : public ::testing::Test {
 protected:
  void SetUp() override {
    root_ = fs::temp_directory_path() / ("stallscope-stat-" + std::to_string(getpid()));
    fs::create_directories(root_ / "42");
  }
  void TearDown() override { fs::remove_all(root_); }
  void WriteStat(const std::string& text) { std::ofstream(root_ / "42" / "stat") << text; }

  fs::path root_;
};

TEST_F(ProcessStatTest, ParsesARealLineWithParenthesesInComm) {
  WriteStat("42 (a) b)) S 7 42 42 0 -1 4194304 1301 0 0 0 1 0 0 0 20 0 1 0 127597 14622720 2441\n");
  auto st = ReadProcessStat(42, root_);
  ASSERT_TRUE(st.has_value());
  EXPECT_EQ(st->comm, "a) b)");
  EXPECT_EQ(st->ppid, 7);
  EXPECT_EQ(st->start_ticks, 127597u);
}

TEST_F(ProcessStatTest, TruncatedFilesAreRejected) {
  for (const char* text : {"42 (python3)", "42 (python3) ", "42 (python3) S 7", "(", ")", ""}) {
    WriteStat(text);
    EXPECT_FALSE(ReadProcessStat(42, root_).has_value()) << text;
  }
}

TEST_F(ProcessStatTest, StateKernelThreadsAndAHostileNameFromOneParser) {
  // One parser for the whole agent (proc/proc_stat.h): the state, the kernel-thread flag, and
  // a name the process chose (invalid UTF-8, an escape, a newline, a ')') made safe.
  auto st = ParseProcessStat(42, "42 (\xff\x1b]0;x\x07\n) S) Z 1 0 0 0 -1 2097152 0 0 0 0 0 0 0 0 20 0 1 0 99 0 0\n");
  ASSERT_TRUE(st.has_value());
  EXPECT_EQ(st->state, 'Z');
  EXPECT_TRUE(st->exited());
  EXPECT_TRUE(st->kernel_thread);
  EXPECT_EQ(st->ppid, 1);
  EXPECT_EQ(st->start_ticks, 99u);
  EXPECT_EQ(st->comm.find('\x1b'), std::string::npos) << st->comm;
  EXPECT_EQ(st->comm.find('\n'), std::string::npos) << st->comm;
  EXPECT_FALSE(ParseProcessStat(42, "42 (x) SS 1 0 0 0 -1 0 0 0 0 0 0 0 0 0 20 0 1 0 99 0").has_value());
}

}  // namespace
}  // namespace stallscope
