// Defends the gRPC port against clients that open streams far faster than an agent does
// (HTTP/2 rapid reset: open and reset streams in a loop). gRPC 1.51 accepts a reset stream's
// call anyway and queues it for the service, so such a client grows the collector without
// bound; nothing in its public API closes one connection. The guard counts new streams per
// connection (the peer's address and port), and a connection that opens more than
// `max_streams_per_window` within `window` is cut: its socket, found in /proc/self/fd by its
// addresses, is shut down, which makes gRPC cancel everything it queued from it. Its address
// is then refused for `ban`: its new connections are closed as gRPC accepts them (gRPC's
// accept4() call resolves to a definition in this binary that asks the guard), so a flooder
// that reconnects never reaches gRPC's call queue again meanwhile. An agent opens one stream
// per connection, and reopens one with backoff, far below the limit.
#ifndef STALLSCOPE_COLLECTOR_STREAM_FLOOD_GUARD_H_
#define STALLSCOPE_COLLECTOR_STREAM_FLOOD_GUARD_H_

#include <atomic>
#include <cstdint>
#include <mutex>
#include <string>
#include <unordered_map>
#include <unordered_set>

#include "absl/time/time.h"

namespace stallscope::collector {

class StreamFloodGuard {
 public:
  struct Options {
    int max_streams_per_window = 32;
    absl::Duration window = absl::Seconds(10);
    absl::Duration ban = absl::Seconds(30);
    size_t max_tracked = 100'000;  // connections remembered at once (older ones are forgotten)
  };

  explicit StreamFloodGuard(Options options) : options_(options) {}
  // The port the gRPC server listens on: only its connections are ever cut.
  void set_local_port(int port) { local_port_ = port; }

  // For each new stream, with grpc::ServerContext::peer() ("ipv4:1.2.3.4:5678",
  // "ipv6:[::1]:5678"). False: refuse the stream; its connection has been cut.
  bool Admit(const std::string& peer, absl::Time now);
  uint64_t cut() const { return cut_.load(); }
  uint64_t refused() const { return refused_.load(); }
  // The guard that accept4() asks (one gRPC server per process).
  void Install();
  // True when a connection from `ip` to the local port should be closed at accept.
  bool Banned(const std::string& ip, int local_port);

 private:
  struct Window {
    absl::Time start;
    int streams = 0;
  };
  // Shuts down this process's TCP sockets on local_port_ whose peer is ip:port.
  void Cut(const std::string& ip, int port);

  const Options options_;
  std::atomic<int> local_port_{0};
  std::mutex mu_;
  std::unordered_map<std::string, Window> connections_;
  std::unordered_map<std::string, absl::Time> banned_;  // ip -> until
  std::unordered_set<std::string> cut_connections_;      // peers already shut down
  std::atomic<uint64_t> cut_{0}, refused_{0};
};

// "ipv4:1.2.3.4:5678" -> ("1.2.3.4", 5678); false if it is not an IP peer.
bool ParseGrpcPeer(const std::string& peer, std::string* ip, int* port);
// The address and port of a socket address, in ParseGrpcPeer's form.
bool SocketAddress(const void* sockaddr_storage, std::string* ip, int* port);

}  // namespace stallscope::collector

#endif  // STALLSCOPE_COLLECTOR_STREAM_FLOOD_GUARD_H_
