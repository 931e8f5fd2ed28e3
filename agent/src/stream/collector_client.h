// Streams reports to a collector (`attach --collector HOST:PORT`) from a background thread:
// a bounded in-memory buffer, batches on one long-lived gRPC stream, acknowledgements after
// the collector committed them, and reconnects with exponential backoff that resend
// whatever was not acknowledged. Writing a report never blocks the agent.
#ifndef STALLSCOPE_AGENT_STREAM_COLLECTOR_CLIENT_H_
#define STALLSCOPE_AGENT_STREAM_COLLECTOR_CLIENT_H_

#include <chrono>
#include <condition_variable>
#include <memory>
#include <mutex>
#include <string>
#include <thread>

#include "absl/status/status.h"
#include "stallscope/v1/report.pb.h"
#include "stream/report_buffer.h"

namespace grpc {
class ClientContext;
class Status;
}

namespace stallscope {

// How the agent proves itself to the collector and checks the collector (all optional).
struct CollectorAuth {
  std::string ca_file;     // --collector-ca: verify the collector's certificate; turns TLS on
  std::string cert_file;   // --tls-cert / --tls-key: a client certificate (mTLS)
  std::string key_file;
  std::string token_file;  // --collector-token-file: sent as `authorization: Bearer TOKEN`
  bool insecure = false;   // --insecure: a token may go without TLS (else refused)
};

// Reads the files of `auth` (the agent checks them at start, and re-reads them for every new
// connection, so rotated files are picked up), under the owner and mode rules of
// net/credential_file.h (PERMISSION_DENIED: exit net::kExitUnsafeCredentials). A token without
// TLS (--collector-ca) is refused (FAILED_PRECONDITION) unless `insecure`: it would cross the
// network in the clear. One-line errors.
absl::Status CheckCollectorAuth(const CollectorAuth& auth);

class CollectorClient {
 public:
  struct Options {
    CollectorAuth auth;
    size_t buffer_reports = 100'000;  // reports kept while the collector is away
    size_t batch_reports = 500;
    size_t batch_bytes = 1 << 20;     // well under the collector's 4 MiB message limit
    std::chrono::milliseconds initial_backoff{200};
    std::chrono::milliseconds max_backoff{3'000};
    // No answer to the identity, or unacknowledged reports and no ack, for this long: the
    // stream is stuck; reconnect on a new connection.
    std::chrono::milliseconds ack_timeout{30'000};
    bool quiet = false;  // no connection messages on stderr (tests)
  };
  struct Stats {
    uint64_t acked = 0;
    uint64_t dropped = 0;
    uint64_t pending = 0;  // queued or sent, not yet acknowledged
    uint64_t reconnects = 0;
    uint64_t auth_failures = 0;  // streams refused: authentication, identity or TLS handshake
    uint64_t rejected = 0;       // reports the collector refused as unreadable: dropped, not resent
  };

  CollectorClient(std::string target, v1::AgentIdentity identity, Options options);
  ~CollectorClient();  // stops without waiting for acknowledgements

  void Start();
  void Write(const v1::Report& report);
  // Waits until every report written so far is acknowledged, or `timeout`. True if all were.
  bool Flush(std::chrono::milliseconds timeout);
  void Stop();
  Stats stats();

 private:
  void Run();
  // One stream, from open to failure (or Stop). True if the collector answered at all;
  // `stuck`: the watchdog gave up on it (no answer or acks within ack_timeout).
  bool RunStream(class CollectorStub& stub, bool* stuck);
  // A refusal (authentication, identity, TLS) is shown once, clearly; true if it was one.
  bool NoteRefusal(const grpc::Status& status);
  // A batch refused as malformed or invalid (INVALID_ARGUMENT) would be refused again on every
  // resend: the first batch sent and not acknowledged is dropped and counted. mu_ held.
  // Returns how many reports were dropped (0: none of that batch was left).
  uint64_t DropRefusedBatch(const grpc::Status& status, uint64_t first_seq, uint64_t last_seq);
  void Log(const std::string& message);

  const std::string target_;
  const v1::AgentIdentity identity_;
  const Options options_;
  std::mutex mu_;
  std::condition_variable cv_;
  ReportBuffer buffer_;
  bool stopping_ = false;
  grpc::ClientContext* active_ = nullptr;  // cancelled by Stop
  uint64_t streams_ = 0;
  bool connected_ = false;
  uint64_t auth_failures_ = 0;
  bool auth_failure_shown_ = false;
  std::thread thread_;
};

}  // namespace stallscope

#endif  // STALLSCOPE_AGENT_STREAM_COLLECTOR_CLIENT_H_
