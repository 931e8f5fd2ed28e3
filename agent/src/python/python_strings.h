// Copying the text of a CPython str object out of another process: the header says where the
// characters are and how wide each is (1, 2 or 4 bytes); the result is always valid UTF-8.
#ifndef STALLSCOPE_AGENT_PYTHON_PYTHON_STRINGS_H_
#define STALLSCOPE_AGENT_PYTHON_PYTHON_STRINGS_H_

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>

#include "python/cpython_layout.h"

namespace stallscope {

struct StrShape {
  uint32_t data_offset = 0;  // from the object's address
  uint32_t char_width = 1;   // bytes per character
  size_t length = 0;         // characters to copy (at most the bound given)
  bool ascii = false;

  size_t DataBytes() const { return length * char_width; }
};

// Parses a str header of layout.unicode_ascii_data bytes. nullopt when it is not a str of the
// expected type or not a compact string (code objects only hold compact ones).
std::optional<StrShape> ParseStrHeader(const unsigned char* header, const CPythonLayout& layout,
                                       uint64_t str_type, size_t max_chars);

// The characters as UTF-8; code points that cannot be encoded (lone surrogates, garbage) and
// non-ASCII bytes in an "ASCII" string become U+FFFD; then made safe text
// (target_files/target_strings.h: control characters escaped, capped).
std::string StrDataToUtf8(const unsigned char* data, const StrShape& shape);

}  // namespace stallscope

#endif  // STALLSCOPE_AGENT_PYTHON_PYTHON_STRINGS_H_
