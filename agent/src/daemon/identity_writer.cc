#include "daemon/identity_writer.h"

#include "absl/time/clock.h"
#include "google/protobuf/descriptor.h"

namespace stallscope {
namespace {

const google::protobuf::FieldDescriptor* KindField(const v1::Report& report) {
  const auto* oneof = report.GetDescriptor()->FindOneofByName("kind");
  return oneof ? report.GetReflection()->GetOneofFieldDescriptor(report, oneof) : nullptr;
}

}  // namespace

std::string ReportKind(const v1::Report& report) {
  const auto* field = KindField(report);
  return field ? field->name() : "";
}

uint32_t ReportPid(const v1::Report& report) {
  const auto* field = KindField(report);
  if (!field || field->type() != google::protobuf::FieldDescriptor::TYPE_MESSAGE) return 0;
  const google::protobuf::Message& kind = report.GetReflection()->GetMessage(report, field);
  const auto* pid = kind.GetDescriptor()->FindFieldByName("pid");
  if (!pid || pid->cpp_type() != google::protobuf::FieldDescriptor::CPPTYPE_UINT32) return 0;
  return kind.GetReflection()->GetUInt32(kind, pid);
}

IdentityWriter::IdentityWriter(std::unique_ptr<ReportWriter> inner, IdentityResolver* identity,
                               std::function<void(v1::AgentStats&)> final_stats, WorkloadMetrics* metrics)
    : inner_(std::move(inner)), identity_(identity), final_stats_(std::move(final_stats)), metrics_(metrics) {}

void IdentityWriter::Write(const v1::Report& report) {
  ++written_[ReportKind(report)];
  if (report.has_loop_block() && !report.loop_block().in_progress() &&
      !report.loop_block().python_stack_reason().empty()) {
    // Reasons are short phrases without pids or paths: a bounded label set.
    ++python_reasons_[report.loop_block().python_stack_reason()];
  }
  uint32_t pid = ReportPid(report);
  if (pid == 0) {
    inner_->Write(report);
    return;
  }
  v1::Report with_identity = report;
  *with_identity.mutable_process() = identity_->For(static_cast<pid_t>(pid));
  inner_->Write(with_identity);
  if (metrics_) metrics_->Add(with_identity, "", "local", absl::GetCurrentTimeNanos());
  if (report.has_process_event() && report.process_event().kind() == v1::ProcessEvent::EXITED)
    identity_->Forget(static_cast<pid_t>(pid));
}

void IdentityWriter::Finish(const StallSummary& summary, const v1::AgentStats& stats) {
  v1::AgentStats with_daemon = stats;
  if (final_stats_) final_stats_(with_daemon);
  inner_->Finish(summary, with_daemon);
}

}  // namespace stallscope
