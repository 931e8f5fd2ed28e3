// The agent's exit codes, documented in README.md ("Exit codes"). Scripts depend on them.
#ifndef STALLSCOPE_AGENT_CLI_EXIT_CODES_H_
#define STALLSCOPE_AGENT_CLI_EXIT_CODES_H_

namespace stallscope {

enum ExitCode : int {
  kExitOk = 0,
  kExitInternal = 1,       // unexpected failure (a bug): the message says what
  kExitUsage = 2,          // bad flags or arguments
  kExitNoSuchProcess = 3,  // a --pid that does not exist
  kExitPermission = 4,     // not root / missing CAP_BPF, CAP_PERFMON
  kExitKernel = 5,         // kernel cannot run the probes: no BTF, BPF load/attach refused
  kExitOutput = 6,         // cannot write --output/--flamegraph: refused name (common/output_file.h), disk full
  kExitConfig = 7,         // daemon: bad --config file, or its --listen address cannot be used
  kExitProcessGone = 8,    // a --pid that is a zombie, or exited before the probes were attached
  // 9: a listen port already in use: net::kExitAddressInUse (net/listen_check.h), shared with
  // the collector.
};

}  // namespace stallscope

#endif  // STALLSCOPE_AGENT_CLI_EXIT_CODES_H_
