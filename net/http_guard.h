// Limits for a cpp-httplib server facing the network (the collector's HTTP API, the daemon's
// ops port): read/write timeouts, request size, and a connection guard. cpp-httplib gives
// each connection a thread for its whole life and its read timeout restarts with every byte,
// so a client trickling header bytes would hold a thread forever: the guard caps connections
// (in total and per client address; more are closed at once) and cuts any connection older
// than `max_connection_age`, headers, body and keep-alive included.
//
// cpp-httplib 0.11 also reads without bounds: a request or header line grows until its newline,
// headers are read until the blank line, and a chunked body (or a POST without Content-Length)
// is read whole into memory, whatever `set_payload_max_length` says. So the guard counts what
// each connection reads from its socket (its recv and SSL_read calls, on the guard's threads
// only): at most `max_request_header` bytes for a request line and headers, then only the body
// it accepted; past that the socket reads as closed. A body is judged from the headers before a
// byte of it is read (http_framing.h): refused with 411/413/415 and the connection closed.
// Every response carries the hardening headers (nosniff, no-store, no framing, no referrer,
// `content_security_policy`, HSTS over TLS).
#ifndef STALLSCOPE_NET_HTTP_GUARD_H_
#define STALLSCOPE_NET_HTTP_GUARD_H_

#include <atomic>
#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>

#include <httplib.h>

namespace stallscope::net {

struct HttpLimits {
  int max_connections = 64;  // served at once (a thread each)
  int max_per_peer = 8;      // from one client address
  std::chrono::seconds max_connection_age{30};
  std::chrono::seconds read_timeout{5};  // per read, as cpp-httplib counts it
  std::chrono::seconds write_timeout{10};
  size_t max_request_header = 16 * 1024;  // request line and headers
  size_t max_request_body = 0;            // no route of ours takes a body
  // Pages need their own scripts and styles; nothing else is loaded, framed or posted.
  std::string content_security_policy = "default-src 'none'; frame-ancestors 'none'";
};

// What the guard did, readable while the server runs.
struct HttpGuardStats {
  std::atomic<uint64_t> refused{0};  // over a cap: closed at accept
  std::atomic<uint64_t> cut{0};      // older than max_connection_age
  std::atomic<int> active{0};
  std::atomic<uint64_t> bodies_refused{0};  // 400/411/413/415 before reading a body
  std::atomic<uint64_t> headers_cut{0};     // over max_request_header
};

// A server's own check before routing (authentication): Handled when it answered.
using PreRouting = std::function<httplib::Server::HandlerResponse(const httplib::Request&, httplib::Response&)>;

// Applies `limits` to `server`; `pre_routing` runs after the body check. Call before the server
// starts listening, and never set the server's own pre-routing, post-routing, logger or
// Expect: 100-continue handlers (the guard's).
std::shared_ptr<const HttpGuardStats> GuardHttpServer(httplib::Server& server, const HttpLimits& limits,
                                                      PreRouting pre_routing = nullptr);

}  // namespace stallscope::net

#endif  // STALLSCOPE_NET_HTTP_GUARD_H_
