// `stallscope daemon`: host-wide discovery on top of the attach run loop, process identity on
// every report, operations endpoints, SIGHUP reload, memory shedding.
#ifndef STALLSCOPE_AGENT_DAEMON_DAEMON_RUNNER_H_
#define STALLSCOPE_AGENT_DAEMON_DAEMON_RUNNER_H_

#include "cli/daemon_options.h"

namespace stallscope {

// Returns the exit code (cli/exit_codes.h); errors are one line on stderr.
int RunDaemon(const DaemonOptions& options);

}  // namespace stallscope

#endif  // STALLSCOPE_AGENT_DAEMON_DAEMON_RUNNER_H_
