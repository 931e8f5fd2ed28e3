// Flags of stallscope-collector.
#ifndef STALLSCOPE_COLLECTOR_COLLECTOR_OPTIONS_H_
#define STALLSCOPE_COLLECTOR_COLLECTOR_OPTIONS_H_

#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/time/time.h"

namespace stallscope::collector {

struct HostPort {
  std::string host;  // "" = every address
  int port = 0;      // 0 = pick a free port (printed at start)
};

struct CollectorOptions {
  // Loopback by default: another address needs TLS and authentication (or --insecure).
  HostPort grpc_listen{"127.0.0.1", 7700};
  HostPort http_listen{"127.0.0.1", 7701};
  std::string db = "stallscope.db";  // SQLite file, or postgresql://...
  absl::Duration retention = absl::Hours(24 * 7);
  int max_message_bytes = 4 << 20;
  int max_streams = 4096;
  int max_streams_per_principal = 1024;
  absl::Duration identity_timeout = absl::Seconds(10);
  std::string tls_cert, tls_key, client_ca, token_file;
  bool insecure = false;
  bool help = false;
};

// "HOST:PORT", ":PORT", "[::1]:PORT".
absl::StatusOr<HostPort> ParseHostPort(const std::string& value);
absl::StatusOr<CollectorOptions> ParseCollectorOptions(const std::vector<std::string>& args);

extern const char kCollectorHelp[];

}  // namespace stallscope::collector

#endif  // STALLSCOPE_COLLECTOR_COLLECTOR_OPTIONS_H_
