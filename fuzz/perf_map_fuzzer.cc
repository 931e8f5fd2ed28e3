// /tmp/perf-PID.map, written by the target: "START SIZE NAME" lines.
#include <cstddef>
#include <cstdint>
#include <string_view>

#include "symbolize/perf_map.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::string_view text(reinterpret_cast<const char*>(data), size);
  stallscope::symbolize::PerfMap::Limits limits;
  limits.max_entries = 1000;  // small caps, so shedding paths are reached too
  limits.max_name_bytes = 64 << 10;
  auto map = stallscope::symbolize::PerfMap::Parse(text, limits);
  for (uint64_t address : {uint64_t{0}, uint64_t{0x7f0000001000}, ~uint64_t{0}}) {
    map.Find(address);
  }
  return 0;
}
