#include "daemon/memory_guard.h"

#include <gtest/gtest.h>

namespace stallscope {
namespace {

TEST(MemoryGuardTest, ShedsInStepsWithHysteresis) {
  MemoryGuard g(1000);
  EXPECT_EQ(g.Update(500), ShedLevel::kNone);
  EXPECT_EQ(g.Update(600), ShedLevel::kDropCaches);
  EXPECT_EQ(g.Update(950), ShedLevel::kNoNewProcesses);  // jumps straight up
  EXPECT_EQ(g.raised(), 3u);
  EXPECT_EQ(g.Update(870), ShedLevel::kNoNewProcesses);  // within 5 points of 90%
  EXPECT_EQ(g.Update(840), ShedLevel::kNoPythonStacks);
  EXPECT_EQ(g.Update(100), ShedLevel::kNone);
}

TEST(MemoryGuardTest, ReadsThisProcess) {
  EXPECT_GT(SelfRssBytes(), 1u << 20);
  EXPECT_GE(SelfCpuSeconds(), 0.0);
}

}  // namespace
}  // namespace stallscope
