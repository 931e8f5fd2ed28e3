#include "daemon/memory_guard.h"

#include <unistd.h>

#include <cstdio>
#include <cstring>

namespace stallscope {
namespace {

constexpr int kEnterPercent[] = {0, 60, 75, 90};
constexpr int kHysteresisPercent = 5;

}  // namespace

ShedLevel MemoryGuard::Update(uint64_t rss_bytes) {
  int percent = limit_ ? static_cast<int>(rss_bytes * 100 / limit_) : 0;
  int level = static_cast<int>(level_);
  while (level < 3 && percent >= kEnterPercent[level + 1]) {
    ++level;
    ++raised_;
  }
  while (level > 0 && percent < kEnterPercent[level] - kHysteresisPercent) --level;
  level_ = static_cast<ShedLevel>(level);
  return level_;
}

uint64_t SelfRssBytes() {
  FILE* f = fopen("/proc/self/statm", "r");
  if (!f) return 0;
  unsigned long long size = 0, resident = 0;
  int n = fscanf(f, "%llu %llu", &size, &resident);
  fclose(f);
  return n == 2 ? resident * static_cast<uint64_t>(sysconf(_SC_PAGESIZE)) : 0;
}

double SelfCpuSeconds() {
  FILE* f = fopen("/proc/self/stat", "r");
  if (!f) return 0;
  char buf[1024];
  size_t n = fread(buf, 1, sizeof(buf) - 1, f);
  fclose(f);
  buf[n] = '\0';
  // Fields after "(comm)": state is field 3; utime and stime are fields 14 and 15.
  const char* p = strrchr(buf, ')');
  unsigned long long utime = 0, stime = 0;
  if (!p || sscanf(p + 2, "%*c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u %llu %llu", &utime, &stime) != 2) return 0;
  return static_cast<double>(utime + stime) / static_cast<double>(sysconf(_SC_CLK_TCK));
}

}  // namespace stallscope
