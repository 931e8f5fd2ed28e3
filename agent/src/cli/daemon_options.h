// Flags of `stallscope daemon`. Flags given on the command line win over the config file,
// also after a SIGHUP reload.
#ifndef STALLSCOPE_AGENT_CLI_DAEMON_OPTIONS_H_
#define STALLSCOPE_AGENT_CLI_DAEMON_OPTIONS_H_

#include <optional>
#include <string>
#include <vector>

#include "absl/status/statusor.h"

namespace stallscope {

struct DaemonOptions {
  std::string config_path;  // "" = built-in defaults only
  std::optional<std::string> collector, listen, output, format;
  std::optional<std::string> collector_ca, tls_cert, tls_key, collector_token_file, listen_token_file;
  bool verbose = false;
  bool insecure = false;  // a collector token may be sent without TLS
  bool listen_insecure = false;  // --listen-insecure: /metrics off loopback without a token
  bool check_config = false;  // parse the config (and flags), report, exit
  bool help = false;
};

absl::StatusOr<DaemonOptions> ParseDaemonOptions(const std::vector<std::string>& args);

extern const char kDaemonHelp[];

}  // namespace stallscope

#endif  // STALLSCOPE_AGENT_CLI_DAEMON_OPTIONS_H_
