// The HTTP side: JSON query API (/api/v1/...), the dashboard (/), /metrics and /healthz.
#ifndef STALLSCOPE_COLLECTOR_HTTP_API_H_
#define STALLSCOPE_COLLECTOR_HTTP_API_H_

#include <memory>
#include <string>
#include <thread>

#include "absl/status/statusor.h"
#include "metrics.h"
#include "store.h"

namespace httplib {
class Server;
}

namespace stallscope::collector {

class HttpApi {
 public:
  HttpApi(Store* store, Metrics* metrics);
  ~HttpApi();

  // Binds host:port (port 0 picks one) and serves on background threads; returns the port.
  absl::StatusOr<int> Start(const std::string& host, int port);
  void Stop();

 private:
  void Routes();

  Store* store_;
  Metrics* metrics_;
  std::unique_ptr<httplib::Server> server_;
  std::thread thread_;
};

}  // namespace stallscope::collector

#endif  // STALLSCOPE_COLLECTOR_HTTP_API_H_
