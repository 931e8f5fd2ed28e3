#include "batch_builder.h"

#include <google/protobuf/stubs/logging.h>

#include "absl/strings/str_cat.h"

namespace stallscope::collector {

absl::Status ValidateIdentity(const v1::AgentIdentity& id) {
  if (id.agent_id().empty()) return absl::InvalidArgumentError("identity.agent_id is empty");
  if (id.agent_id().size() > 128) return absl::InvalidArgumentError("identity.agent_id is longer than 128 bytes");
  for (const std::string* s : {&id.host(), &id.boot_id(), &id.agent_version(), &id.container_id(), &id.pod(),
                               &id.pod_namespace(), &id.service()}) {
    if (s->size() > 256) return absl::InvalidArgumentError("an identity field is longer than 256 bytes");
  }
  return absl::OkStatus();
}

absl::StatusOr<std::unique_ptr<IngestBatch>> BatchBuilder::Build(const v1::AgentMessage& message, uint64_t now_ns) {
  v1::AgentMessageFrames frames;
  if (!frames.ParseFromString(message.SerializeAsString()))
    return absl::InvalidArgumentError("the message does not read as frames");
  return Build(frames, now_ns);
}

absl::StatusOr<std::unique_ptr<IngestBatch>> BatchBuilder::Build(const v1::AgentMessageFrames& message,
                                                                 uint64_t now_ns) {
  if (!has_identity_) {
    if (!message.has_identity())
      return absl::InvalidArgumentError("the first message of a stream must carry the agent identity");
    if (absl::Status st = ValidateIdentity(message.identity()); !st.ok()) return st;
    identity_ = message.identity();
    identity_.SerializeToString(&identity_bytes_);
    has_identity_ = true;
  }
  if (static_cast<size_t>(message.reports_size()) > kMaxReportsPerMessage)
    return absl::InvalidArgumentError(
        absl::StrCat("a message holds ", message.reports_size(), " reports; at most ", kMaxReportsPerMessage));
  auto batch = std::make_unique<IngestBatch>();
  batch->identity = identity_;
  batch->identity_bytes = identity_bytes_;
  batch->dropped_total = message.dropped_total();
  batch->received_ns = now_ns;
  batch->rows.reserve(message.reports_size());
  uint64_t last = last_seq_;
  for (const v1::SequencedReportBytes& sr : message.reports()) {
    if (sr.seq() <= last)
      return absl::InvalidArgumentError(
          absl::StrCat("report seq ", sr.seq(), " is not above the previous seq ", last, " of this stream"));
    IngestRow row;
    row.seq = sr.seq();
    last = sr.seq();
    v1::Report report;
    // Parsing checks every string field is UTF-8 (proto3): a report that fails, or has no
    // kind, is refused alone. Counted, not logged: protobuf's line per bad string would let a
    // peer flood the collector's log.
    bool parsed;
    {
      google::protobuf::LogSilencer quiet;
      parsed = report.ParseFromString(sr.report());
    }
    if (!parsed || (row.index = IndexReport(report, now_ns)).kind.empty()) {
      row.refused = row.malformed = true;
      batch->rows.push_back(std::move(row));
      continue;
    }
    row.refused = row.index.time_ns > now_ns + kMaxFutureNs ||
                  (now_ns > retention_ns_ && row.index.time_ns < now_ns - retention_ns_);
    // The agent's own fields only: `agent` is filled from the stream identity when read back.
    report.clear_agent();
    report.SerializeToString(&row.body);
    batch->rows.push_back(std::move(row));
  }
  last_seq_ = last;
  return batch;
}

}  // namespace stallscope::collector
