#include "core/clock.h"

#include <time.h>

#include <cstdlib>

#include <gtest/gtest.h>

namespace stallscope {
namespace {

TEST(KernelClock, FixedOffsetConverts) {
  KernelClock clock(1'700'000'000'000'000'000);
  EXPECT_EQ(clock.ToUnixNs(5'000'000'000), 1'700'000'005'000'000'000u);
}

TEST(KernelClock, MeasuredOffsetMatchesTheRealtimeClock) {
  KernelClock clock = KernelClock::Measure();
  timespec real{};
  clock_gettime(CLOCK_REALTIME, &real);
  uint64_t real_ns = static_cast<uint64_t>(real.tv_sec) * 1'000'000'000 + real.tv_nsec;
  uint64_t converted = clock.ToUnixNs(KernelClock::NowKernelNs());
  // Kernel timestamps become wall-clock times a user can match with application logs.
  EXPECT_LT(std::llabs(static_cast<long long>(converted - real_ns)), 5'000'000LL);
}

TEST(KernelClock, KernelTimeIsMonotonic) {
  uint64_t a = KernelClock::NowKernelNs();
  uint64_t b = KernelClock::NowKernelNs();
  EXPECT_LE(a, b);
}

}  // namespace
}  // namespace stallscope
