// Decides which threads are event loops. Only loops stall: a gunicorn sync worker also waits in
// select() between requests, and serving a request is not a stall.
//
// Rule: a thread is an event loop once one of its waits has been seen holding a client
// connection (TCP connection, or named unix connection) together with at least one other fd —
// i.e. it multiplexes. Sync workers wait only on listening sockets and pipes (gunicorn sync,
// uWSGI), or on a single connection at a time (uWSGI's poll() on the request socket). The
// verdict is sticky: once a loop, always a loop (a loop between clients holds only its listener).
#ifndef STALLSCOPE_AGENT_CORE_THREAD_CLASSIFIER_H_
#define STALLSCOPE_AGENT_CORE_THREAD_CLASSIFIER_H_

#include <sys/types.h>

#include <vector>

#include "proc/fd_target.h"

namespace stallscope {

enum class ThreadRole {
  kUnknown,    // not yet seen multiplexing; may still turn out to be a loop
  kEventLoop,  // seen waiting on a client connection plus something else
};

// True when a wait set with these members shows the thread multiplexing client connections.
bool WaitSetShowsEventLoop(const std::vector<FdKind>& members);

}  // namespace stallscope

#endif  // STALLSCOPE_AGENT_CORE_THREAD_CLASSIFIER_H_
