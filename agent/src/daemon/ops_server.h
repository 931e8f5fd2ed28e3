// The daemon's operations endpoints over HTTP (cpp-httplib, as the collector): /healthz
// (liveness: the run loop turned within the last 10 s), /readyz (probes loaded and the first
// discovery scan done) and /metrics. Served from its own threads from a snapshot the run loop
// publishes, so a slow scrape never delays the agent. The probes need no token and say only
// up or down; /metrics needs a token when --listen-token-file is set. Loopback by default; any
// other address needs the token file (or --listen-insecure), by the collector's listen rule
// (net::ListenerSecurity::CheckListenAddress, without TLS: see tls_optional). The listener shares the
// collector's setup (net::ListenerSecurity, net::GuardHttpServer): four connections at once,
// two per client address, each cut after 10 s, so slow clients cannot starve the probes.
#ifndef STALLSCOPE_AGENT_DAEMON_OPS_SERVER_H_
#define STALLSCOPE_AGENT_DAEMON_OPS_SERVER_H_

#include <atomic>
#include <chrono>
#include <memory>
#include <mutex>
#include <string>
#include <thread>

#include "absl/status/statusor.h"
#include "http_guard.h"
#include "listener_security.h"

namespace httplib {
class Server;
}

namespace stallscope {

class OpsServer {
 public:
  OpsServer();
  ~OpsServer();
  // "HOST:PORT" or ":PORT" (all addresses); port 0 picks one. Returns the bound port.
  // FailedPrecondition for a non-loopback HOST without a token file unless `insecure`.
  absl::StatusOr<int> Start(const std::string& listen, const std::string& token_file = "",
                            bool insecure = false);
  void Stop();
  // From the run loop: the metrics text, readiness, and "I am alive now".
  void Publish(std::string metrics, bool ready);

 private:
  void Routes();

  std::unique_ptr<net::ListenerSecurity> security_;
  std::unique_ptr<httplib::Server> server_;
  std::thread thread_;
  std::atomic<bool> listen_done_{false};
  std::mutex mu_;
  std::string metrics_;
  bool ready_ = false;
  std::chrono::steady_clock::time_point last_publish_;
};

}  // namespace stallscope

#endif  // STALLSCOPE_AGENT_DAEMON_OPS_SERVER_H_
