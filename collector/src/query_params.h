// Query-string parameters of the HTTP API, checked: a bad one is a 400 that names it.
#ifndef STALLSCOPE_COLLECTOR_QUERY_PARAMS_H_
#define STALLSCOPE_COLLECTOR_QUERY_PARAMS_H_

#include <cstdint>
#include <functional>
#include <optional>
#include <string>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "store.h"

namespace stallscope::collector {

// Returns the parameter's value, or nullopt when it is absent.
using ParamLookup = std::function<std::optional<std::string>(absl::string_view name)>;

// A point in time: Unix seconds ("1700000000.5"), RFC 3339 ("2026-11-22T01:00:00Z"), or a
// duration meaning that long before `now` ("15m", "2h", "90s").
absl::StatusOr<uint64_t> ParseTimeParam(absl::string_view value, uint64_t now_ns);

// kind, host, service, pid, since, until, final. `require_kind`: an unknown kind is a 400
// (any kind in Report's oneof is accepted, and "unknown").
absl::StatusOr<ReportFilter> ParseFilter(const ParamLookup& params, uint64_t now_ns);

// `limit` within [1, max], `fallback` when absent.
absl::StatusOr<int> ParseLimit(const ParamLookup& params, int fallback, int max);

}  // namespace stallscope::collector

#endif  // STALLSCOPE_COLLECTOR_QUERY_PARAMS_H_
