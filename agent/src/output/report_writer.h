// Where reports go: JSON lines (proto3 JSON mapping of stallscope.v1.Report) for programs, or
// readable text for people. Each report is flushed as it is written, so the output can be
// tailed while the agent runs.
#ifndef STALLSCOPE_AGENT_OUTPUT_REPORT_WRITER_H_
#define STALLSCOPE_AGENT_OUTPUT_REPORT_WRITER_H_

#include <cstdio>
#include <memory>
#include <string>

#include "output/stall_summary.h"
#include "stallscope/v1/report.pb.h"

namespace stallscope {

class ReportWriter {
 public:
  virtual ~ReportWriter() = default;
  virtual void Write(const v1::Report& report) = 0;
  // A report only for the end-of-run summary, never written nor streamed: SocketLifetimes
  // without --sockets feed the text output's per-endpoint table. Wrappers pass it inward.
  virtual void Observe(const v1::Report&) {}
  // At exit: the summary of the run (text) and the agent's counters.
  virtual void Finish(const StallSummary& summary, const v1::AgentStats& stats) = 0;
  // False once a write failed (disk full, closed pipe).
  virtual bool ok() const = 0;
};

// `out` stays owned by the caller.
std::unique_ptr<ReportWriter> MakeJsonWriter(FILE* out);
// show_sockets: print each SocketLifetime (--sockets); the per-endpoint summary is always printed.
std::unique_ptr<ReportWriter> MakeTextWriter(FILE* out, bool show_sockets = false);

// "850 µs", "12.3 ms", "1.25 s".
std::string FormatDuration(uint64_t ns);

// "01:23:45.123" in local time, for reading next to application logs.
std::string ClockTime(uint64_t unix_ns);

// One line per report, as --format json writes it.
std::string ReportToJsonLine(const v1::Report& report);

}  // namespace stallscope

#endif  // STALLSCOPE_AGENT_OUTPUT_REPORT_WRITER_H_
