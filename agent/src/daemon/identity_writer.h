// The daemon's report writer: puts the process's identity (ProcessIdentity) on every report,
// counts reports by kind for /metrics, and adds the daemon's own counters to the final
// agentStats. Wraps the writers `attach` uses (local output, collector stream).
#ifndef STALLSCOPE_AGENT_DAEMON_IDENTITY_WRITER_H_
#define STALLSCOPE_AGENT_DAEMON_IDENTITY_WRITER_H_

#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <string>

#include "daemon/process_identity.h"
#include "output/report_writer.h"
#include "workload_metrics.h"

namespace stallscope {

class IdentityWriter : public ReportWriter {
 public:
  // `final_stats` fills the daemon's fields of the last agentStats; `metrics` (optional) counts
  // each report, with its identity, into the per-workload series of /metrics.
  IdentityWriter(std::unique_ptr<ReportWriter> inner, IdentityResolver* identity,
                 std::function<void(v1::AgentStats&)> final_stats, WorkloadMetrics* metrics = nullptr);

  void Write(const v1::Report& report) override;
  void Observe(const v1::Report& report) override { inner_->Observe(report); }
  void Finish(const StallSummary& summary, const v1::AgentStats& stats) override;
  bool ok() const override { return inner_->ok(); }

  // Reports written so far, by Report.kind field name.
  const std::map<std::string, uint64_t>& written() const { return written_; }
  // Final stall reports without Python frames so far, by python_stack_reason.
  const std::map<std::string, uint64_t>& python_stack_reasons() const { return python_reasons_; }

 private:
  std::unique_ptr<ReportWriter> inner_;
  IdentityResolver* identity_;
  std::function<void(v1::AgentStats&)> final_stats_;
  WorkloadMetrics* metrics_;
  std::map<std::string, uint64_t> written_;
  std::map<std::string, uint64_t> python_reasons_;
};

// The `pid` field of whichever kind the report holds (0 if it has none): new kinds work as
// long as they name their process `pid`.
uint32_t ReportPid(const v1::Report& report);
std::string ReportKind(const v1::Report& report);

}  // namespace stallscope

#endif  // STALLSCOPE_AGENT_DAEMON_IDENTITY_WRITER_H_
