// Pool recognition on what real servers' threads were waiting in (/proc/PID/task/TID/syscall
// recorded on Linux 6.18 x86_64 with Debian 12's servers, idle after serving a few requests).
#include "pools/pool_discovery.h"

#include <gtest/gtest.h>

#include <algorithm>

#include "stallscope_abi.h"

namespace stallscope {
namespace {

// x86_64 numbers, so the recordings mean the same on any build host.
WaitSyscalls X86() {
  WaitSyscalls n;
  n.futex = 202;
  n.accept = 43;
  n.accept4 = 288;
  n.select = 23;
  n.pselect6 = 270;
  n.poll = 7;
  n.ppoll = 271;
  n.epoll_wait = 232;
  n.epoll_pwait = 281;
  n.epoll_pwait2 = 441;
  return n;
}

ThreadView Thread(pid_t tid, int nr, std::initializer_list<uint64_t> args, uint64_t wait_word = 0) {
  ThreadView t;
  t.tid = tid;
  t.syscall.in_syscall = true;
  t.syscall.nr = nr;
  std::copy(args.begin(), args.end(), t.syscall.args);
  t.wait_word = wait_word;
  return t;
}

ListenerFd Listener(int fd, uint64_t inode, uint16_t port) {
  return ListenerFd{fd, inode, port, "127.0.0.1:" + std::to_string(port)};
}

std::vector<pid_t> Tids(const DiscoveredPool& p) {
  std::vector<pid_t> out;
  for (const auto& m : p.members) out.push_back(m.tid);
  std::sort(out.begin(), out.end());
  return out;
}

TEST(PoolDiscoveryTest, CherryPyWorkersWaitOnTheQueueWithoutTimeout) {
  ProcessView p;
  p.pid = 100;
  p.ppid = 1;
  p.listeners = {Listener(3, 555, 8080)};
  p.epoll_targets[4] = {3};
  p.threads = {
      Thread(100, 230, {1, 1, 0x7ffe48653070, 0}),                    // main: clock_nanosleep
      Thread(101, 232, {4, 0x7fcee3a61a30, 1, 500}),                  // acceptor: epoll, 500 ms
      Thread(102, 202, {0x7fced4000ba0, 0x189, 0, 0, 0, 0xffffffff}),  // workers: untimed futex
      Thread(103, 202, {0x7fced8000ba0, 0x189, 0, 0, 0, 0xffffffff}),
      Thread(104, 202, {0x7fcecc000ba0, 0x189, 0, 0, 0, 0xffffffff}),
      Thread(105, 202, {0x7fcec8000ba0, 0x189, 0, 0, 0, 0xffffffff}),
  };
  auto pools = DiscoverPools({p}, X86());
  ASSERT_EQ(pools.size(), 1u);
  EXPECT_EQ(pools[0].kind, DiscoveredKind::kThreadPool);
  EXPECT_EQ(pools[0].pid, 100);
  EXPECT_EQ(Tids(pools[0]), (std::vector<pid_t>{102, 103, 104, 105}));
  EXPECT_EQ(pools[0].listener.port, 8080);
  EXPECT_EQ(pools[0].members[0].idle_flags, SS_IDLE_FUTEX);
}

TEST(PoolDiscoveryTest, TimedFutexIsTheGilNotIdle) {
  ProcessView p;
  p.pid = 100;
  // FUTEX_WAIT_BITSET_PRIVATE with a timeout (pthread_cond_timedwait: the GIL's 5 ms wait).
  p.threads = {Thread(101, 202, {0x1000, 0x89, 0, 0x7fff0000, 0, 0xffffffff})};
  EXPECT_EQ(ClassifyWait(p, p.threads[0], X86()).kind, IdleWaitKind::kNone);
  p.threads[0].syscall.args[3] = 0;
  EXPECT_EQ(ClassifyWait(p, p.threads[0], X86()).kind, IdleWaitKind::kFutex);
  p.threads[0].syscall.args[1] = 0x81;  // FUTEX_WAKE_PRIVATE: not a wait
  EXPECT_EQ(ClassifyWait(p, p.threads[0], X86()).kind, IdleWaitKind::kNone);
}

TEST(PoolDiscoveryTest, GunicornSyncWorkersSelectOnTheSharedListener) {
  ProcessView master{200, 1, false, {Listener(5, 777, 8000)}, {}, {}};
  master.threads = {Thread(200, 270, {4, 0x7ffe, 0, 0, 0x7ffd}, 1ull << 3)};  // its pipe only
  std::vector<ProcessView> views = {master};
  for (pid_t pid : {201, 202, 203}) {
    ProcessView w{pid, 200, false, {Listener(5, 777, 8000)}, {}, {}};
    // pselect6 on the listener (fd 5) and the worker's pipe (fd 7)
    w.threads = {Thread(pid, 270, {8, 0x7ffeddd0a260, 0, 0, 0x7ffeddd0a1a0}, (1ull << 5) | (1ull << 7))};
    views.push_back(w);
  }
  auto pools = DiscoverPools(views, X86());
  ASSERT_EQ(pools.size(), 1u);
  EXPECT_EQ(pools[0].kind, DiscoveredKind::kPrefork);
  EXPECT_EQ(pools[0].pid, 200);
  EXPECT_EQ(Tids(pools[0]), (std::vector<pid_t>{201, 202, 203}));
  EXPECT_EQ(pools[0].members[0].idle_flags, SS_IDLE_LISTENER);
  EXPECT_EQ(pools[0].members[0].idle_fd, 5);
}

TEST(PoolDiscoveryTest, UwsgiWithoutMasterForksWorkersFromTheFirst) {
  std::vector<ProcessView> views;
  for (auto [pid, ppid] : {std::pair{300, 1}, {301, 300}, {302, 300}}) {
    ProcessView w{pid, ppid, true, {Listener(3, 888, 9000)}, {}, {}};
    w.epoll_targets[4] = {3};
    w.threads = {Thread(pid, 232, {4, 0x7ffd36981a5c, 1, 0xffffffff})};
    views.push_back(w);
  }
  auto pools = DiscoverPools(views, X86());
  ASSERT_EQ(pools.size(), 1u);
  EXPECT_EQ(pools[0].kind, DiscoveredKind::kPrefork);
  EXPECT_EQ(pools[0].pid, 300);
  EXPECT_EQ(pools[0].members.size(), 3u);
  EXPECT_EQ(pools[0].members[0].idle_fd, 4);  // its epoll fd
}

TEST(PoolDiscoveryTest, UwsgiThreadsIdleInTheAcceptMutexOrTheirOwnEpoll) {
  ProcessView master{400, 1, true, {Listener(3, 999, 9100)}, {}, {}};
  master.threads = {Thread(400, 232, {8, 0x7ffc, 1, 1000})};
  ProcessView w{401, 400, true, {Listener(3, 999, 9100)}, {}, {}};
  for (int epfd : {4, 6, 8, 9}) w.epoll_targets[epfd] = {3, 5, 7};
  w.threads = {
      Thread(401, 202, {0x55cf71944a18, 0x80, 2, 0}),  // the main thread is a worker too
      Thread(402, 232, {6, 0x7ff845afedcc, 1, 0xffffffff}),
      Thread(403, 202, {0x55cf71944a18, 0x80, 2, 0}),
      Thread(404, 202, {0x55cf71944a18, 0x80, 2, 0}),
  };
  auto pools = DiscoverPools({master, w}, X86());
  ASSERT_EQ(pools.size(), 1u);
  EXPECT_EQ(pools[0].kind, DiscoveredKind::kThreadPool);
  EXPECT_EQ(pools[0].pid, 401);
  EXPECT_EQ(Tids(pools[0]), (std::vector<pid_t>{401, 402, 403, 404}));
  for (const auto& m : pools[0].members) {
    EXPECT_EQ(m.idle_flags, SS_IDLE_FUTEX | SS_IDLE_LISTENER);
    EXPECT_EQ(m.idle_fd, -1);  // any of their epoll instances
  }
  EXPECT_EQ(pools[0].listener.port, 9100);
}

TEST(PoolDiscoveryTest, GthreadWorkerIsAThreadPoolOnceItsExecutorHasThreads) {
  ProcessView master{500, 1, false, {Listener(5, 1234, 8500)}, {}, {}};
  master.threads = {Thread(500, 270, {4, 0x7ffd, 0, 0, 0x7ffd}, 1ull << 3)};
  ProcessView worker{501, 500, false, {Listener(5, 1234, 8500)}, {}, {}};
  worker.epoll_targets[7] = {5};
  worker.threads = {Thread(501, 232, {7, 0x7f89, 1, 1000})};
  // Before any request the worker looks like a prefork worker of one.
  auto before = DiscoverPools({master, worker}, X86());
  ASSERT_EQ(before.size(), 1u);
  EXPECT_EQ(before[0].kind, DiscoveredKind::kPrefork);
  for (pid_t tid : {502, 503, 504, 505})
    worker.threads.push_back(Thread(tid, 202, {0x3ddb2ac0, 0x189, 0, 0, 0, 0xffffffff}));
  auto after = DiscoverPools({master, worker}, X86());
  ASSERT_EQ(after.size(), 1u);
  EXPECT_EQ(after[0].kind, DiscoveredKind::kThreadPool);
  EXPECT_EQ(Tids(after[0]), (std::vector<pid_t>{502, 503, 504, 505}));
}

TEST(PoolDiscoveryTest, ALoneEventLoopOnItsOwnListenerIsNoPool) {
  ProcessView tornado{600, 1, false, {Listener(6, 4321, 8888)}, {}, {}};
  tornado.epoll_targets[3] = {4, 6};
  tornado.threads = {Thread(600, 232, {3, 0x7ffd, 1024, 3600000})};
  EXPECT_TRUE(DiscoverPools({tornado}, X86()).empty());
  // ... and a Python main thread joining another thread is not a pool either.
  tornado.threads.push_back(Thread(601, 202, {0x1000, 0x189, 0, 0, 0, 0xffffffff}));
  tornado.threads[0] = Thread(600, 202, {0x2000, 0x189, 0, 0, 0, 0xffffffff});
  auto pools = DiscoverPools({tornado}, X86());
  ASSERT_EQ(pools.size(), 1u);  // one worker thread: the tracker needs 2 to start a pool
  EXPECT_EQ(Tids(pools[0]), (std::vector<pid_t>{601}));
}

ThreadView PythonThread(ThreadView t, std::string work_loop) {
  t.python = true;
  t.work_loop = std::move(work_loop);
  return t;
}

constexpr char kAnyio[] =
    "WorkerThread.run (/usr/lib/python3/dist-packages/anyio/_backends/_asyncio.py)";
constexpr char kExecutor[] = "_worker (/usr/lib/python3.11/concurrent/futures/thread.py)";
constexpr char kQueueListener[] = "QueueListener._monitor (/usr/lib/python3.11/logging/handlers.py)";

TEST(PoolDiscoveryTest, UvloopsOwnThreadsAreNotInAnyiosPool) {
  // uvicorn --loop uvloop serving FastAPI `def` endpoints: the loop in epoll on the main thread,
  // libuv's 4 threads (no Python thread state) in an untimed futex wait, anyio's 4 workers:
  // three idle on their queues, one busy in its handler's sleep.
  ProcessView p;
  p.pid = 700;
  p.ppid = 1;
  p.python_read = true;
  p.listeners = {Listener(12, 777, 8000)};
  p.epoll_targets[3] = {12};
  p.threads = {PythonThread(Thread(700, 232, {3, 0x7ffd, 1024, 0xffffffff}), "")};
  for (pid_t tid = 701; tid <= 704; ++tid)
    p.threads.push_back(Thread(tid, 202, {0x55d0c0a00100, 0x80, 0, 0, 0, 0}));  // libuv
  for (pid_t tid = 705; tid <= 707; ++tid)
    p.threads.push_back(PythonThread(Thread(tid, 202, {0x7f0000001000u + tid, 0x189, 0, 0, 0, 0xffffffff}), kAnyio));
  p.threads.push_back(PythonThread(Thread(708, 230, {1, 0, 0x7f00aa, 0}), kAnyio));
  auto pools = DiscoverPools({p}, X86());
  ASSERT_EQ(pools.size(), 1u);
  EXPECT_EQ(Tids(pools[0]), (std::vector<pid_t>{705, 706, 707, 708}));
  EXPECT_TRUE(pools[0].seen_idle);
  EXPECT_FALSE(pools[0].executor);
  EXPECT_EQ(pools[0].listener.port, 8000);
  EXPECT_NE(pools[0].membership.find(kAnyio), std::string::npos) << pools[0].membership;
  int busy = 0;
  for (const auto& m : pools[0].members) busy += m.busy;
  EXPECT_EQ(busy, 1);
}

TEST(PoolDiscoveryTest, ALoggingListenerIsItsOwnGroupBesideTheExecutor) {
  // gunicorn gthread --threads 4 whose Django logs through a QueueListener thread.
  ProcessView p;
  p.pid = 800;
  p.ppid = 799;
  p.python_read = true;
  p.configured_threads = 4;
  p.configured_from = "gunicorn --threads 4";
  p.listeners = {Listener(5, 888, 8001)};
  p.threads = {PythonThread(Thread(800, 232, {7, 0x7ffd, 1024, 1000}), "")};
  for (pid_t tid = 801; tid <= 804; ++tid)
    p.threads.push_back(PythonThread(Thread(tid, 202, {0x7f0000009000, 0x189, 0, 0, 0, 0xffffffff}), kExecutor));
  p.threads.push_back(PythonThread(Thread(805, 202, {0x7f000000a000, 0x189, 0, 0, 0, 0xffffffff}), kQueueListener));
  auto pools = DiscoverPools({p}, X86());
  ASSERT_EQ(pools.size(), 2u);
  const DiscoveredPool& executor = pools[0].executor ? pools[0] : pools[1];
  const DiscoveredPool& listener = pools[0].executor ? pools[1] : pools[0];
  EXPECT_EQ(Tids(executor), (std::vector<pid_t>{801, 802, 803, 804}));
  EXPECT_EQ(executor.configured_max, 4u);
  EXPECT_EQ(executor.configured_from, "gunicorn --threads 4");
  EXPECT_EQ(Tids(listener), (std::vector<pid_t>{805}));
  EXPECT_FALSE(listener.executor);
  EXPECT_EQ(listener.configured_max, 0u);
  EXPECT_NE(executor.key, listener.key);
}

TEST(PoolDiscoveryTest, ExecutorThreadsFoundBusyAreMembers) {
  // A gthread worker driven into overload from its start: its threads never wait.
  ProcessView p;
  p.pid = 900;
  p.ppid = 899;
  p.python_read = true;
  p.threads = {PythonThread(Thread(900, 232, {7, 0x7ffd, 1024, 1000}), "")};
  p.threads.push_back(PythonThread(Thread(901, 230, {1, 0, 0x7f00aa, 0}), kExecutor));
  p.threads.push_back(PythonThread(Thread(902, 202, {0x7f10, 0x80, 2, 0x7ffd0000, 0, 0}), kExecutor));  // GIL
  auto pools = DiscoverPools({p}, X86());
  ASSERT_EQ(pools.size(), 1u);
  EXPECT_TRUE(pools[0].executor);
  EXPECT_FALSE(pools[0].seen_idle);
  EXPECT_EQ(Tids(pools[0]), (std::vector<pid_t>{901, 902}));
  EXPECT_TRUE(pools[0].members[0].busy && pools[0].members[1].busy);
}

TEST(PoolDiscoveryTest, ExecutorWorkLoopIsConcurrentFuturesWorker) {
  EXPECT_TRUE(IsExecutorWorkLoop(kExecutor));
  EXPECT_TRUE(IsExecutorWorkLoop("_worker (/usr/local/lib/python3.12/concurrent/futures/thread.py)"));
  EXPECT_FALSE(IsExecutorWorkLoop(kAnyio));
  EXPECT_FALSE(IsExecutorWorkLoop("_worker (/srv/app/concurrent/futures/thread.pyc)"));
}

TEST(PoolDiscoveryTest, TwoExecutorsOfOneProcessAreToldApartByTheirQueuesLock) {
  // Django under ASGI: asgiref's one thread, and asyncio's default executor (2 threads) for
  // thread_sensitive=False views; one busy thread whose queue is unknown.
  ProcessView p;
  p.pid = 1000;
  p.ppid = 1;
  p.python_read = true;
  p.threads = {PythonThread(Thread(1000, 232, {3, 0x7ffd, 1024, 0xffffffff}), "")};
  p.threads.push_back(PythonThread(Thread(1001, 202, {0x7f00000a0010, 0x189, 0, 0, 0, 0xffffffff}), kExecutor));
  p.threads.push_back(PythonThread(Thread(1002, 202, {0x7f00000b0010, 0x189, 0, 0, 0, 0xffffffff}), kExecutor));
  p.threads.push_back(PythonThread(Thread(1003, 202, {0x7f00000b0010, 0x189, 0, 0, 0, 0xffffffff}), kExecutor));
  p.threads.push_back(PythonThread(Thread(1004, 230, {1, 0, 0x7f00aa, 0}), kExecutor));
  auto pools = DiscoverPools({p}, X86());
  ASSERT_EQ(pools.size(), 3u) << "two executors, and the busy thread on its own";
  // In the order found: the idle executors, then the busy thread.
  EXPECT_EQ(Tids(pools[0]), (std::vector<pid_t>{1001}));
  EXPECT_EQ(pools[0].members[0].idle_uaddr, 0x7f00000a0010u);
  EXPECT_EQ(Tids(pools[1]), (std::vector<pid_t>{1002, 1003}));
  EXPECT_NE(pools[1].membership.find("(0x7f00000b0010)"), std::string::npos) << pools[1].membership;
  EXPECT_EQ(Tids(pools[2]), (std::vector<pid_t>{1004}));
  EXPECT_EQ(pools[2].members[0].idle_uaddr, 0u);
  EXPECT_TRUE(pools[2].members[0].busy);
  // With one executor, a busy thread joins it and takes its queue.
  p.threads.erase(p.threads.begin() + 1);
  pools = DiscoverPools({p}, X86());
  ASSERT_EQ(pools.size(), 1u);
  EXPECT_EQ(Tids(pools[0]), (std::vector<pid_t>{1002, 1003, 1004}));
  EXPECT_EQ(pools[0].members.back().idle_uaddr, 0x7f00000b0010u);
}

TEST(PoolDiscoveryTest, AnExecutorThreadWaitingOnALockInsideAJobIsBusyNotASecondQueue) {
  // gthread --threads 4 driven straight into overload: one thread just started waits on the
  // executor's queue, one waits for the logging QueueHandler's lock inside its request (an
  // untimed futex wait too), two run. One pool of four on the queue's lock, not two pools.
  ProcessView p;
  p.pid = 1100;
  p.ppid = 1099;
  p.python_read = true;
  p.threads = {PythonThread(Thread(1100, 232, {7, 0x7ffd, 1024, 1000}), "")};
  p.threads.push_back(PythonThread(Thread(1101, 202, {0x7f00000c0010, 0x189, 0, 0, 0, 0xffffffff}), kExecutor));
  ThreadView on_lock = PythonThread(Thread(1102, 202, {0x7f00000d0020, 0x189, 0, 0, 0, 0xffffffff}), kExecutor);
  on_lock.waits_inside_job = true;
  p.threads.push_back(on_lock);
  p.threads.push_back(PythonThread(Thread(1103, 230, {1, 0, 0x7f00aa, 0}), kExecutor));
  p.threads.push_back(PythonThread(Thread(1104, 230, {1, 0, 0x7f00bb, 0}), kExecutor));
  auto pools = DiscoverPools({p}, X86());
  ASSERT_EQ(pools.size(), 1u);
  EXPECT_EQ(Tids(pools[0]), (std::vector<pid_t>{1101, 1102, 1103, 1104}));
  for (const DiscoveredMember& m : pools[0].members) {
    EXPECT_EQ(m.idle_uaddr, 0x7f00000c0010u) << m.tid;
    EXPECT_EQ(m.busy, m.tid != 1101) << m.tid;
  }
  // Found before any thread waits on the queue: still one group, of busy threads.
  p.threads.erase(p.threads.begin() + 1);
  pools = DiscoverPools({p}, X86());
  ASSERT_EQ(pools.size(), 1u);
  EXPECT_EQ(Tids(pools[0]), (std::vector<pid_t>{1102, 1103, 1104}));
  EXPECT_FALSE(pools[0].seen_idle);
}

TEST(PoolDiscoveryTest, APythonProcessWhoseThreadsWereNotReadThisTimeIsLeftForTheNextRound) {
  // Without its work loops every untimed futex waiter (the logging listener too) would look
  // like one pool, and the executor found next round would be a second.
  ProcessView p;
  p.pid = 1200;
  p.ppid = 1199;
  p.python_pending = true;
  p.threads = {Thread(1200, 232, {7, 0x7ffd, 1024, 1000})};
  for (pid_t tid = 1201; tid <= 1203; ++tid)
    p.threads.push_back(Thread(tid, 202, {0x7f00000e0010, 0x189, 0, 0, 0, 0xffffffff}));
  EXPECT_TRUE(DiscoverPools({p}, X86()).empty());
  p.python_pending = false;
  EXPECT_EQ(DiscoverPools({p}, X86()).size(), 1u);  // never read: the fallback, as before
}

}  // namespace
}  // namespace stallscope
