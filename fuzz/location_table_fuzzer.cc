// Line-number tables copied out of the target's code objects: 3.11+ co_linetable, 3.10
// co_linetable, 3.8/3.9 co_lnotab. The first 8 bytes are first_line and the position.
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <string_view>

#include "python/location_table.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size < 8) return 0;
  int32_t first_line, position;
  memcpy(&first_line, data, 4);
  memcpy(&position, data + 4, 4);
  std::string_view table(reinterpret_cast<const char*>(data + 8), size - 8);
  stallscope::LineForCodeUnit(table, first_line, position);
  stallscope::LineForByteOffset310(table, first_line, position);
  stallscope::LineForByteOffsetLnotab(table, first_line, position);
  return 0;
}
