// The daemon's log: one line per event on stdout by default, for `kubectl logs` and journald.
// Each line has an RFC 3339 UTC timestamp, who (service, namespace/pod, pid), what happened and
// the culprit in words:
//   2026-12-03T03:01:40.123Z checkout shop/checkout-7d9f-x pid 908 tid 908: loop blocked 7.40 s
//     - blocked 7.40 s in recv from 10.0.0.5:5432 at app/views.py:88 fetch_orders
// (one line). AgentStats reports (every stats interval) become a heartbeat line with counts.
#ifndef STALLSCOPE_AGENT_OUTPUT_LOG_WRITER_H_
#define STALLSCOPE_AGENT_OUTPUT_LOG_WRITER_H_

#include <cstdio>
#include <memory>
#include <string>

#include "output/report_writer.h"

namespace stallscope {

// "2026-12-03T03:01:40.123Z".
std::string Rfc3339Utc(uint64_t unix_ns);

// The line for one report, without the newline; "" for reports the log leaves out (pool
// utilization: periodic, in /metrics; socket lifetimes unless show_sockets).
std::string LogLine(const v1::Report& report, bool show_sockets);

// `out` stays owned by the caller.
std::unique_ptr<ReportWriter> MakeLogWriter(FILE* out, bool show_sockets);

}  // namespace stallscope

#endif  // STALLSCOPE_AGENT_OUTPUT_LOG_WRITER_H_
