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
  StreamReactor(CollectorService* service, bool over_limit) : service_(service), started_(absl::Now()) {
    service_->metrics_->OnStreamOpened();
    service_->Register(this);
    std::lock_guard lock(mu_);
    if (over_limit) {
      FinishLocked(grpc::Status(grpc::StatusCode::RESOURCE_EXHAUSTED, "too many agent streams; retry later"));
      return;
    }
    StartRead(&in_);
  }

  void OnReadDone(bool ok) override {
    std::unique_lock lock(mu_);
    if (finish_requested_) return;
    if (!ok) {  // the agent closed its side, or the stream broke
      FinishLocked(grpc::Status::OK);
      return;
    }
    v1::AgentMessage message;
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
    committing_ = true;
    lock.unlock();
    service_->ingestor_->Submit(std::move(*batch), [this](const absl::Status& st, const IngestBatch& b) {
      OnCommitted(st, b.acked_through);
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
  void OnCommitted(const absl::Status& st, uint64_t acked_through) {
    std::lock_guard lock(mu_);
    committing_ = false;
    if (!st.ok()) {
      FinishLocked(grpc::Status(grpc::StatusCode::UNAVAILABLE, absl::StrCat("store: ", st.message())));
      return;
    }
    ack_ = std::max(ack_, acked_through);
    ack_pending_ = true;
    if (!writing_) WriteAckLocked();
    if (finish_requested_) MaybeFinishLocked();
    else StartRead(&in_);
  }

  void WriteAckLocked() {
    v1::CollectorMessage ack;
    ack.set_acked_through(ack_);
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
  absl::Time started_;
  std::mutex mu_;
  grpc::ByteBuffer in_, out_;
  BatchBuilder builder_;
  uint64_t ack_ = 0;
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
    grpc::CallbackServerContext*) {
  bool over_limit;
  {
    std::lock_guard lock(mu_);
    over_limit = static_cast<int>(streams_.size()) >= options_.max_streams;
  }
  return new StreamReactor(this, over_limit);
}

void CollectorService::Register(StreamReactor* r) {
  std::lock_guard lock(mu_);
  streams_.insert(r);
}

void CollectorService::Unregister(StreamReactor* r) {
  std::lock_guard lock(mu_);
  streams_.erase(r);
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
  // Agents ping every 20 s to notice dead connections; allow it even while idle.
  builder.AddChannelArgument(GRPC_ARG_KEEPALIVE_PERMIT_WITHOUT_CALLS, 1);
  builder.AddChannelArgument(GRPC_ARG_HTTP2_MIN_RECV_PING_INTERVAL_WITHOUT_DATA_MS, 10'000);
  builder.AddChannelArgument(GRPC_ARG_KEEPALIVE_TIME_MS, 60'000);
  builder.AddChannelArgument(GRPC_ARG_KEEPALIVE_TIMEOUT_MS, 20'000);
  // A connection that never completes the HTTP/2 handshake (garbage, a port scan) is dropped.
  builder.AddChannelArgument(GRPC_ARG_SERVER_HANDSHAKE_TIMEOUT_MS, 10'000);
  grpc::ResourceQuota quota("stallscope-collector");
  quota.Resize(512 << 20);
  builder.SetResourceQuota(quota);
}

}  // namespace stallscope::collector
