// The collector's HTTP query parameters (kind, host, service, pid, since, until, final, limit):
// the input is a query string, "a=b&c=d", split as the HTTP server splits it (no decoding:
// cpp-httplib has decoded the values before they reach the parser).
#include <cstddef>
#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <string_view>

#include "query_params.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  constexpr uint64_t kNow = 1'700'000'000'000'000'000;
  std::string_view query(reinterpret_cast<const char*>(data), size);
  std::map<std::string, std::string, std::less<>> params;
  while (!query.empty()) {
    size_t amp = query.find('&');
    std::string_view pair = query.substr(0, amp);
    query.remove_prefix(amp == std::string_view::npos ? query.size() : amp + 1);
    size_t eq = pair.find('=');
    if (eq == std::string_view::npos) continue;
    params.emplace(std::string(pair.substr(0, eq)), std::string(pair.substr(eq + 1)));
    (void)stallscope::collector::ParseTimeParam(absl::string_view(pair.data() + eq + 1, pair.size() - eq - 1), kNow);
  }
  stallscope::collector::ParamLookup lookup =
      [&params](absl::string_view name) -> std::optional<std::string> {
    auto it = params.find(std::string_view(name.data(), name.size()));
    if (it == params.end()) return std::nullopt;
    return it->second;
  };
  (void)stallscope::collector::ParseFilter(lookup, kNow);
  (void)stallscope::collector::ParseLimit(lookup, 100, 1000);
  return 0;
}
