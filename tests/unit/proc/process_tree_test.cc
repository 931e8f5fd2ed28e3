// /proc readers of process_tree.h, against a live thread and a made-up /proc.
#include "proc/process_tree.h"

#include "proc/proc_stat.h"

#include <gtest/gtest.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <string>

namespace stallscope {
namespace {

uint64_t ThreadCpuNs() {
  timespec ts{};
  clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
  return static_cast<uint64_t>(ts.tv_sec) * 1'000'000'000 + static_cast<uint64_t>(ts.tv_nsec);
}

TEST(ReadThreadCpuTimeNs, GrowsAsThisThreadComputes) {
  pid_t pid = getpid(), tid = static_cast<pid_t>(syscall(SYS_gettid));
  std::optional<uint64_t> before = ReadThreadCpuTimeNs(pid, tid);
  ASSERT_TRUE(before.has_value());
  // Spin for 30 ms of this thread's own CPU time (however busy the machine is).
  uint64_t start = ThreadCpuNs();
  volatile uint64_t sink = 0;
  while (ThreadCpuNs() - start < 30'000'000) sink = sink + 1;
  std::optional<uint64_t> after = ReadThreadCpuTimeNs(pid, tid);
  ASSERT_TRUE(after.has_value());
  // schedstat is the same scheduler clock, up to a tick (4 ms at HZ=250) behind for a running task.
  EXPECT_GE(*after - *before, 20'000'000u);
}

TEST(ReadThreadCpuTimeNs, MissingOrGarbledIsNullopt) {
  std::filesystem::path root = std::filesystem::temp_directory_path() / "stallscope-schedstat-test";
  std::filesystem::create_directories(root / "7/task/8");
  std::ofstream(root / "7/task/8/schedstat") << "garbage 1 2\n";
  EXPECT_FALSE(ReadThreadCpuTimeNs(7, 8, root.string()).has_value());
  EXPECT_FALSE(ReadThreadCpuTimeNs(7, 9, root.string()).has_value());
  std::ofstream(root / "7/task/8/schedstat") << "123456789 42 3\n";
  EXPECT_EQ(ReadThreadCpuTimeNs(7, 8, root.string()), 123456789u);
  std::filesystem::remove_all(root);
}

// A real process names itself with a newline and a ')' (prctl(PR_SET_NAME) takes any bytes
// but NUL): it is still alive with its start time (before, the first line of its stat held no
// fields, and the agent took it for gone and stopped tracking it), and its name comes back
// whole as safe text.
TEST(ReadProcessStat, AHostileNameWithANewlineDoesNotHideTheProcess) {
  int ready[2];
  ASSERT_EQ(pipe(ready), 0);
  pid_t child = fork();
  ASSERT_GE(child, 0);
  if (child == 0) {
    prctl(PR_SET_NAME, "\xff)\nLOOP B) S 1", 0, 0, 0);
    (void)!write(ready[1], "x", 1);
    pause();
    _exit(0);
  }
  char c;
  ASSERT_EQ(read(ready[0], &c, 1), 1);
  std::optional<ProcessStat> start = ReadProcessStat(child);
  std::string comm = ReadComm(child);
  kill(child, SIGKILL);
  waitpid(child, nullptr, 0);
  close(ready[0]);
  close(ready[1]);
  ASSERT_TRUE(start.has_value());
  EXPECT_FALSE(start->exited());
  EXPECT_GT(start->start_ticks, 0u);
  EXPECT_EQ(comm, "\xef\xbf\xbd)\\nLOOP B) S 1");
}

}  // namespace
}  // namespace stallscope
