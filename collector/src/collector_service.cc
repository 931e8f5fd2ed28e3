#include "collector_service.h"

#include <grpcpp/support/proto_buffer_reader.h>

#include "absl/strings/str_cat.h"
#include "batch_builder.h"

namespace stallscope::collector {
namespace {

uint64_t NowNs() { return static_cast<uint64_t>(absl::ToUnixNanos(absl::Now())); }

}  // namespace

// One agent stream. At most one batch is being committed at a time: the next message is
// read only after the previous one was stored, which bounds memory per stream and pushes
// back on the agent (HTTP/2 flow control) while the store is slow.
class StreamReactor : public grpc::ServerBidiReactor<grpc::ByteBuffer, grpc::ByteBuffer> {
 public:
  // `refusal`: not OK when the stream is refused before reading anything (authentication,
  // stream caps); `reason` then names it in the rejected-streams counter.
  StreamReactor(CollectorService* service, std::string principal, grpc::Status refusal, const char* reason)
      : service_(service),
        principal_(std::move(principal)),
        started_(absl::Now()),
        builder_(static_cast<uint64_t>(absl::ToInt64Nanoseconds(service->options_.retention))) {
    service_->metrics_->OnStreamOpened();
    service_->Register(this);
    std::lock_guard lock(mu_);
    if (!refusal.ok()) {
      service_->metrics_->OnRejected(reason);
      FinishLocked(std::move(refusal));
      return;
    }
    StartRead(&in_);
  }

  const std::string& principal() const { return principal_; }

  void OnReadDone(bool ok) override {
    std::unique_lock lock(mu_);
    if (finish_requested_) return;
    if (!ok) {  // the agent closed its side, or the stream broke
      FinishLocked(grpc::Status::OK);
      return;
    }
    // Read as frames: a report that does not parse is refused alone (BatchBuilder).
    v1::AgentMessageFrames message;
    size_t size = in_.Length();
    grpc::ProtoBufferReader reader(&in_);
    bool parsed = message.ParseFromZeroCopyStream(&reader);
    in_.Clear();
    if (!parsed) {
      Reject("malformed", absl::StrCat("malformed message (", size, " bytes): not a stallscope.v1.AgentMessage"));
      return;
    }
    auto batch = builder_.Build(message, NowNs());
    if (!batch.ok()) {
      Reject("invalid", std::string(batch.status().message()));
      return;
    }
    service_->metrics_->OnReceived((*batch)->rows.size());
    uint64_t refused = 0, malformed = 0;
    for (const IngestRow& row : (*batch)->rows) (row.malformed ? malformed : refused) += row.refused;
    if (refused > 0) service_->metrics_->OnReportsRefused("time_out_of_range", refused);
    if (malformed > 0) service_->metrics_->OnReportsRefused("malformed", malformed);
    (*batch)->principal = principal_;
    committing_ = true;
    lock.unlock();
    service_->ingestor_->Submit(std::move(*batch), [this](const absl::Status& st, const IngestBatch& b) {
      OnCommitted(st, b);
    });
  }

  void OnWriteDone(bool ok) override {
    std::lock_guard lock(mu_);
    writing_ = false;
    if (!ok) {
      FinishLocked(grpc::Status(grpc::StatusCode::CANCELLED, "the agent went away"));
      return;
    }
    if (ack_pending_) WriteAckLocked();
    MaybeFinishLocked();
  }

  void OnDone() override {
    service_->Unregister(this);
    service_->metrics_->OnStreamClosed();
    delete this;
  }

  // Called by the reaper: a stream that never identified itself.
  void MaybeExpire(absl::Time now) {
    std::lock_guard lock(mu_);
    if (builder_.has_identity() || finish_requested_ || now - started_ < service_->options_.identity_timeout) return;
    service_->metrics_->OnRejected("no_identity");
    FinishLocked(grpc::Status(grpc::StatusCode::DEADLINE_EXCEEDED,
                              absl::StrCat("no agent identity within ",
                                           absl::FormatDuration(service_->options_.identity_timeout))));
  }

