// The daemon's configuration file: `key = value` lines, `#` comments, keys may repeat where
// they add up (select, exclude). Documented in README.md ("Running on every node") and
// deploy/stallscope-daemon.conf.
#ifndef STALLSCOPE_AGENT_DAEMON_DAEMON_CONFIG_H_
#define STALLSCOPE_AGENT_DAEMON_DAEMON_CONFIG_H_

#include <cstdint>
#include <string>
#include <vector>

#include "absl/status/statusor.h"

namespace stallscope {

struct DaemonConfig {
  std::string collector;                // HOST:PORT; "" = no streaming (local output only)
  size_t collector_buffer = 0;          // reports kept while the collector is away; 0 = from memory_limit_mb
  std::string collector_ca;             // verify the collector (TLS on); "" = plaintext
  std::string tls_cert, tls_key;        // client certificate for the collector (mTLS)
  std::string collector_token_file;     // bearer token for the collector (needs TLS, or insecure)
  bool insecure = false;                // send the token even without TLS
  // /healthz, /readyz, /metrics; "" or "off" = none. Loopback unless told: another address
  // needs listen_token_file (or listen_insecure). In a pod: the pod's IP (deploy/daemonset.yaml).
  std::string listen = "127.0.0.1:7702";
  std::string listen_token_file;        // 'NAME TOKEN' lines: /metrics needs one of them
  bool listen_insecure = false;         // serve /metrics off loopback without a token
  std::vector<std::string> select;      // each line: terms that must all match; lines are alternatives
  std::vector<std::string> exclude;     // each line: terms that must all match to exclude
  // Orchestrator sources win over the process's own (env, app, comm) whatever the order
  // (service_rule.h); listed here in the order they apply.
  std::string service = "label:app.kubernetes.io/name, label:app, label:com.docker.compose.service, workload, "
                        "env:STALLSCOPE_SERVICE, env:OTEL_SERVICE_NAME, app, comm";
  uint32_t max_processes = 256;         // tracked processes (roots found plus their workers)
  uint32_t max_threads = 8192;          // threads tracked in the kernel
  uint64_t block_threshold_ms = 100;
  uint32_t scan_interval_ms = 1000;     // /proc scan for new servers
  uint32_t stats_interval_s = 60;       // an agentStats report (counters so far) this often
  uint64_t memory_limit_mb = 256;       // shed detail above fractions of this (never exceed it)
  std::string host_root = "/";          // where the node's / is visible (container runtime, kubelet files)
  std::string output;                   // reports go here besides the collector; "" or "-" = stdout
  std::string format;                   // text (log lines) | json; "" = text on stdout, json in a file
};

// Parses the file's text; errors name the line ("line 3: unknown key 'foo'").
absl::StatusOr<DaemonConfig> ParseDaemonConfig(const std::string& text);

// Reads and parses FILE; errors start with the path.
absl::StatusOr<DaemonConfig> LoadDaemonConfig(const std::string& path);

}  // namespace stallscope

#endif  // STALLSCOPE_AGENT_DAEMON_DAEMON_CONFIG_H_
