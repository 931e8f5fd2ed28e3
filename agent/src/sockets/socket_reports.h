// SocketLifetime reports from the kernel's close events (bpf/sockets.bpf.h), and the per-remote-
// endpoint summary of the text output ("every request waits 800 ms on 10.0.0.5:5432").
#ifndef STALLSCOPE_AGENT_SOCKETS_SOCKET_REPORTS_H_
#define STALLSCOPE_AGENT_SOCKETS_SOCKET_REPORTS_H_

#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "stallscope/v1/report.pb.h"
#include "stallscope_abi.h"

namespace stallscope {

v1::SocketLifetime SocketLifetimeFromEvent(const ss_socket_event& e,
                                           const std::function<uint64_t(uint64_t)>& to_unix_ns);

// Connections grouped by remote endpoint: outbound by remote address:port, inbound by the
// remote host and the local port it came to (client ports are ephemeral).
class EndpointSummary {
 public:
  struct Row {
    std::string endpoint;
    uint64_t count = 0;
    uint64_t p50_ns = 0, p99_ns = 0, max_ns = 0;
    uint64_t resets = 0;
  };
  void Add(const v1::SocketLifetime& s);
  // Most connections first.
  std::vector<Row> Rows(size_t limit) const;
  bool empty() const { return durations_.empty(); }

 private:
  static constexpr size_t kMaxSamplesPerEndpoint = 100'000;  // bounds memory on long runs
  static constexpr size_t kMaxEndpoints = 10'000;
  absl::flat_hash_map<std::string, std::vector<uint64_t>> durations_;
  absl::flat_hash_map<std::string, uint64_t> counts_, resets_;
};

std::string EndpointOf(const v1::SocketLifetime& s);

}  // namespace stallscope

#endif  // STALLSCOPE_AGENT_SOCKETS_SOCKET_REPORTS_H_
