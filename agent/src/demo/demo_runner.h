// `stallscope demo`: runs the bundled sample app (a Tornado server whose handlers stall in
// known ways), drives a few requests at it while attached, and prints the reports: the
// product working in one command, for a newcomer.
#ifndef STALLSCOPE_AGENT_DEMO_DEMO_RUNNER_H_
#define STALLSCOPE_AGENT_DEMO_DEMO_RUNNER_H_

#include <string>
#include <vector>

namespace stallscope {

int RunDemo(const char* argv0, const std::vector<std::string>& args);

}  // namespace stallscope

#endif  // STALLSCOPE_AGENT_DEMO_DEMO_RUNNER_H_
