#include "query_params.h"

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/time/time.h"
#include "report_index.h"

namespace stallscope::collector {

absl::StatusOr<uint64_t> ParseTimeParam(absl::string_view value, uint64_t now_ns) {
  double seconds = 0;
  if (absl::SimpleAtod(value, &seconds)) {
    if (!(seconds >= 0) || seconds > 9e9) return absl::InvalidArgumentError("out of range");
    return static_cast<uint64_t>(seconds * 1e9);
  }
  absl::Time t;
  std::string error;
  if (absl::ParseTime(absl::RFC3339_full, std::string(value), &t, &error)) {
    if (t < absl::UnixEpoch()) return 0;
    return static_cast<uint64_t>(absl::ToUnixNanos(t));
  }
  absl::Duration ago;
  if (absl::ParseDuration(std::string(value), &ago) && ago >= absl::ZeroDuration()) {
    int64_t ns = absl::ToInt64Nanoseconds(ago);
    return static_cast<uint64_t>(ns) > now_ns ? 0 : now_ns - static_cast<uint64_t>(ns);
  }
  return absl::InvalidArgumentError("not Unix seconds, an RFC 3339 time or a duration like 15m");
}

absl::StatusOr<ReportFilter> ParseFilter(const ParamLookup& params, uint64_t now_ns) {
  ReportFilter f;
  if (auto kind = params("kind")) {
    if (!IsReportKind(*kind) && *kind != kUnknownKind)
      return absl::InvalidArgumentError(
          absl::StrCat("kind: '", *kind, "' is not one of ", absl::StrJoin(ReportKinds(), ", ")));
    f.kind = *kind;
  }
  if (auto host = params("host")) f.host = *host;
  if (auto service = params("service")) f.service = *service;
  if (auto pid = params("pid")) {
    uint32_t v = 0;
    if (!absl::SimpleAtoi(*pid, &v)) return absl::InvalidArgumentError(absl::StrCat("pid: '", *pid, "' is not a process id"));
    f.pid = v;
  }
  for (const char* name : {"since", "until"}) {
    auto v = params(name);
    if (!v) continue;
    auto t = ParseTimeParam(*v, now_ns);
    if (!t.ok()) return absl::InvalidArgumentError(absl::StrCat(name, ": '", *v, "' is ", t.status().message()));
    (std::string(name) == "since" ? f.since_ns : f.until_ns) = *t;
  }
  if (auto fin = params("final")) {
    if (*fin == "true" || *fin == "1") f.final = true;
    else if (*fin == "false" || *fin == "0") f.final = false;
    else return absl::InvalidArgumentError(absl::StrCat("final: '", *fin, "' is not true or false"));
  }
  return f;
}

absl::StatusOr<int> ParseLimit(const ParamLookup& params, int fallback, int max) {
  auto v = params("limit");
  if (!v) return fallback;
  int limit = 0;
  if (!absl::SimpleAtoi(*v, &limit) || limit < 1 || limit > max)
    return absl::InvalidArgumentError(absl::StrCat("limit: '", *v, "' is not a number from 1 to ", max));
  return limit;
}

}  // namespace stallscope::collector
