// Reads a ProcessView (pool_discovery.h) of a live process from /proc: its listening TCP
// sockets, what each thread is waiting in, the epoll sets and fd sets of those waits.
#ifndef STALLSCOPE_AGENT_POOLS_PROC_POOL_VIEW_H_
#define STALLSCOPE_AGENT_POOLS_PROC_POOL_VIEW_H_

#include <optional>
#include <string>
#include "absl/strings/string_view.h"

#include "pools/pool_discovery.h"

namespace stallscope {

// nullopt when the process is gone.
std::optional<ProcessView> ReadProcessView(pid_t pid, const WaitSyscalls& nr);

// One line of /proc/net/tcp or tcp6 in LISTEN state: inode, port, address. nullopt for other
// lines. (The accept-queue limit is not there: the kernel side reads it at accept.)
std::optional<ListenerFd> ParseListenLine(absl::string_view line, bool ipv6);

}  // namespace stallscope

#endif  // STALLSCOPE_AGENT_POOLS_PROC_POOL_VIEW_H_
