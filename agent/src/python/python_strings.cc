#include "python/python_strings.h"

#include "python/remote_memory.h"
#include "target_files/target_strings.h"

namespace stallscope {
namespace {

// PyASCIIObject.state bit fields after `interned` (layout.unicode_kind_shift bits): kind:3,
// compact:1, ascii:1.
constexpr uint32_t kKindMask = 7;
constexpr int kCompactBit = 3;
constexpr int kAsciiBit = 4;

constexpr char32_t kReplacement = 0xfffd;

void AppendUtf8(char32_t c, std::string* out) {
  if ((c >= 0xd800 && c <= 0xdfff) || c > 0x10ffff) c = kReplacement;
  if (c < 0x80) {
    out->push_back(static_cast<char>(c));
  } else if (c < 0x800) {
    out->push_back(static_cast<char>(0xc0 | (c >> 6)));
    out->push_back(static_cast<char>(0x80 | (c & 0x3f)));
  } else if (c < 0x10000) {
    out->push_back(static_cast<char>(0xe0 | (c >> 12)));
    out->push_back(static_cast<char>(0x80 | ((c >> 6) & 0x3f)));
    out->push_back(static_cast<char>(0x80 | (c & 0x3f)));
  } else {
    out->push_back(static_cast<char>(0xf0 | (c >> 18)));
    out->push_back(static_cast<char>(0x80 | ((c >> 12) & 0x3f)));
    out->push_back(static_cast<char>(0x80 | ((c >> 6) & 0x3f)));
    out->push_back(static_cast<char>(0x80 | (c & 0x3f)));
  }
}

}  // namespace

std::optional<StrShape> ParseStrHeader(const unsigned char* header, const CPythonLayout& layout,
                                       uint64_t str_type, size_t max_chars) {
  if (Field<uint64_t>(header, layout.object_type) != str_type) return std::nullopt;
  int64_t length = Field<int64_t>(header, layout.unicode_length);
  uint32_t state = Field<uint32_t>(header, layout.unicode_state) >> layout.unicode_kind_shift;
  if (length < 0 || (state & (1u << kCompactBit)) == 0) return std::nullopt;
  StrShape shape;
  shape.ascii = (state & (1u << kAsciiBit)) != 0;
  shape.char_width = state & kKindMask;
  if (shape.char_width != 1 && shape.char_width != 2 && shape.char_width != 4) return std::nullopt;
  if (shape.ascii && shape.char_width != 1) return std::nullopt;
  shape.data_offset = shape.ascii ? layout.unicode_ascii_data : layout.unicode_compact_data;
  shape.length =
      static_cast<uint64_t>(length) < max_chars ? static_cast<size_t>(length) : max_chars;
  return shape;
}

std::string StrDataToUtf8(const unsigned char* data, const StrShape& shape) {
  std::string out;
  out.reserve(shape.length);
  for (size_t i = 0; i < shape.length; ++i) {
    char32_t c;
    switch (shape.char_width) {
      case 1:
        c = data[i];
        if (shape.ascii && c >= 0x80) c = kReplacement;
        break;
      case 2:
        c = Field<uint16_t>(data, i * 2);
        break;
      default:
        c = Field<uint32_t>(data, i * 4);
        break;
    }
    AppendUtf8(c, &out);
  }
  // Names and file names a program chose (a function may be called "\x1b]0;...\a"):
  // control characters as visible escapes, U+FFFE and U+FFFF too, capped.
  return SanitizeTargetString(out);
}

}  // namespace stallscope
