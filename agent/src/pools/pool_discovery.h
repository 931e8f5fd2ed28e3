// Which threads of the tracked processes form worker pools, from what each thread is waiting
// in (/proc/PID/task/TID/syscall) while the pool is idle. Pure functions over a recorded view,
// so the classification is unit-tested on real servers' recordings; proc_pool_view.h reads it.
//
// - Thread pool (CherryPy, gunicorn gthread, concurrent.futures executors): threads other than
//   the main one blocked in a futex wait WITHOUT timeout (queue.get() -> lock acquire ->
//   sem_wait). CPython's GIL waits are timed (5 ms), so they never look idle. uWSGI --threads
//   (recognised by its executable) serialises accept() with a pthread mutex: its threads idle
//   either in that mutex (futex without timeout) or in epoll_wait/accept on the listener.
// - Prefork pool (gunicorn sync, uWSGI --processes): processes that wait on a listening socket
//   (accept, select/poll including it, epoll_wait on a set containing it) that another process
//   of the tracked tree also holds, i.e. a socket shared by fork. A lone event loop waiting on
//   its own listener is not a pool.
#ifndef STALLSCOPE_AGENT_POOLS_POOL_DISCOVERY_H_
#define STALLSCOPE_AGENT_POOLS_POOL_DISCOVERY_H_

#include <sys/types.h>

#include <cstdint>
#include <string>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "proc/process_tree.h"

namespace stallscope {

// Syscall numbers the classification needs (the running architecture's by default).
struct WaitSyscalls {
  int futex = -1, accept = -1, accept4 = -1, select = -1, pselect6 = -1, poll = -1, ppoll = -1,
      epoll_wait = -1, epoll_pwait = -1, epoll_pwait2 = -1;
  static WaitSyscalls Native();
};

struct ListenerFd {
  int fd = -1;
  uint64_t inode = 0;
  uint16_t port = 0;
  std::string address;  // "0.0.0.0:8000"
};

struct ThreadView {
  pid_t tid = 0;
  CurrentSyscall syscall;
  // The first 8 bytes at the wait's fd array in the thread's memory: select's read fd_set
  // (arg 1) or poll's first pollfd (arg 0); 0 when not read.
  uint64_t wait_word = 0;
};

struct ProcessView {
  pid_t pid = 0;
  pid_t ppid = 0;
  bool is_uwsgi = false;
  std::vector<ListenerFd> listeners;
  absl::flat_hash_map<int, std::vector<int>> epoll_targets;  // epfd -> fds, for epoll waiters
  std::vector<ThreadView> threads;
};

enum class IdleWaitKind { kNone, kFutex, kListener };

struct IdleWait {
  IdleWaitKind kind = IdleWaitKind::kNone;
  int fd = -1;             // kListener: the fd the kernel matches (listener, or the epoll fd)
  uint64_t listener_inode = 0;
};

// What a thread is waiting in, as far as pools care.
IdleWait ClassifyWait(const ProcessView& process, const ThreadView& thread, const WaitSyscalls& nr);

enum class DiscoveredKind { kThreadPool, kPrefork };

struct DiscoveredMember {
  pid_t pid = 0;
  pid_t tid = 0;
  uint32_t idle_flags = 0;  // SS_IDLE_*
  int idle_fd = -1;
};

struct DiscoveredPool {
  std::string key;  // stable identity across rescans: "threads:PID" or "prefork:INODE"
  DiscoveredKind kind = DiscoveredKind::kThreadPool;
  pid_t pid = 0;    // the process; for prefork the master (the members' common parent)
  ListenerFd listener;  // port 0 when none is known
  std::vector<DiscoveredMember> members;
};

std::vector<DiscoveredPool> DiscoverPools(const std::vector<ProcessView>& processes,
                                          const WaitSyscalls& nr);

}  // namespace stallscope

#endif  // STALLSCOPE_AGENT_POOLS_POOL_DISCOVERY_H_