 private:
  void OnCommitted(const absl::Status& st, const IngestBatch& batch) {
    std::lock_guard lock(mu_);
    committing_ = false;
    if (!st.ok()) {
      FinishLocked(grpc::Status(grpc::StatusCode::UNAVAILABLE, absl::StrCat("store: ", st.message())));
      return;
    }
    if (batch.denied) {
      service_->metrics_->OnRejected("agent_id_of_another_principal");
      FinishLocked(grpc::Status(grpc::StatusCode::PERMISSION_DENIED,
                                absl::StrCat("agent_id '", batch.identity.agent_id(),
                                             "' belongs to another principal than '", principal_, "'")));
      return;
    }
    ack_ = std::max(ack_, batch.acked_through);
    // Named in the ack (bounded: at most one batch's reports wait for a write in progress).
    for (const IngestRow& row : batch.rows)
      if (row.malformed && row.seq <= batch.acked_through) rejected_.push_back(row.seq);
    ack_pending_ = true;
    if (!writing_) WriteAckLocked();
    if (finish_requested_) MaybeFinishLocked();
    else StartRead(&in_);
  }

  void WriteAckLocked() {
    v1::CollectorMessage ack;
    ack.set_acked_through(ack_);
    for (uint64_t seq : rejected_) ack.add_rejected_seqs(seq);
    rejected_.clear();
    grpc::Slice slice(ack.SerializeAsString());
    out_ = grpc::ByteBuffer(&slice, 1);
    ack_pending_ = false;
    writing_ = true;
    StartWrite(&out_);
  }

  void Reject(const std::string& reason, const std::string& message) {
    service_->metrics_->OnRejected(reason);
    FinishLocked(grpc::Status(grpc::StatusCode::INVALID_ARGUMENT, message));
  }

  void FinishLocked(grpc::Status status) {
    if (finish_requested_) return;
    finish_requested_ = true;
    status_ = std::move(status);
    MaybeFinishLocked();
  }

  // Finish only once the batch in flight is stored and its ack written: OnDone (and the
  // delete) must not race the ingestor's callback.
  void MaybeFinishLocked() {
    if (!finish_requested_ || finished_ || committing_ || writing_) return;
    finished_ = true;
    Finish(status_);
  }

