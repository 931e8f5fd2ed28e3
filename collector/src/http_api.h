// The HTTP side: JSON query API (/api/v1/...), the dashboard (/), /metrics and /healthz.
#ifndef STALLSCOPE_COLLECTOR_HTTP_API_H_
#define STALLSCOPE_COLLECTOR_HTTP_API_H_

#include <functional>
#include <memory>
#include <string>
#include <thread>

#include "absl/status/statusor.h"
#include "http_guard.h"
#include "listener_security.h"
#include "metrics.h"
#include "store.h"

namespace httplib {
class Server;
}

namespace stallscope::collector {

// Every path but /healthz needs a token with the read role when the listener has a
// --token-file; request bodies are refused unread (net::GuardHttpServer). A response
// stops growing at kMaxResponseBytes (its JSON then says "truncated":true).
inline constexpr size_t kMaxResponseBytes = 32 << 20;

class HttpApi {
 public:
  // `health`: OK, or why /healthz answers 503 (a listener or the store not working).
  HttpApi(Store* store, Metrics* metrics, net::ListenerSecurity* security, std::function<absl::Status()> health);
  ~HttpApi();

  // Binds host:port (port 0 picks one) and serves on background threads; returns the port.
  absl::StatusOr<int> Start(const std::string& host, int port);
  void Stop();
  const net::HttpGuardStats& guard_stats() const { return *guard_; }

 private:
  void Routes();

  Store* store_;
  Metrics* metrics_;
  net::ListenerSecurity* security_;
  std::function<absl::Status()> health_;
  std::unique_ptr<httplib::Server> server_;
  std::shared_ptr<const net::HttpGuardStats> guard_;
  std::thread thread_;
};

}  // namespace stallscope::collector

#endif  // STALLSCOPE_COLLECTOR_HTTP_API_H_
