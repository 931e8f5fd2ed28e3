// `stallscope attach`: loads the probes, tracks the given processes and their descendants, and
// turns kernel data into reports until the duration passes, a signal arrives or every tracked
// process has exited.
#ifndef STALLSCOPE_AGENT_ATTACH_ATTACH_RUNNER_H_
#define STALLSCOPE_AGENT_ATTACH_ATTACH_RUNNER_H_

#include "cli/attach_options.h"

namespace stallscope {

// Returns the process exit code (cli/exit_codes.h); errors are printed as one line on stderr.
int RunAttach(const AttachOptions& options);

}  // namespace stallscope

#endif  // STALLSCOPE_AGENT_ATTACH_ATTACH_RUNNER_H_