  CollectorService* service_;
  const std::string principal_;
  absl::Time started_;
  std::mutex mu_;
  grpc::ByteBuffer in_, out_;
  BatchBuilder builder_;
  uint64_t ack_ = 0;
  std::vector<uint64_t> rejected_;  // malformed reports' seqs for the next ack
  bool ack_pending_ = false, writing_ = false, committing_ = false;
  bool finish_requested_ = false, finished_ = false;
  grpc::Status status_;
};

CollectorService::CollectorService(Ingestor* ingestor, Metrics* metrics, Options options)
    : ingestor_(ingestor), metrics_(metrics), options_(options) {
  reaper_ = std::thread([this] { Reap(); });
}

CollectorService::~CollectorService() {
  {
    std::lock_guard lock(mu_);
    stopping_ = true;
  }
  cv_.notify_all();
  reaper_.join();
}

grpc::ServerBidiReactor<grpc::ByteBuffer, grpc::ByteBuffer>* CollectorService::StreamReports(
    grpc::CallbackServerContext* context) {
  std::string principal;
  grpc::Status refusal = grpc::Status::OK;
  const char* reason = "";
  if (!flood_guard_.Admit(context->peer(), absl::Now())) {
    return new StreamReactor(this, "", grpc::Status(grpc::StatusCode::RESOURCE_EXHAUSTED,
                                                    "this connection opened streams too fast; it is closed"),
                             "stream_flood");
  }
  if (options_.security != nullptr) {
    refusal = options_.security->GrpcPrincipal(*context, &principal);
    reason = "unauthenticated";
  }
  if (refusal.ok()) {
    std::lock_guard lock(mu_);
    if (static_cast<int>(streams_.size()) >= options_.max_streams) {
      refusal = grpc::Status(grpc::StatusCode::RESOURCE_EXHAUSTED, "too many agent streams; retry later");
      reason = "too_many_streams";
    } else if (per_principal_[principal] >= options_.max_streams_per_principal) {
      refusal = grpc::Status(grpc::StatusCode::RESOURCE_EXHAUSTED,
                             absl::StrCat("too many streams from principal '", principal, "'; retry later"));
      reason = "too_many_streams_of_principal";
    }
  }
  return new StreamReactor(this, std::move(principal), std::move(refusal), reason);
}

void CollectorService::Register(StreamReactor* r) {
  std::lock_guard lock(mu_);
  streams_.insert(r);
  ++per_principal_[r->principal()];
}

void CollectorService::Unregister(StreamReactor* r) {
  std::lock_guard lock(mu_);
  streams_.erase(r);
  if (--per_principal_[r->principal()] <= 0) per_principal_.erase(r->principal());
}

void CollectorService::Reap() {
  std::unique_lock lock(mu_);
  while (!stopping_) {
    cv_.wait_for(lock, std::chrono::seconds(1));
    absl::Time now = absl::Now();
    for (StreamReactor* r : streams_) r->MaybeExpire(now);
  }
}

void CollectorService::Configure(grpc::ServerBuilder& builder, int max_message_bytes) {
  builder.SetMaxReceiveMessageSize(max_message_bytes);
  builder.SetMaxSendMessageSize(1 << 20);
  // Agents ping every 20 s to notice dead connections; allow it even while idle. A peer that
  // pings more often than every 10 s is sent GOAWAY after 2 strikes (keepalive enforcement).
  builder.AddChannelArgument(GRPC_ARG_KEEPALIVE_PERMIT_WITHOUT_CALLS, 1);
  builder.AddChannelArgument(GRPC_ARG_HTTP2_MIN_RECV_PING_INTERVAL_WITHOUT_DATA_MS, 10'000);
  builder.AddChannelArgument(GRPC_ARG_HTTP2_MAX_PING_STRIKES, 2);
  builder.AddChannelArgument(GRPC_ARG_KEEPALIVE_TIME_MS, 60'000);
  builder.AddChannelArgument(GRPC_ARG_KEEPALIVE_TIMEOUT_MS, 20'000);
  // A connection that never completes the HTTP/2 handshake (garbage, a port scan) is dropped;
  // one with no stream open for a minute is closed (an agent always has its stream open);
  // every connection is closed after an hour (the agent reconnects and resends what was not
  // acknowledged), so none holds its file descriptor forever.
  builder.AddChannelArgument(GRPC_ARG_SERVER_HANDSHAKE_TIMEOUT_MS, 10'000);
  builder.AddChannelArgument(GRPC_ARG_MAX_CONNECTION_IDLE_MS, 60'000);
  builder.AddChannelArgument(GRPC_ARG_MAX_CONNECTION_AGE_MS, 3'600'000);
  builder.AddChannelArgument(GRPC_ARG_MAX_CONNECTION_AGE_GRACE_MS, 30'000);
  // An agent opens one stream per connection; a client opening (and resetting) many is held
  // to a few at a time.
  builder.AddChannelArgument(GRPC_ARG_MAX_CONCURRENT_STREAMS, 4);
  // The memory budget of every connection's buffers and calls: a flood of streams (an HTTP/2
  // rapid reset) is refused past it instead of growing the process.
  grpc::ResourceQuota quota("stallscope-collector");
  quota.Resize(256 << 20);
  builder.SetResourceQuota(quota);
}

}  // namespace stallscope::collector
