// What the collector indexes of a Report, found generically through reflection on the
// `kind` oneof, so report kinds added to report.proto later are stored and queried without
// schema or code changes. A kind message is indexed through fields named by convention:
//   pid                                   -> pid column
//   start_time_unix_nano | time_unix_nano -> time (else the time it was received)
//   duration_ns                           -> duration (stalled/saturated time)
//   in_progress                           -> not final (rollups and metrics count finals only)
//   repeated Frame stack                  -> call site (innermost Python frame, else native)
//   pool | pool_name | name | listen_address | local_address | address | target
//                                         -> subject (what was measured, e.g. the pool)
// and Report.process.service (set by `stallscope daemon`, one agent watching many services)
// -> service, which then wins over the agent identity's.
#ifndef STALLSCOPE_COLLECTOR_REPORT_INDEX_H_
#define STALLSCOPE_COLLECTOR_REPORT_INDEX_H_

#include <cstdint>
#include <string>
#include <vector>

#include "absl/strings/string_view.h"
#include "stallscope/v1/report.pb.h"

namespace stallscope::collector {

// A report kind the agent sent that this collector's schema does not know (a newer agent):
// stored with its bytes, returned unfiltered, never counted.
inline constexpr absl::string_view kUnknownKind = "unknown";

struct ReportIndex {
  std::string kind;  // the oneof field name ("loop_block"), kUnknownKind, or "" when unset
  uint64_t time_ns = 0;
  uint64_t duration_ns = 0;
  uint32_t pid = 0;
  bool final = true;
  std::string site;     // call site, "" when the kind has no stack
  std::string subject;  // pool name etc., "" when none
  std::string service;  // Report.process.service, "" when the agent did not set it
  // Report.process's Kubernetes place (daemon), "" otherwise: metric labels stable across
  // restarts and replicas.
  std::string pod_namespace, workload, container;
};

// The report's own service (daemon) else its agent's (`attach --service`).
inline const std::string& ServiceOf(const ReportIndex& x, const std::string& agent_service) {
  return x.service.empty() ? agent_service : x.service;
}

// `received_ns` stands in for the time when the kind carries none.
ReportIndex IndexReport(const v1::Report& report, uint64_t received_ns);

// Field names of Report's `kind` oneof, in declaration order.
const std::vector<std::string>& ReportKinds();
bool IsReportKind(absl::string_view kind);

// "handler (app.py:42)" for a Python frame, "recv (libc.so.6)" for a native one.
std::string FrameLabel(const v1::Frame& frame);

// The kind's message inside `report`, or nullptr when no known kind is set.
const google::protobuf::Message* KindMessage(const v1::Report& report);

// A numeric field of `message` by name (any integer type), or `fallback`.
uint64_t UintField(const google::protobuf::Message& message, absl::string_view name,
                   uint64_t fallback = 0);

}  // namespace stallscope::collector

#endif  // STALLSCOPE_COLLECTOR_REPORT_INDEX_H_
