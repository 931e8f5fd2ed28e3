// The gRPC side: stallscope.v1.Collector/StreamReports with the callback API. Messages are
// taken as raw bytes and parsed here, so a malformed one ends its stream with
// INVALID_ARGUMENT saying so (the generated parser would report it as a plain end of stream).
#ifndef STALLSCOPE_COLLECTOR_COLLECTOR_SERVICE_H_
#define STALLSCOPE_COLLECTOR_COLLECTOR_SERVICE_H_

#include <grpcpp/grpcpp.h>

#include <atomic>
#include <condition_variable>
#include <mutex>
#include <thread>
#include <map>
#include <string>
#include <unordered_set>

#include "absl/time/time.h"
#include "ingestor.h"
#include "listener_security.h"
#include "metrics.h"
#include "stallscope/v1/collector.grpc.pb.h"
#include "stream_flood_guard.h"

namespace stallscope::collector {

class StreamReactor;

class CollectorService : public v1::Collector::WithRawCallbackMethod_StreamReports<v1::Collector::Service> {
 public:
  struct Options {
    int max_streams = 4096;
    // So that one principal's idle streams cannot lock every other agent out.
    int max_streams_per_principal = 1024;
    // A stream must identify itself this soon, or it is closed (a client that never sends).
    absl::Duration identity_timeout = absl::Seconds(10);
    absl::Duration retention = absl::Hours(24 * 7);  // reports older than this are refused
    // Who a stream is (certificate or token); nullptr = everyone is the anonymous principal.
    const net::ListenerSecurity* security = nullptr;
  };

  CollectorService(Ingestor* ingestor, Metrics* metrics, Options options);
  ~CollectorService() override;

  grpc::ServerBidiReactor<grpc::ByteBuffer, grpc::ByteBuffer>* StreamReports(
      grpc::CallbackServerContext* context) override;

  // The port the server listens on (after BuildAndStart): the flood guard cuts only its
  // connections.
  void set_listen_port(int port) { flood_guard_.set_local_port(port); }
  uint64_t connections_cut() const { return flood_guard_.cut(); }
  uint64_t connections_refused() const { return flood_guard_.refused(); }
  void InstallFloodGuard() { flood_guard_.Install(); }

  // Configures `builder` for this service: message limits, keepalive enforcement, connection
  // idle time and age, streams per connection, handshake timeout and the memory budget.
  static void Configure(grpc::ServerBuilder& builder, int max_message_bytes);

 private:
  friend class StreamReactor;
  void Register(StreamReactor* r);
  void Unregister(StreamReactor* r);
  void Reap();

  Ingestor* ingestor_;
  Metrics* metrics_;
  Options options_;
  std::mutex mu_;
  std::condition_variable cv_;
  std::unordered_set<StreamReactor*> streams_;
  std::map<std::string, int> per_principal_;
  StreamFloodGuard flood_guard_{StreamFloodGuard::Options{}};
  bool stopping_ = false;
  std::thread reaper_;
};

}  // namespace stallscope::collector

#endif  // STALLSCOPE_COLLECTOR_COLLECTOR_SERVICE_H_
