// What a process runs, from the objects it has mapped: for the cases where behaviour alone
// cannot tell an event loop from a synchronous worker.
#ifndef STALLSCOPE_AGENT_PROC_RUNTIME_DETECT_H_
#define STALLSCOPE_AGENT_PROC_RUNTIME_DETECT_H_

#include <sys/types.h>

#include <string>

namespace stallscope {

// True when the process has gevent's compiled hub loaded (a mapped file under a "/gevent/"
// directory). gevent reads a request that has already arrived without ever waiting on its
// connection, so one-shot requests give no wait-set evidence; in a gevent process the
// threads that wait in epoll are hubs, i.e. event loops.
bool ProcessRunsGevent(pid_t pid, const std::string& proc_root = "/proc");

}  // namespace stallscope

#endif  // STALLSCOPE_AGENT_PROC_RUNTIME_DETECT_H_
