#include "http_framing.h"

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"

namespace stallscope::net {
namespace {

// The methods cpp-httplib reads a body for, with or without Content-Length.
bool AllDigits(absl::string_view s) {
  for (char c : s)
    if (c < '0' || c > '9') return false;
  return !s.empty();
}

bool HttplibReadsBody(absl::string_view method) {
  return method == "POST" || method == "PUT" || method == "PATCH" || method == "DELETE" || method == "PRI";
}

}  // namespace

std::optional<FramingRefusal> CheckRequestFraming(absl::string_view method, const HeaderList& headers,
                                                  size_t max_body, size_t* body_bytes) {
  std::optional<uint64_t> length;
  bool encoded = false;
  for (const auto& [name, raw_value] : headers) {
    absl::string_view value = absl::StripAsciiWhitespace(raw_value);
    if (absl::EqualsIgnoreCase(name, "Transfer-Encoding"))
      return FramingRefusal{411, "a body must come with Content-Length (no Transfer-Encoding)"};
    if (absl::EqualsIgnoreCase(name, "Content-Encoding") && !absl::EqualsIgnoreCase(value, "identity"))
      encoded = true;
    if (!absl::EqualsIgnoreCase(name, "Content-Length")) continue;
    uint64_t n = 0;
    // Digits only (no sign, no list); a second Content-Length must say the same.
    if (value.size() > 19 || !AllDigits(value) ||
        !absl::SimpleAtoi(value, &n) || (length && *length != n))
      return FramingRefusal{400, "Content-Length is not one decimal number"};
    length = n;
  }
  if (!length && HttplibReadsBody(method))
    return FramingRefusal{411, absl::StrCat(method, " needs Content-Length (use 0 for no body)")};
  uint64_t n = length.value_or(0);
  if (n > max_body)
    return FramingRefusal{413, max_body == 0 ? std::string("this server takes no request body")
                                             : absl::StrCat("a request body is at most ", max_body, " bytes")};
  if (n > 0 && encoded) return FramingRefusal{415, "a compressed request body is not accepted"};
  *body_bytes = static_cast<size_t>(n);
  return std::nullopt;
}

}  // namespace stallscope::net
