// The HTTP guard's body check (net/http_framing.h), which decides from a request's method and
// headers whether its body may be read. The input is a request head as a client sends it:
// "METHOD PATH HTTP/1.1\r\n" then "Name: value\r\n" lines, split as cpp-httplib splits them
// (name up to the first ':', value after it, spaces kept for the check to strip). The limit
// is the input's first byte times 256 (0: no body, as both servers run).
#include <cstddef>
#include <cstdint>
#include <string_view>

#include "http_framing.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size == 0) return 0;
  size_t limit = static_cast<size_t>(data[0]) * 256;
  std::string_view head(reinterpret_cast<const char*>(data) + 1, size - 1);
  size_t eol = head.find('\n');
  std::string_view request_line = head.substr(0, eol);
  std::string_view method = request_line.substr(0, request_line.find(' '));
  stallscope::net::HeaderList headers;
  while (eol != std::string_view::npos) {
    head.remove_prefix(eol + 1);
    eol = head.find('\n');
    std::string_view line = head.substr(0, eol);
    size_t colon = line.find(':');
    if (colon == std::string_view::npos) continue;
    headers.emplace_back(absl::string_view(line.data(), colon),
                         absl::string_view(line.data() + colon + 1, line.size() - colon - 1));
  }
  size_t body = 0;
  auto refusal = stallscope::net::CheckRequestFraming(absl::string_view(method.data(), method.size()), headers,
                                                      limit, &body);
  // What is accepted never exceeds the limit; what is refused says why with an HTTP status.
  if (!refusal && body > limit) __builtin_trap();
  if (refusal && (refusal->status < 400 || refusal->status > 415 || refusal->message.empty())) __builtin_trap();
  return 0;
}
