// /proc readers of process_tree.h, against a live thread and a made-up /proc.
#include "proc/process_tree.h"

#include <gtest/gtest.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <string>

namespace stallscope {
namespace {

TEST(ReadThreadCpuTimeNs, GrowsWhileThisThreadComputes) {
  pid_t pid = getpid(), tid = static_cast<pid_t>(syscall(SYS_gettid));
  std::optional<uint64_t> before = ReadThreadCpuTimeNs(pid, tid);
  ASSERT_TRUE(before.has_value());
  volatile uint64_t sink = 0;
  auto until = std::chrono::steady_clock::now() + std::chrono::milliseconds(30);
  while (std::chrono::steady_clock::now() < until) sink = sink + 1;
  std::optional<uint64_t> after = ReadThreadCpuTimeNs(pid, tid);
  ASSERT_TRUE(after.has_value());
  EXPECT_GE(*after - *before, 10'000'000u);  // at least a third of the 30 ms spun
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

}  // namespace
}  // namespace stallscope
