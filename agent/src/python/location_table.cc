#include "python/location_table.h"

#include <cstdint>

namespace stallscope {
namespace {

constexpr uint8_t kEntryStart = 0x80;
constexpr int kKindOneLine0 = 10;
constexpr int kKindOneLine2 = 12;
constexpr int kKindNoColumns = 13;
constexpr int kKindLong = 14;
constexpr int kKindNone = 15;

// Reads an unsigned varint at `pos`; nullopt if it runs off the table or overflows 32 bits.
std::optional<uint32_t> ReadVarint(std::string_view table, size_t pos) {
  uint32_t value = 0;
  for (int shift = 0; shift < 32; shift += 6) {
    if (pos >= table.size()) return std::nullopt;
    uint8_t byte = static_cast<uint8_t>(table[pos++]);
    value |= static_cast<uint32_t>(byte & 0x3f) << shift;
    if ((byte & 0x40) == 0) return value;
  }
  return std::nullopt;
}

std::optional<int> ReadSignedVarint(std::string_view table, size_t pos) {
  std::optional<uint32_t> raw = ReadVarint(table, pos);
  if (!raw.has_value()) return std::nullopt;
  int magnitude = static_cast<int>(*raw >> 1);
  return (*raw & 1) != 0 ? -magnitude : magnitude;
}

}  // namespace

std::optional<int> LineForCodeUnit(std::string_view table, int first_line, int code_unit) {
  if (code_unit < 0) return first_line;
  // 64-bit accumulator: a corrupt table cannot overflow it before the loop ends.
  int64_t line = first_line;
  int64_t unit_start = 0;
  size_t pos = 0;
  while (pos < table.size()) {
    uint8_t head = static_cast<uint8_t>(table[pos]);
    if ((head & kEntryStart) == 0) return std::nullopt;
    int kind = (head >> 3) & 0xf;
    int length = (head & 7) + 1;
    if (kind == kKindNoColumns || kind == kKindLong) {
      std::optional<int> delta = ReadSignedVarint(table, pos + 1);
      if (!delta.has_value()) return std::nullopt;
      line += *delta;
    } else if (kind >= kKindOneLine0 && kind <= kKindOneLine2) {
      line += kind - kKindOneLine0;
    }
    if (code_unit < unit_start + length) {
      if (kind == kKindNone) return -1;
      if (line < INT32_MIN || line > INT32_MAX) return std::nullopt;
      return static_cast<int>(line);
    }
    unit_start += length;
    do {
      ++pos;
    } while (pos < table.size() && (static_cast<uint8_t>(table[pos]) & kEntryStart) == 0);
  }
  return std::nullopt;
}

std::optional<int> LineForByteOffset310(std::string_view table, int first_line,
                                        int byte_offset) {
  if (byte_offset < 0) return first_line;
  int64_t line = first_line;
  int64_t start = 0;
  for (size_t pos = 0; pos + 1 < table.size(); pos += 2) {
    int64_t end = start + static_cast<uint8_t>(table[pos]);
    int8_t delta = static_cast<int8_t>(table[pos + 1]);
    if (delta != -128) line += delta;
    if (byte_offset >= start && byte_offset < end) {
      if (delta == -128) return -1;
      if (line < INT32_MIN || line > INT32_MAX) return std::nullopt;
      return static_cast<int>(line);
    }
    start = end;
  }
  return std::nullopt;
}

std::optional<int> LineForByteOffsetLnotab(std::string_view table, int first_line,
                                           int byte_offset) {
  if (byte_offset < 0) return first_line;
  int64_t line = first_line;
  int64_t address = 0;
  for (size_t pos = 0; pos + 1 < table.size(); pos += 2) {
    address += static_cast<uint8_t>(table[pos]);
    if (address > byte_offset) break;
    line += static_cast<int8_t>(table[pos + 1]);
  }
  if (line < INT32_MIN || line > INT32_MAX) return std::nullopt;
  return static_cast<int>(line);
}

}  // namespace stallscope
