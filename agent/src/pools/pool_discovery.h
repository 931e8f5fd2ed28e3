// Which threads of the tracked processes form worker pools, from what each thread is waiting
// in (/proc/PID/task/TID/syscall) while the pool is idle. Pure functions over a recorded view,
// so the classification is unit-tested on real servers' recordings; proc_pool_view.h reads it.
//
// - Thread pool (CherryPy, gunicorn gthread, concurrent.futures executors, anyio's worker
//   threads, asgiref's single thread): Python threads other than the main one that run the same
//   work loop (the outermost function of the thread below threading.py: concurrent.futures'
//   `_worker`, anyio's `WorkerThread.run`) and take their jobs in a futex wait WITHOUT timeout
//   (queue.get() -> lock acquire -> sem_wait). CPython's GIL waits are timed (5 ms), so they
//   never look idle. Threads without a Python thread state (libuv's, gRPC's or a DB driver's
//   own threads) are not members, nor is a lone thread that is not an executor's (a logging
//   QueueListener): it consumes what the pool produces. Busy threads of a known work loop are
//   members too (a pool that grows under load is never seen idle). When the process's Python
//   threads cannot be read, every non-main thread in an untimed futex wait is (as before).
//   uWSGI --threads
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
  bool python = false;    // has a Python thread state (ProcessView::python_read)
  // The thread's work loop: its outermost Python function below threading.py's, as
  // "qualname (file)"; "" when unknown (not Python, or not yet past threading's bootstrap).
  std::string work_loop;
  // An executor thread in an untimed futex wait whose innermost Python frame is not its work
  // loop: it waits on another lock (a logging handler's, a connection pool's) inside a job, so
  // it is busy, not idle on its queue. Its futex word must not name the executor's queue: a
  // second "queue" would split one executor into two pools.
  bool waits_inside_job = false;
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
  bool python_read = false;  // threads' `python` and `work_loop` were read
  // Python threads were read before but not this time (the thread list changed mid-read):
  // the process is left out of this round rather than classified without its work loops.
  bool python_pending = false;
  // Python threads still in threading's bootstrap (no work loop yet): a pool that starts
  // threads on demand may be about to grow.
  uint32_t threads_starting = 0;
  // A configured thread-pool maximum read from the command line (gunicorn --threads), 0: none.
  uint32_t configured_threads = 0;
  std::string configured_from;  // "gunicorn --threads 4"
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
  bool busy = false;  // found outside its idle wait (a thread of a known work loop)
  uint64_t idle_uaddr = 0;  // the futex word of its job queue when known (executors), 0: any
};

struct DiscoveredPool {
  std::string key;  // stable identity across rescans: "threads:PID" or "prefork:INODE"
  DiscoveredKind kind = DiscoveredKind::kThreadPool;
  pid_t pid = 0;    // the process; for prefork the master (the members' common parent)
  ListenerFd listener;  // port 0 when none is known
  std::vector<DiscoveredMember> members;
  std::string membership;       // how the members were chosen, for reports
  bool seen_idle = false;       // a member is in its idle wait now
  bool executor = false;        // concurrent.futures' worker loop: a pool even of one, busy or not
  uint32_t configured_max = 0;  // 0: not readable
  std::string configured_from;
  uint32_t threads_starting = 0;  // ProcessView::threads_starting of its process
};

// "concurrent.futures' `_worker`": the work loop of ThreadPoolExecutor threads.
bool IsExecutorWorkLoop(const std::string& work_loop);

std::vector<DiscoveredPool> DiscoverPools(const std::vector<ProcessView>& processes,
                                          const WaitSyscalls& nr);

}  // namespace stallscope

#endif  // STALLSCOPE_AGENT_POOLS_POOL_DISCOVERY_H_
