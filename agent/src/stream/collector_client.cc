#include "stream/collector_client.h"

#include <google/protobuf/stubs/logging.h>
#include <grpcpp/grpcpp.h>

#include <algorithm>
#include <cstdio>
#include <deque>
#include <random>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "safe_text.h"
#include "stallscope/v1/collector.grpc.pb.h"
#include "credential_file.h"
#include "token_file.h"

namespace stallscope {

namespace {

absl::StatusOr<std::string> ReadSmallFile(const std::string& path, const char* flag) {
  bool secret = absl::string_view(flag) == "--tls-key" || absl::string_view(flag) == "--collector-token-file";
  auto text = net::ReadCredentialFile(path, flag, secret ? net::Credential::kSecret : net::Credential::kPublic);
  if (!text.ok()) return text.status();
  if (text->empty()) return absl::InvalidArgumentError(absl::StrCat(flag, ": ", path, " is empty"));
  return text;
}

std::shared_ptr<grpc::ChannelCredentials> Credentials(const CollectorAuth& auth) {
  if (auth.ca_file.empty()) return grpc::InsecureChannelCredentials();
  grpc::SslCredentialsOptions ssl;
  if (auto ca = ReadSmallFile(auth.ca_file, "--collector-ca"); ca.ok()) ssl.pem_root_certs = *ca;
  if (!auth.cert_file.empty()) {
    if (auto cert = ReadSmallFile(auth.cert_file, "--tls-cert"); cert.ok()) ssl.pem_cert_chain = *cert;
    if (auto key = ReadSmallFile(auth.key_file, "--tls-key"); key.ok()) ssl.pem_private_key = *key;
  }
  return grpc::SslCredentials(ssl);
}

// The token file's first token: a bare token, or the TOKEN of a `NAME TOKEN` line.
std::string Token(const CollectorAuth& auth) {
  if (auth.token_file.empty() || (auth.ca_file.empty() && !auth.insecure)) return "";  // never in the clear
  auto text = ReadSmallFile(auth.token_file, "--collector-token-file");
  if (!text.ok()) return "";
  auto tokens = net::TokenFile::Parse(*text, auth.token_file);
  return tokens.ok() ? tokens->first_token() : "";
}

// The message of one batch. A report that does not parse (only a string that is not UTF-8
// can fail: every output is guarded by SafeTextWriter) could never be stored and would sink
// its whole batch: it is left out, and its seq put in `unreadable`.
v1::AgentMessage BatchMessage(const std::vector<ReportBuffer::Entry>& batch, uint64_t dropped,
                              std::vector<uint64_t>* unreadable) {
  v1::AgentMessage message;
  message.set_dropped_total(dropped);
  google::protobuf::LogSilencer quiet;  // the caller logs one line, not one per bad field
  for (const ReportBuffer::Entry& e : batch) {
    v1::SequencedReport* sr = message.add_reports();
    sr->set_seq(e.seq);
    if (!sr->mutable_report()->ParseFromString(e.bytes)) {
      unreadable->push_back(e.seq);
      message.mutable_reports()->RemoveLast();
    }
  }
  return message;
}

}  // namespace

absl::Status CheckCollectorAuth(const CollectorAuth& auth) {
  if (auth.cert_file.empty() != auth.key_file.empty()) return absl::InvalidArgumentError("--tls-cert and --tls-key go together");
  if (!auth.cert_file.empty() && auth.ca_file.empty())
    return absl::InvalidArgumentError("--tls-cert needs --collector-ca (a client certificate needs TLS)");
  for (auto [path, flag] : {std::pair{&auth.ca_file, "--collector-ca"}, std::pair{&auth.cert_file, "--tls-cert"},
                            std::pair{&auth.key_file, "--tls-key"}}) {
    if (path->empty()) continue;
    auto text = ReadSmallFile(*path, flag);
    if (!text.ok()) return text.status();
    if (text->find("-----BEGIN") == std::string::npos)
      return absl::InvalidArgumentError(absl::StrCat(flag, ": ", *path, " is not PEM"));
  }
  if (!auth.token_file.empty() && auth.ca_file.empty() && !auth.insecure)
    return absl::FailedPreconditionError(
        "--collector-token-file without --collector-ca would send the token unencrypted; add --collector-ca "
        "(TLS), or --insecure to send it in the clear");
  if (!auth.token_file.empty()) {
    auto text = ReadSmallFile(auth.token_file, "--collector-token-file");
    if (!text.ok()) return text.status();
    auto tokens = net::TokenFile::Parse(*text, auth.token_file);
    if (!tokens.ok()) return absl::InvalidArgumentError(absl::StrCat("--collector-token-file: ", tokens.status().message()));
  }
  return absl::OkStatus();
}

// The generated stub and the channel it uses, made once per client: gRPC reconnects the
// channel itself, each failed stream is reopened on it. A new one (after a stuck stream or
// a refusal) re-reads the TLS files.
class CollectorStub {
 public:
  CollectorStub(const std::string& target, const CollectorAuth& auth) {
    grpc::ChannelArguments args;
    // Notice a dead collector (or a silently dropped connection) while idle.
    args.SetInt(GRPC_ARG_KEEPALIVE_TIME_MS, 20'000);
    args.SetInt(GRPC_ARG_KEEPALIVE_TIMEOUT_MS, 10'000);
    args.SetInt(GRPC_ARG_KEEPALIVE_PERMIT_WITHOUT_CALLS, 1);
    args.SetInt(GRPC_ARG_HTTP2_MAX_PINGS_WITHOUT_DATA, 0);
    args.SetInt(GRPC_ARG_INITIAL_RECONNECT_BACKOFF_MS, 200);
    args.SetInt(GRPC_ARG_MIN_RECONNECT_BACKOFF_MS, 200);
    args.SetInt(GRPC_ARG_MAX_RECONNECT_BACKOFF_MS, 3'000);
    args.SetMaxSendMessageSize(4 << 20);
    channel_ = grpc::CreateCustomChannel(target, Credentials(auth), args);
    stub_ = v1::Collector::NewStub(channel_);
  }
  v1::Collector::Stub* operator->() { return stub_.get(); }

 private:
  std::shared_ptr<grpc::Channel> channel_;
  std::unique_ptr<v1::Collector::Stub> stub_;
};

CollectorClient::CollectorClient(std::string target, v1::AgentIdentity identity, Options options)
    : target_(std::move(target)), identity_(std::move(identity)), options_(options), buffer_(options.buffer_reports) {}

CollectorClient::~CollectorClient() { Stop(); }

void CollectorClient::Start() { thread_ = std::thread([this] { Run(); }); }

void CollectorClient::Write(const v1::Report& report) {
  std::string bytes = report.SerializeAsString();
  {
    std::lock_guard lock(mu_);
    buffer_.Push(std::move(bytes));
  }
  cv_.notify_all();
}

bool CollectorClient::Flush(std::chrono::milliseconds timeout) {
  std::unique_lock lock(mu_);
  return cv_.wait_for(lock, timeout, [&] { return buffer_.pending() == 0; });
}

void CollectorClient::Stop() {
  {
    std::lock_guard lock(mu_);
    stopping_ = true;
    if (active_ != nullptr) active_->TryCancel();
  }
  cv_.notify_all();
  if (thread_.joinable()) thread_.join();
}

CollectorClient::Stats CollectorClient::stats() {
  std::lock_guard lock(mu_);
  return {buffer_.acked(), buffer_.dropped(), buffer_.pending(), streams_ > 0 ? streams_ - 1 : 0, auth_failures_,
          buffer_.rejected()};
}

void CollectorClient::Log(const std::string& message) {
  if (!options_.quiet) fprintf(stderr, "stallscope: collector %s: %s\n", target_.c_str(), message.c_str());
}

void CollectorClient::Run() {
  auto stub = std::make_unique<CollectorStub>(target_, options_.auth);
  std::mt19937 rng(std::random_device{}());
  auto backoff = options_.initial_backoff;
  while (true) {
    {
      std::lock_guard lock(mu_);
      if (stopping_) return;
    }
    bool stuck = false;
    if (RunStream(*stub, &stuck)) backoff = options_.initial_backoff;
    // A connection that went silent may be half-dead: start over on a new one.
    if (stuck) stub = std::make_unique<CollectorStub>(target_, options_.auth);
    // Jittered, so agents restarted together do not reconnect in lockstep.
    std::uniform_real_distribution<double> jitter(0.8, 1.2);
    auto wait = std::chrono::milliseconds(static_cast<int64_t>(backoff.count() * jitter(rng)));
    std::unique_lock lock(mu_);
    if (cv_.wait_for(lock, wait, [&] { return stopping_; })) return;
    backoff = std::min(options_.max_backoff, backoff * 2);
  }
}

bool CollectorClient::RunStream(CollectorStub& stub, bool* stuck_out) {
  grpc::ClientContext context;
  if (std::string token = Token(options_.auth); !token.empty()) context.AddMetadata("authorization", "Bearer " + token);
  {
    std::lock_guard lock(mu_);
    if (stopping_) return false;
    active_ = &context;
    buffer_.Rewind();
    ++streams_;
  }
  auto stream = stub->StreamReports(&context);
  bool answered = false;
  bool broken = false;
  auto last_progress = std::chrono::steady_clock::now();

  v1::AgentMessage hello;
  *hello.mutable_identity() = identity_;
  {
    std::lock_guard lock(mu_);
    hello.set_dropped_total(buffer_.dropped());
  }
  bool wrote_hello = stream->Write(hello);

  // The seq ranges of the batches sent on this stream and not yet acknowledged, oldest first.
  std::deque<std::pair<uint64_t, uint64_t>> unacked_batches;
  // Acknowledgements arrive on their own thread; the first one says where to resume.
  std::thread reader([&] {
    v1::CollectorMessage ack;
    while (stream->Read(&ack)) {
      std::lock_guard lock(mu_);
      std::vector<uint64_t> rejected(ack.rejected_seqs().begin(), ack.rejected_seqs().end());
      std::sort(rejected.begin(), rejected.end());
      if (uint64_t n = buffer_.Ack(ack.acked_through(), rejected); n > 0)
        Log(absl::StrCat("refused ", n, " reports it could not read (first seq ", rejected.front(),
                         "); dropped, not resent (agentStats.collectorRejected)"));
      while (!unacked_batches.empty() && unacked_batches.front().second <= ack.acked_through())
        unacked_batches.pop_front();
      answered = true;
      last_progress = std::chrono::steady_clock::now();
      cv_.notify_all();
    }
    std::lock_guard lock(mu_);
    broken = true;
    cv_.notify_all();
  });

  // A stream that stops answering (a network that silently drops packets, a stuck
  // collector) is cancelled by this watchdog, even while a Write is blocked by flow control.
  bool done = false, stuck = false;
  auto opened = std::chrono::steady_clock::now();
  std::thread watchdog([&] {
    std::unique_lock lock(mu_);
    while (!done) {
      cv_.wait_for(lock, std::chrono::milliseconds(200));
      auto now = std::chrono::steady_clock::now();
      bool no_answer = !answered && now - opened > options_.ack_timeout;
      bool no_ack = answered && buffer_.pending() > 0 && now - last_progress > options_.ack_timeout;
      if (!done && !stuck && (no_answer || no_ack)) {
        stuck = true;
        context.TryCancel();
        cv_.notify_all();
      }
    }
  });

  std::unique_lock lock(mu_);
  if (!wrote_hello) broken = true;
  // Resume from the collector's answer, so what it already stored is not sent again.
  cv_.wait(lock, [&] { return answered || broken || stopping_ || stuck; });
  if (answered && !broken && !stuck) {
    connected_ = true;
    Log(streams_ == 1 ? "streaming reports" : "reconnected; resending unacknowledged reports");
  }
  while (answered && !broken && !stopping_ && !stuck) {
    if (!buffer_.has_unsent()) {
      cv_.wait(lock, [&] { return buffer_.has_unsent() || broken || stopping_ || stuck; });
      continue;
    }
    std::vector<ReportBuffer::Entry> batch = buffer_.TakeUnsent(options_.batch_reports, options_.batch_bytes);
    uint64_t dropped = buffer_.dropped();
    if (buffer_.pending() == batch.size()) last_progress = std::chrono::steady_clock::now();
    unacked_batches.emplace_back(batch.front().seq, batch.back().seq);
    lock.unlock();
    std::vector<uint64_t> unreadable;
    v1::AgentMessage message = BatchMessage(batch, dropped, &unreadable);
    bool ok = message.reports_size() == 0 || stream->Write(message);
    lock.lock();
    for (uint64_t seq : unreadable) buffer_.Reject(seq, seq);
    if (!unreadable.empty())
      Log(absl::StrCat(unreadable.size(), " reports not sent: a string is not UTF-8 (first seq ", unreadable.front(),
                       "); dropped (agentStats.collectorRejected)"));
    if (!ok) broken = true;
  }
  bool stopping = stopping_;
  bool failed = broken || stuck;
  bool was_stuck = stuck;
  *stuck_out = stuck;
  active_ = nullptr;
  done = true;
  cv_.notify_all();
  lock.unlock();
  watchdog.join();

  // A stream we leave (Stop) is cancelled; a broken one already carries its status.
  if (!failed) context.TryCancel();
  reader.join();
  grpc::Status status = stream->Finish();
  if (!stopping) {
    std::lock_guard relock(mu_);
    // The refused batch is the first one sent and not acknowledged (one that was all
    // unreadable was never sent: its reports are gone already).
    while (status.error_code() == grpc::StatusCode::INVALID_ARGUMENT && answered && !unacked_batches.empty()) {
      auto [first, last] = unacked_batches.front();
      unacked_batches.pop_front();
      if (DropRefusedBatch(status, first, last) > 0) break;
    }
    if (NoteRefusal(status)) {
      connected_ = false;
      *stuck_out = true;  // retry on a new connection, which re-reads the TLS files
      return answered;
    }
    if (connected_ || streams_ == 1) {
      std::string why = was_stuck ? "the collector stopped answering"
                        : status.error_message().empty() ? "no status" : SafeText(status.error_message(), 512);
      Log(absl::StrCat(answered ? "stream ended" : "unreachable", " (", why, "); buffering up to ",
                       options_.buffer_reports, " reports and retrying"));
    }
    connected_ = false;
  }
  return answered;
}

uint64_t CollectorClient::DropRefusedBatch(const grpc::Status& status, uint64_t first_seq, uint64_t last_seq) {
  uint64_t n = buffer_.Reject(first_seq, last_seq);
  if (n == 0) return 0;
  // The collector's words are a network peer's text: safe text before a terminal shows them.
  Log(absl::StrCat("refused a batch (seq ", first_seq, "-", last_seq, "): ", SafeText(status.error_message(), 512),
                   "; its ", n, " reports are dropped, not resent (agentStats.collectorRejected)"));
  return n;
}

bool CollectorClient::NoteRefusal(const grpc::Status& status) {
  bool refused = status.error_code() == grpc::StatusCode::UNAUTHENTICATED ||
                 status.error_code() == grpc::StatusCode::PERMISSION_DENIED ||
                 (status.error_code() == grpc::StatusCode::UNAVAILABLE &&
                  (absl::StrContains(status.error_message(), "SSL") || absl::StrContains(status.error_message(), "TLS") ||
                   absl::StrContains(status.error_message(), "handshake")));
  if (!refused) return false;
  ++auth_failures_;
  if (!auth_failure_shown_) {
    auth_failure_shown_ = true;
    const char* code = status.error_code() == grpc::StatusCode::UNAUTHENTICATED     ? "UNAUTHENTICATED"
                       : status.error_code() == grpc::StatusCode::PERMISSION_DENIED ? "PERMISSION_DENIED"
                                                                                    : "TLS";
    fprintf(stderr,
            "stallscope: collector %s refused this agent: %s: %s; reports stay buffered (up to %zu) and it keeps "
            "retrying; refusals are counted in agentStats.collectorAuthFailures\n",
            target_.c_str(), code, status.error_message().c_str(), options_.buffer_reports);
  }
  return true;
}

}  // namespace stallscope
