// Limits for a cpp-httplib server facing the network (the collector's HTTP API, the daemon's
// ops port): read/write timeouts, request size, and a connection guard. cpp-httplib gives
// each connection a thread for its whole life and its read timeout restarts with every byte,
// so a client trickling header bytes would hold a thread forever: the guard caps connections
// (in total and per client address; more are closed at once) and cuts any connection older
// than `max_connection_age`, headers, body and keep-alive included.
#ifndef STALLSCOPE_NET_HTTP_GUARD_H_
#define STALLSCOPE_NET_HTTP_GUARD_H_

#include <atomic>
#include <chrono>
#include <cstdint>
#include <memory>

namespace httplib {
class Server;
}

namespace stallscope::net {

struct HttpLimits {
  int max_connections = 64;  // served at once (a thread each)
  int max_per_peer = 8;      // from one client address
  std::chrono::seconds max_connection_age{30};
  std::chrono::seconds read_timeout{5};  // per read, as cpp-httplib counts it
  std::chrono::seconds write_timeout{10};
  size_t max_request_body = 64 * 1024;
};

// What the guard did, readable while the server runs.
struct HttpGuardStats {
  std::atomic<uint64_t> refused{0};  // over a cap: closed at accept
  std::atomic<uint64_t> cut{0};      // older than max_connection_age
  std::atomic<int> active{0};
};

// Applies `limits` to `server`. Call before the server starts listening.
std::shared_ptr<const HttpGuardStats> GuardHttpServer(httplib::Server& server, const HttpLimits& limits);

}  // namespace stallscope::net

#endif  // STALLSCOPE_NET_HTTP_GUARD_H_
