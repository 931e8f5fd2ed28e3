#include "pools/pool_discovery.h"

#include <sys/syscall.h>

#include <algorithm>

#include "absl/container/flat_hash_set.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "stallscope_abi.h"

namespace stallscope {
namespace {

constexpr uint64_t kFutexCmdMask = 0x7f;  // without FUTEX_PRIVATE_FLAG / FUTEX_CLOCK_REALTIME
constexpr uint64_t kFutexWait = 0, kFutexWaitBitset = 9;

const ListenerFd* ListenerByFd(const ProcessView& p, int fd) {
  for (const ListenerFd& l : p.listeners)
    if (l.fd == fd) return &l;
  return nullptr;
}

bool IsOneOf(int nr, std::initializer_list<int> set) {
  return nr >= 0 && std::find(set.begin(), set.end(), nr) != set.end();
}

IdleWait OnListener(const ListenerFd& l, int fd) {
  return IdleWait{IdleWaitKind::kListener, fd, l.inode};
}

uint32_t FlagsOf(IdleWaitKind kind) {
  return kind == IdleWaitKind::kFutex ? SS_IDLE_FUTEX : SS_IDLE_LISTENER;
}


DiscoveredPool NewThreadPool(const ProcessView& p, std::string key_suffix) {
  DiscoveredPool pool;
  pool.key = absl::StrCat("threads:", p.pid, key_suffix);
  pool.kind = DiscoveredKind::kThreadPool;
  pool.pid = p.pid;
  // Its listener waiter is the acceptor/dispatcher feeding the pool, not a prefork worker.
  if (!p.listeners.empty()) pool.listener = p.listeners.front();
  return pool;
}

// The group of threads running `work_loop` (and, for an executor, taking jobs from the queue
// whose futex word is `queue`; 0 unknown), added when new.
DiscoveredPool& GroupFor(std::vector<DiscoveredPool>& groups, const ProcessView& p, const std::string& work_loop,
                         uint64_t queue) {
  std::string key = queue ? absl::StrCat(":", work_loop, "@", absl::Hex(queue)) : absl::StrCat(":", work_loop);
  std::string full_key = absl::StrCat("threads:", p.pid, key);
  for (DiscoveredPool& g : groups)
    if (g.key == full_key) return g;
  groups.push_back(NewThreadPool(p, key));
  DiscoveredPool& group = groups.back();
  group.membership = work_loop;  // replaced by a sentence once complete
  group.threads_starting = p.threads_starting;
  group.executor = IsExecutorWorkLoop(work_loop);
  if (group.executor && p.configured_threads) {
    group.configured_max = p.configured_threads;
    group.configured_from = p.configured_from;
  }
  return group;
}

// Python threads grouped by work loop (pool_discovery.h). Adds every group (the tracker keeps
// the ones that are pools); true when one of them is a pool by itself (two threads or more, or
// an executor's), so the process is no prefork worker.
bool PythonThreadPools(const ProcessView& p, const WaitSyscalls& nr, std::vector<DiscoveredPool>& pools,
                       std::vector<std::pair<DiscoveredMember, IdleWait>>& on_listener) {
  std::vector<DiscoveredPool> groups;
  for (const ThreadView& t : p.threads) {
    IdleWait w = ClassifyWait(p, t, nr);
    if (w.kind == IdleWaitKind::kListener) {
      on_listener.push_back({DiscoveredMember{p.pid, t.tid, FlagsOf(w.kind), w.fd}, w});
      continue;
    }
    // The main thread blocked without timeout is joining, not pooled; non-Python threads are
    // the runtime's (libuv, gRPC, DB drivers).
    if (t.tid == p.pid || !t.python || t.work_loop.empty()) continue;
    bool executor = IsExecutorWorkLoop(t.work_loop);
    bool idle = w.kind == IdleWaitKind::kFutex && !(executor && t.waits_inside_job);
    // An executor's idle workers all wait on its queue's lock: the futex word tells two
    // executors of one process apart (asgiref's and asyncio's default one).
    uint64_t queue = executor && idle ? t.syscall.args[0] : 0;
    if (executor && !idle) continue;  // placed after the idle ones, below
    DiscoveredPool& group = GroupFor(groups, p, t.work_loop, queue);
    group.seen_idle |= idle;
    group.members.push_back(DiscoveredMember{p.pid, t.tid, SS_IDLE_FUTEX, -1, !idle, queue});
  }
  // Busy executor threads: their queue is unknown; they join the executor when the process has
  // one (seen idle now), else a group of their own whose queue the kernel learns from no one
  // (any untimed futex wait is idle for them).
  for (const ThreadView& t : p.threads) {
    if (t.tid == p.pid || !t.python || !IsExecutorWorkLoop(t.work_loop)) continue;
    IdleWaitKind kind = ClassifyWait(p, t, nr).kind;
    if (kind == IdleWaitKind::kListener || (kind == IdleWaitKind::kFutex && !t.waits_inside_job)) continue;
    DiscoveredPool* only = nullptr;
    int executors = 0;
    for (DiscoveredPool& g : groups)
      if (g.executor && g.membership == t.work_loop) {
        only = &g;
        ++executors;
      }
    DiscoveredPool& group = executors == 1 ? *only : GroupFor(groups, p, t.work_loop, 0);
    uint64_t queue = group.members.empty() ? 0 : group.members.front().idle_uaddr;
    group.members.push_back(DiscoveredMember{p.pid, t.tid, SS_IDLE_FUTEX, -1, true, queue});
  }
  bool any = false;
  for (DiscoveredPool& g : groups) {
    any |= g.executor || g.members.size() >= 2;
    uint64_t queue = g.members.front().idle_uaddr;
    g.membership = absl::StrCat("Python threads running ", g.membership,
                                queue ? absl::StrCat(", idle in an untimed futex wait on their queue's lock (0x",
                                                     absl::Hex(queue), ") for their next job")
                                      : std::string(", idle in an untimed futex wait for their next job"));
    pools.push_back(std::move(g));
  }
  return any;
}

// Without Python's thread states: every non-main thread in an untimed futex wait, and uWSGI's
// threads. True when a thread pool was added.
bool UntimedFutexPool(const ProcessView& p, const WaitSyscalls& nr, std::vector<DiscoveredPool>& pools,
                      std::vector<std::pair<DiscoveredMember, IdleWait>>& on_listener) {
  DiscoveredPool threads = NewThreadPool(p, "");
  threads.listener = {};
  for (const ThreadView& t : p.threads) {
    IdleWait w = ClassifyWait(p, t, nr);
    if (w.kind == IdleWaitKind::kNone) continue;
    DiscoveredMember m{p.pid, t.tid, FlagsOf(w.kind), w.fd};
    if (w.kind == IdleWaitKind::kFutex) {
      // A Python main thread blocked without timeout is joining, not pooled; uWSGI's main
      // thread is one of its worker threads.
      if (t.tid != p.pid || p.is_uwsgi) threads.members.push_back(m);
    } else {
      on_listener.push_back({m, w});
    }
  }
  threads.seen_idle = !threads.members.empty();
  if (p.is_uwsgi && threads.members.size() + on_listener.size() >= 2 && !threads.members.empty()) {
    // uWSGI threads take turns: one waits on the listener while the others wait for the
    // accept mutex; any of them may be in either wait, so each accepts both. Each thread has
    // an epoll instance of its own (on the same listeners): any epoll wait is idle (fd -1).
    for (auto& [m, w] : on_listener) {
      threads.members.push_back(m);
      threads.listener = *std::find_if(p.listeners.begin(), p.listeners.end(),
                                       // Not [&]: clang before 16 cannot capture a structured binding.
                                       [inode = w.listener_inode](const ListenerFd& l) { return l.inode == inode; });
    }
    for (DiscoveredMember& m : threads.members) {
      m.idle_flags = SS_IDLE_FUTEX | SS_IDLE_LISTENER;
      m.idle_fd = -1;
    }
    threads.membership = "every thread of the uWSGI worker, idle in its accept mutex or on the listener";
    pools.push_back(std::move(threads));
    return true;
  }
  if (threads.members.empty()) return false;
  if (!p.listeners.empty()) threads.listener = p.listeners.front();
  threads.membership =
      "threads other than the main one found in an untimed futex wait (Python threads not readable)";
  pools.push_back(std::move(threads));
  return true;
}

}  // namespace

bool IsExecutorWorkLoop(const std::string& work_loop) {
  return absl::StartsWith(work_loop, "_worker (") &&
         absl::EndsWith(work_loop, "/concurrent/futures/thread.py)");
}

WaitSyscalls WaitSyscalls::Native() {
  WaitSyscalls n;
  n.futex = SYS_futex;
  n.accept = SYS_accept;
  n.accept4 = SYS_accept4;
  n.pselect6 = SYS_pselect6;
  n.ppoll = SYS_ppoll;
  n.epoll_pwait = SYS_epoll_pwait;
  n.epoll_pwait2 = SYS_epoll_pwait2;
#ifdef SYS_select
  n.select = SYS_select;
  n.poll = SYS_poll;
  n.epoll_wait = SYS_epoll_wait;
#endif
  return n;
}

IdleWait ClassifyWait(const ProcessView& process, const ThreadView& thread, const WaitSyscalls& nr) {
  const CurrentSyscall& sc = thread.syscall;
  if (!sc.in_syscall) return {};
  if (sc.nr == nr.futex) {
    uint64_t cmd = sc.args[1] & kFutexCmdMask;
    // No timeout: waiting for work. A timed wait is the GIL (or a timer): not idle.
    if ((cmd == kFutexWait || cmd == kFutexWaitBitset) && sc.args[3] == 0)
      return IdleWait{IdleWaitKind::kFutex, -1, 0};
    return {};
  }
  if (IsOneOf(sc.nr, {nr.accept, nr.accept4})) {
    int fd = static_cast<int>(sc.args[0]);
    if (const ListenerFd* l = ListenerByFd(process, fd)) return OnListener(*l, fd);
    return {};
  }
  if (IsOneOf(sc.nr, {nr.epoll_wait, nr.epoll_pwait, nr.epoll_pwait2})) {
    int epfd = static_cast<int>(sc.args[0]);
    auto targets = process.epoll_targets.find(epfd);
    if (targets == process.epoll_targets.end()) return {};
    for (int fd : targets->second)
      if (const ListenerFd* l = ListenerByFd(process, fd)) return OnListener(*l, epfd);
    return {};
  }
  if (IsOneOf(sc.nr, {nr.select, nr.pselect6})) {
    for (const ListenerFd& l : process.listeners)
      if (l.fd >= 0 && l.fd < 64 && ((thread.wait_word >> l.fd) & 1)) return OnListener(l, l.fd);
    return {};
  }
  if (IsOneOf(sc.nr, {nr.poll, nr.ppoll})) {
    int first_fd = static_cast<int32_t>(thread.wait_word & 0xffffffffu);  // struct pollfd.fd
    if (const ListenerFd* l = ListenerByFd(process, first_fd)) return OnListener(*l, first_fd);
  }
  return {};
}

std::vector<DiscoveredPool> DiscoverPools(const std::vector<ProcessView>& processes,
                                          const WaitSyscalls& nr) {
  std::vector<DiscoveredPool> pools;
  absl::flat_hash_map<uint64_t, absl::flat_hash_set<pid_t>> holders;  // listener inode -> pids
  for (const ProcessView& p : processes)
    for (const ListenerFd& l : p.listeners) holders[l.inode].insert(p.pid);

  struct PreforkCandidate {
    const ProcessView* process;
    DiscoveredMember member;
  };
  absl::flat_hash_map<uint64_t, std::vector<PreforkCandidate>> prefork;  // by listener inode
  std::vector<uint64_t> prefork_order;

  for (const ProcessView& p : processes) {
    if (p.python_pending) continue;
    std::vector<std::pair<DiscoveredMember, IdleWait>> on_listener;
    bool runs_thread_pool = p.python_read && !p.is_uwsgi
                                ? PythonThreadPools(p, nr, pools, on_listener)
                                : UntimedFutexPool(p, nr, pools, on_listener);
    if (runs_thread_pool) continue;
    for (auto& [m, w] : on_listener) {
      if (holders[w.listener_inode].size() < 2) continue;  // not shared by fork: a lone loop
      if (!prefork.contains(w.listener_inode)) prefork_order.push_back(w.listener_inode);
      prefork[w.listener_inode].push_back({&p, m});
    }
  }

  for (uint64_t inode : prefork_order) {
    const auto& candidates = prefork[inode];
    DiscoveredPool pool;
    pool.key = absl::StrCat("prefork:", inode);
    pool.kind = DiscoveredKind::kPrefork;
    absl::flat_hash_set<pid_t> member_pids;
    for (const auto& c : candidates) {
      if (!member_pids.insert(c.member.pid).second) continue;  // one member per process
      pool.members.push_back(c.member);
      if (pool.listener.port == 0)
        for (const ListenerFd& l : c.process->listeners)
          if (l.inode == inode) pool.listener = l;
    }
    // The master: the members' parent, or a member that is the others' parent (uWSGI without
    // --master forks its workers from the first one).
    pool.pid = candidates.front().process->ppid;
    for (const auto& c : candidates)
      if (member_pids.contains(c.process->ppid)) pool.pid = c.process->ppid;
    pool.membership = absl::StrCat("processes waiting on the listening socket ", pool.listener.address,
                                   " they share by fork");
    pools.push_back(std::move(pool));
  }
  return pools;
}

}  // namespace stallscope
