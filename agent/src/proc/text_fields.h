// Small exception-free helpers for the whitespace-separated text of /proc files.
#ifndef STALLSCOPE_AGENT_PROC_TEXT_FIELDS_H_
#define STALLSCOPE_AGENT_PROC_TEXT_FIELDS_H_

#include <charconv>
#include <string_view>
#include <system_error>
#include <vector>

namespace stallscope {

// The blank-separated fields of `line`, as views into it.
inline std::vector<std::string_view> SplitFields(std::string_view line) {
  constexpr std::string_view kBlanks = " \t\r\n";
  std::vector<std::string_view> fields;
  size_t pos = line.find_first_not_of(kBlanks);
  while (pos != std::string_view::npos) {
    size_t end = line.find_first_of(kBlanks, pos);
    if (end == std::string_view::npos) end = line.size();
    fields.push_back(line.substr(pos, end - pos));
    pos = line.find_first_not_of(kBlanks, end);
  }
  return fields;
}

// Parses all of `s` as an integer in `base`: no sign for unsigned types, no "0x", no blanks.
template <typename T>
bool ParseNumber(std::string_view s, int base, T* out) {
  if (s.empty()) return false;
  const char* end = s.data() + s.size();
  auto [ptr, ec] = std::from_chars(s.data(), end, *out, base);
  return ec == std::errc() && ptr == end;
}

}  // namespace stallscope

#endif  // STALLSCOPE_AGENT_PROC_TEXT_FIELDS_H_
