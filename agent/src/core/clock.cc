#include "core/clock.h"

#include <time.h>

#include <limits>

namespace stallscope {
namespace {

int64_t Ns(clockid_t clock) {
  timespec ts{};
  clock_gettime(clock, &ts);
  return static_cast<int64_t>(ts.tv_sec) * 1'000'000'000 + ts.tv_nsec;
}

}  // namespace

uint64_t KernelClock::NowKernelNs() { return static_cast<uint64_t>(Ns(CLOCK_MONOTONIC)); }

KernelClock KernelClock::Measure() {
  // Bracket a realtime read between two monotonic reads and keep the tightest bracket, so a
  // preemption between the reads cannot skew the offset by more than the best sample's width.
  int64_t best_width = std::numeric_limits<int64_t>::max();
  int64_t best_offset = 0;
  for (int i = 0; i < 16; ++i) {
    int64_t before = Ns(CLOCK_MONOTONIC);
    int64_t real = Ns(CLOCK_REALTIME);
    int64_t after = Ns(CLOCK_MONOTONIC);
    if (after - before < best_width) {
      best_width = after - before;
      best_offset = real - (before + (after - before) / 2);
    }
  }
  return KernelClock(best_offset);
}

}  // namespace stallscope
