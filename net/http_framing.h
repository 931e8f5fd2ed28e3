// Whether a request's body may be read, judged from its method and headers alone (before a
// byte of the body is read). cpp-httplib 0.11 reads a chunked body, or a POST body without
// Content-Length (to the end of the connection), with no limit at all, and inflates a gzip or
// brotli body without one: so a body is accepted only when Content-Length states it, within
// the server's limit, uncompressed. Neither stallscope server has a route that takes a body
// (their limit is 0), so every body is refused there.
#ifndef STALLSCOPE_NET_HTTP_FRAMING_H_
#define STALLSCOPE_NET_HTTP_FRAMING_H_

#include <cstddef>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "absl/strings/string_view.h"

namespace stallscope::net {

struct FramingRefusal {
  int status;  // 400, 411, 413 or 415
  std::string message;
};

using HeaderList = std::vector<std::pair<absl::string_view, absl::string_view>>;

// nullopt when the request may proceed; then `*body_bytes` is its Content-Length (0 without).
std::optional<FramingRefusal> CheckRequestFraming(absl::string_view method, const HeaderList& headers,
                                                  size_t max_body, size_t* body_bytes);

}  // namespace stallscope::net

#endif  // STALLSCOPE_NET_HTTP_FRAMING_H_
