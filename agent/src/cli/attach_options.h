// Flags of `stallscope attach`.
#ifndef STALLSCOPE_AGENT_CLI_ATTACH_OPTIONS_H_
#define STALLSCOPE_AGENT_CLI_ATTACH_OPTIONS_H_

#include <sys/types.h>

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/statusor.h"

namespace stallscope {

enum class OutputFormat { kText, kJson };

struct AttachOptions {
  std::vector<pid_t> pids;
  std::optional<double> duration_seconds;  // run until a signal when unset
  uint64_t block_threshold_ms = 100;
  uint64_t saturation_threshold_ms = 100;    // a pool all busy this long is saturated
  double utilization_interval_seconds = 10;  // PoolUtilization cadence
  bool sockets = false;                      // text: print every SocketLifetime
  OutputFormat format = OutputFormat::kText;
  std::string output_path;  // "" = stdout
  uint32_t max_threads = 4096;
  uint32_t max_processes = 4096;
  std::string collector;    // HOST:PORT of a stallscope-collector; "" = none
  size_t collector_buffer = 100'000;  // reports kept in memory while the collector is away
  std::string collector_ca;           // verify the collector with this CA: TLS on
  std::string tls_cert, tls_key;      // client certificate (mTLS)
  std::string collector_token_file;   // bearer token for the collector
  bool insecure = false;              // --insecure: a token may be sent without TLS
  std::string service;      // service name sent to the collector
  std::string flamegraph_path;  // write an SVG flame graph of stalled time at exit; "" = none
  // "auto", "sched", "tracepoints" or "raw": how waits are seen (ProbeConfig::syscall_hooks)
  std::string syscall_hooks = "auto";
  bool verbose = false;     // libbpf's own messages on stderr
  bool help = false;
};

// Parses the arguments after "attach". Errors are one line, suitable to print after
// "stallscope: ".
absl::StatusOr<AttachOptions> ParseAttachOptions(const std::vector<std::string>& args);

extern const char kAttachHelp[];

}  // namespace stallscope

#endif  // STALLSCOPE_AGENT_CLI_ATTACH_OPTIONS_H_
