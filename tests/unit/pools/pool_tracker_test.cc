// PoolTracker replayed on recorded kernel states: what it reports, and when.
#include "pools/pool_tracker.h"

#include <gtest/gtest.h>

#include <map>

namespace stallscope {
namespace {

constexpr uint64_t kMs = 1'000'000;

class FakeKernel : public PoolKernel {
 public:
  ss_pool ReadPool(uint32_t id) const override { return pools[id]; }
  void ConfigurePool(uint32_t id, uint32_t size, uint32_t port) override {
    pools[id].size = size;
    pools[id].listen_port = port;
  }
  void ResetPoolPeak(uint32_t id) override { pools[id].peak_busy = pools[id].busy; }
  void AdjustBusy(uint32_t id, int delta) override { pools[id].busy += static_cast<uint32_t>(delta); }
  void StartSaturationIfFull(uint32_t id, uint64_t now_ns) override {
    ss_pool& p = pools[id];
    if (p.size && p.busy >= p.size && !p.sat_start_ns) {
      p.sat_seq += 1;
      p.sat_start_ns = now_ns;
    }
  }
  absl::Status AddMember(pid_t tid, const ss_pool_member& m) override {
    members[tid] = m;
    return absl::OkStatus();
  }
  std::optional<ss_pool_member> ReadMember(pid_t tid) const override {
    auto it = members.find(tid);
    if (it == members.end()) return std::nullopt;
    return it->second;
  }
  void RemoveMember(pid_t tid) override { members.erase(tid); }
  absl::Status SetListener(uint16_t port, uint32_t slot, uint32_t pool_id_plus1) override {
    ports[port] = slot;
    listeners[slot].pool_id_plus1 = pool_id_plus1;
    return absl::OkStatus();
  }
  ss_listener ReadListener(uint32_t slot) const override { return listeners[slot]; }
  void ResetListenerPeak(uint32_t slot) override { listeners[slot].peak_queued = listeners[slot].queued; }

  mutable ss_pool pools[SS_MAX_POOLS] = {};
  mutable ss_listener listeners[SS_MAX_LISTENERS] = {};
  std::map<pid_t, ss_pool_member> members;
  std::map<uint16_t, uint32_t> ports;
};

ProcessView Server(pid_t pid, uint16_t port) {
  ProcessView v;
  v.pid = pid;
  v.listeners = {ListenerFd{3, 42, port, "127.0.0.1:" + std::to_string(port)}};
  return v;
}

DiscoveredPool ThreadPool(pid_t pid, std::vector<pid_t> tids, uint16_t port) {
  DiscoveredPool p;
  p.key = "threads:" + std::to_string(pid);
  p.kind = DiscoveredKind::kThreadPool;
  p.pid = pid;
  p.listener = ListenerFd{3, 42, port, "127.0.0.1:" + std::to_string(port)};
  for (pid_t tid : tids) p.members.push_back(DiscoveredMember{pid, tid, SS_IDLE_FUTEX, -1});
  p.seen_idle = true;
  return p;
}

// Python threads of one work loop (pool_discovery.h), `busy` of them found outside their wait.
DiscoveredPool PythonPool(pid_t pid, std::vector<pid_t> tids, size_t busy, bool executor = false) {
  DiscoveredPool p = ThreadPool(pid, tids, 8080);
  p.key = "threads:" + std::to_string(pid) + ":loop";
  p.membership = "Python threads running loop";
  p.executor = executor;
  p.seen_idle = busy < tids.size();
  for (size_t i = 0; i < busy; ++i) p.members[i].busy = true;
  return p;
}

class PoolTrackerTest : public ::testing::Test {
 protected:
  PoolTracker MakeTracker(uint64_t interval_ns = 10'000 * kMs) {
    PoolTracker::Options o;
    o.threshold_ns = 100 * kMs;
    o.interval_ns = interval_ns;
    return PoolTracker(o, &kernel, [](uint64_t ns) { return ns + 1'000'000 * kMs; },
                       [this](const v1::Report& r) { reports.push_back(r); });
  }
  std::vector<v1::PoolSaturation> Saturations() const {
    std::vector<v1::PoolSaturation> out;
    for (const auto& r : reports)
      if (r.has_pool_saturation()) out.push_back(r.pool_saturation());
    return out;
  }
  FakeKernel kernel;
  std::vector<v1::Report> reports;
};

TEST_F(PoolTrackerTest, AThreadPoolNeedsTwoMembersAndGetsItsSizeAndListener) {
  PoolTracker t = MakeTracker();
  t.OnDiscovery({Server(10, 8080)}, {ThreadPool(10, {11}, 8080)}, 0);
  EXPECT_EQ(t.pools(), 0u);
  t.OnDiscovery({Server(10, 8080)}, {ThreadPool(10, {11, 12, 13}, 8080)}, 1 * kMs);
  ASSERT_EQ(t.pools(), 1u);
  EXPECT_EQ(kernel.pools[0].size, 3u);
  EXPECT_EQ(kernel.pools[0].listen_port, 8080u);
  EXPECT_EQ(kernel.members.size(), 3u);
  EXPECT_EQ(kernel.listeners[kernel.ports[8080]].pool_id_plus1, 1u);
  // A thread that exited (the kernel dropped it) leaves the pool.
  kernel.members.erase(12);
  t.OnDiscovery({Server(10, 8080)}, {}, 2 * kMs);
  EXPECT_EQ(kernel.pools[0].size, 2u);
}

TEST_F(PoolTrackerTest, SaturationInProgressAtThresholdAndDoublingThenFinalOnce) {
  PoolTracker t = MakeTracker();
  t.OnDiscovery({Server(10, 8080)}, {ThreadPool(10, {11, 12}, 8080)}, 0);
  const uint64_t start = 1000 * kMs;
  kernel.pools[0].sat_start_ns = start;
  kernel.pools[0].sat_seq = 1;
  kernel.pools[0].sat_max_queued = 3;
  kernel.pools[0].sat_on_cpu_ns = 60 * kMs;  // of 2 members x 120 ms at the first report
  for (uint64_t at : {50, 120, 200, 250, 400, 520}) t.Tick(start + at * kMs);
  auto sats = Saturations();
  ASSERT_EQ(sats.size(), 3u);  // at 120, 250 (>= 240) and 520 (>= 500)
  EXPECT_TRUE(sats[0].in_progress());
  EXPECT_EQ(sats[0].duration_ns(), 120 * kMs);
  EXPECT_EQ(sats[1].duration_ns(), 250 * kMs);
  EXPECT_EQ(sats[2].duration_ns(), 520 * kMs);
  EXPECT_EQ(sats[0].size(), 2u);
  EXPECT_EQ(sats[0].max_queued(), 3u);
  EXPECT_EQ(sats[0].kind(), v1::THREAD_POOL);
  EXPECT_EQ(sats[0].gil_wait(), v1::GIL_WAIT_COUNTED_AS_BUSY);
  EXPECT_DOUBLE_EQ(sats[0].on_cpu_share(), 0.25);

  // A member went idle at 600 ms: within the 5 ms grace it is still the same saturation...
  kernel.pools[0].sat_gap_ns = start + 600 * kMs;
  t.Tick(start + 603 * kMs);
  EXPECT_EQ(Saturations().size(), 3u);
  // ... past it the saturation is over where the gap began, reported once, even when the
  // kernel's own event for it arrives afterwards.
  t.Tick(start + 700 * kMs);
  ss_pool_event e{};
  e.hdr.ts_ns = start + 600 * kMs;
  e.pool_id = 0;
  e.seq = 1;
  e.start_ns = start;
  t.OnSaturationEnded(e);
  sats = Saturations();
  ASSERT_EQ(sats.size(), 4u);
  EXPECT_FALSE(sats[3].in_progress());
  EXPECT_EQ(sats[3].duration_ns(), 600 * kMs);
  EXPECT_EQ(sats[3].seq(), 1u);
}

TEST_F(PoolTrackerTest, SaturationReportsWhatMembersWereSampledDoing) {
  PoolTracker t = MakeTracker();
  // Member 11 waits on a database, member 12 computes and then waits too.
  int calls = 0;
  t.SetActivitySampler([&calls](pid_t, pid_t tid, uint16_t port) -> std::optional<PoolTracker::Activity> {
    EXPECT_EQ(port, 8080);
    ++calls;
    if (tid == 11 || calls > 4) return PoolTracker::Activity{"recvfrom", "tcp -> 10.0.0.5:5432"};
    return PoolTracker::Activity{"running", ""};
  });
  t.OnDiscovery({Server(10, 8080)}, {ThreadPool(10, {11, 12}, 8080)}, 0);
  const uint64_t start = 1000 * kMs;
  t.Tick(start - 10 * kMs);  // not saturated: no sample
  EXPECT_EQ(calls, 0);
  kernel.pools[0].sat_start_ns = start;
  kernel.pools[0].sat_seq = 1;
  for (uint64_t at : {0, 100, 200, 300}) t.Tick(start + at * kMs);  // 4 scans x 2 members
  ss_pool_event e{};
  e.hdr.ts_ns = start + 350 * kMs;
  e.pool_id = 0;
  e.seq = 1;
  e.start_ns = start;
  t.OnSaturationEnded(e);
  auto sats = Saturations();
  ASSERT_FALSE(sats.empty());
  const v1::PoolSaturation& last = sats.back();
  EXPECT_FALSE(last.in_progress());
  EXPECT_EQ(last.activity_samples(), 8u);
  ASSERT_EQ(last.activities_size(), 2);
  EXPECT_EQ(last.activities(0).what(), "recvfrom");  // 11 four times, 12 twice
  EXPECT_EQ(last.activities(0).target(), "tcp -> 10.0.0.5:5432");
  EXPECT_DOUBLE_EQ(last.activities(0).share(), 6.0 / 8);
  EXPECT_EQ(last.activities(1).what(), "running");
  EXPECT_DOUBLE_EQ(last.activities(1).share(), 2.0 / 8);
}

TEST_F(PoolTrackerTest, SaturationShorterThanThresholdIsNotReported) {
  PoolTracker t = MakeTracker();
  t.OnDiscovery({Server(10, 8080)}, {ThreadPool(10, {11, 12}, 8080)}, 0);
  kernel.pools[0].sat_start_ns = 1000 * kMs;
  kernel.pools[0].sat_seq = 1;
  kernel.pools[0].sat_gap_ns = 1080 * kMs;
  t.Tick(1150 * kMs);
  EXPECT_TRUE(Saturations().empty());
}

TEST_F(PoolTrackerTest, UtilizationCapacityMath) {
  PoolTracker t = MakeTracker(/*interval_ns=*/1000 * kMs);
  t.OnDiscovery({Server(10, 8080)}, {ThreadPool(10, {11, 12}, 8080)}, 0);
  // Over one second: member 11 busy 800 ms (done), member 12 busy 400 ms and busy since 900 ms;
  // the listener accepted 6 connections.
  kernel.members[11].busy_ns = 800 * kMs;
  kernel.members[12].busy_ns = 300 * kMs;
  kernel.members[12].busy = 1;
  kernel.members[12].since_ns = 900 * kMs;
  kernel.listeners[kernel.ports[8080]].accepts = 6;
  kernel.listeners[kernel.ports[8080]].peak_queued = 2;
  kernel.pools[0].peak_busy = 2;
  t.Tick(1000 * kMs);
  ASSERT_EQ(reports.size(), 1u);
  const v1::PoolUtilization& u = reports[0].pool_utilization();
  EXPECT_EQ(u.size(), 2u);
  EXPECT_DOUBLE_EQ(u.busy(), 1.2);  // (800 + 300 + 100) ms over 1 s
  EXPECT_EQ(u.busy_peak(), 2u);
  EXPECT_EQ(u.requests(), 6u);
  EXPECT_EQ(u.service_time_mean_ns(), 200 * kMs);
  EXPECT_DOUBLE_EQ(u.capacity_per_second(), 10.0);  // 2 members / 200 ms
  EXPECT_DOUBLE_EQ(u.rate_per_second(), 6.0);
  EXPECT_EQ(u.max_queued(), 2u);
  // The next interval counts from here.
  kernel.listeners[kernel.ports[8080]].accepts = 8;
  t.Tick(2000 * kMs);
  ASSERT_EQ(reports.size(), 2u);
  EXPECT_EQ(reports[1].pool_utilization().requests(), 2u);
  EXPECT_DOUBLE_EQ(reports[1].pool_utilization().busy(), 1.0);  // member 12 busy throughout
}

TEST_F(PoolTrackerTest, APreforkWorkerThatTurnsOutToRunAThreadPoolLeavesThePreforkPool) {
  PoolTracker t = MakeTracker();
  DiscoveredPool prefork;
  prefork.key = "prefork:42";
  prefork.kind = DiscoveredKind::kPrefork;
  prefork.pid = 20;
  prefork.listener = ListenerFd{5, 42, 8500, "127.0.0.1:8500"};
  prefork.members = {DiscoveredMember{21, 21, SS_IDLE_LISTENER, 5}};
  t.OnDiscovery({Server(20, 8500)}, {prefork}, 0);
  ASSERT_EQ(t.pools(), 1u);
  EXPECT_EQ(kernel.pools[0].size, 1u);
  t.OnDiscovery({Server(20, 8500)}, {ThreadPool(21, {22, 23}, 8500)}, kMs);
  EXPECT_EQ(kernel.pools[0].size, 0u);
  EXPECT_FALSE(kernel.members.contains(21));
  EXPECT_EQ(kernel.pools[1].size, 2u);
  // Seen again while every thread is busy, it looks like a prefork worker: not re-added.
  t.OnDiscovery({Server(20, 8500)}, {prefork}, 2 * kMs);
  EXPECT_FALSE(kernel.members.contains(21));
  t.Flush(3 * kMs);
  for (const auto& r : reports) EXPECT_NE(r.pool_utilization().kind(), v1::PREFORK);
}

TEST_F(PoolTrackerTest, AGrowingPoolFoundBusyReportsOnceAMemberIdledAndKeepsItsLargestSize) {
  PoolTracker t = MakeTracker(1000 * kMs);
  // Four threads that appeared under load, all busy: members at once, counted busy.
  t.OnDiscovery({Server(10, 8080)}, {PythonPool(10, {11, 12, 13, 14}, 4)}, 1 * kMs);
  ASSERT_EQ(t.pools(), 1u);
  EXPECT_EQ(kernel.pools[0].size, 4u);
  EXPECT_EQ(kernel.pools[0].busy, 4u);
  EXPECT_EQ(kernel.members[11].busy, 1u);
  EXPECT_EQ(kernel.pools[0].sat_start_ns, 1 * kMs) << "full since it was found";
  EXPECT_EQ(kernel.pools[0].sat_seq, 1u);
  t.Tick(300 * kMs);
  EXPECT_TRUE(Saturations().empty()) << "nothing seen idle yet: maybe not a pool";
  kernel.members[12].wakeups = 1;  // one went idle in its wait and took the next job
  t.Tick(400 * kMs);
  ASSERT_EQ(Saturations().size(), 1u);
  EXPECT_EQ(Saturations()[0].ceiling(), 4u);
  EXPECT_EQ(Saturations()[0].ceiling_source(), v1::CEILING_LARGEST_SEEN);
  EXPECT_EQ(Saturations()[0].membership(), "Python threads running loop");
  t.OnDiscovery({Server(10, 8080)}, {}, 450 * kMs);  // all four still there: settled
  // Idle threads reaped: fewer members, the same ceiling (no false saturation of the rest).
  kernel.pools[0] = ss_pool{};
  kernel.pools[0].size = 4;
  kernel.members.erase(13);
  kernel.members.erase(14);
  t.OnDiscovery({Server(10, 8080)}, {}, 500 * kMs);
  EXPECT_EQ(kernel.pools[0].size, 4u);
  t.Tick(1100 * kMs);
  ASSERT_FALSE(reports.empty());
  ASSERT_TRUE(reports.back().has_pool_utilization());
  EXPECT_EQ(reports.back().pool_utilization().size(), 2u);
  EXPECT_EQ(reports.back().pool_utilization().ceiling(), 4u);
}

TEST_F(PoolTrackerTest, AnExecutorOfOneIsAPoolAndAConfiguredMaximumIsItsCeiling) {
  PoolTracker t = MakeTracker();
  t.OnDiscovery({Server(10, 8080)}, {PythonPool(10, {11}, 0, /*executor=*/true)}, 0);
  ASSERT_EQ(t.pools(), 1u);
  EXPECT_EQ(kernel.pools[0].size, 1u);
  DiscoveredPool gthread = PythonPool(20, {21, 22}, 2, /*executor=*/true);
  gthread.configured_max = 4;
  gthread.configured_from = "gunicorn --threads 4";
  t.OnDiscovery({Server(10, 8080)}, {gthread}, 1 * kMs);
  ASSERT_EQ(t.pools(), 2u);
  EXPECT_EQ(kernel.pools[1].size, 4u) << "two threads exist; four may";
  kernel.pools[1].sat_start_ns = 2 * kMs;
  kernel.pools[1].sat_seq = 1;
  t.Tick(200 * kMs);
  ASSERT_EQ(Saturations().size(), 1u);
  EXPECT_EQ(Saturations()[0].ceiling_source(), v1::CEILING_CONFIGURED);
  EXPECT_EQ(Saturations()[0].ceiling_detail(), "gunicorn --threads 4");
}

TEST_F(PoolTrackerTest, ALoneThreadOfAnotherWorkLoopIsNoPool) {
  PoolTracker t = MakeTracker();
  t.OnDiscovery({Server(10, 8080)}, {PythonPool(10, {11}, 0)}, 0);  // a logging QueueListener
  EXPECT_EQ(t.pools(), 0u);
}

TEST_F(PoolTrackerTest, AThreadReplacedBetweenTwoRescansDoesNotRaiseTheCeiling) {
  PoolTracker t = MakeTracker();
  t.OnDiscovery({Server(10, 8080)}, {PythonPool(10, {11, 12, 13, 14}, 0)}, 1 * kMs);
  t.OnDiscovery({Server(10, 8080)}, {}, 2 * kMs);
  // anyio stopped 11 (its root task ended) and started 15; both seen at once, 11 exits after.
  t.OnDiscovery({Server(10, 8080)}, {PythonPool(10, {11, 12, 13, 14, 15}, 0)}, 3 * kMs);
  EXPECT_EQ(kernel.pools[0].size, 5u) << "five threads exist now";
  kernel.members.erase(11);
  t.OnDiscovery({Server(10, 8080)}, {}, 4 * kMs);
  EXPECT_EQ(kernel.pools[0].size, 4u);
}

TEST_F(PoolTrackerTest, AWorkerStartedWhileAnotherWindsDownDoesNotRaiseTheCeiling) {
  PoolTracker t = MakeTracker();
  t.OnDiscovery({Server(10, 8080)}, {PythonPool(10, {11, 12, 13, 14}, 0)}, 1 * kMs);
  t.OnDiscovery({Server(10, 8080)}, {}, 2 * kMs);
  // anyio's limiter has 4 tokens. 11 was stopped while running its last (long) job and 15
  // started: five threads over two rescans, never more than four busy at once.
  t.OnDiscovery({Server(10, 8080)}, {PythonPool(10, {11, 12, 13, 14, 15}, 0)}, 3 * kMs);
  kernel.pools[0].busy = 4;
  kernel.pools[0].peak_busy = 5;  // 11 left its idle wait to exit: the kernel's racy peak
  t.Tick(3 * kMs);
  kernel.pools[0].busy = 0;
  kernel.pools[0].sat_start_ns = 0;  // four busy of four for a moment; over when they idle
  t.OnDiscovery({Server(10, 8080)}, {}, 4 * kMs);
  EXPECT_EQ(kernel.pools[0].size, 4u) << "five threads, never five jobs at once";
  kernel.members.erase(11);
  t.OnDiscovery({Server(10, 8080)}, {}, 5 * kMs);
  EXPECT_EQ(kernel.pools[0].size, 4u);
  // A later replacement keeps it at four: 16 joins while 12 finishes its last job.
  t.OnDiscovery({Server(10, 8080)}, {PythonPool(10, {12, 13, 14, 15, 16}, 0)}, 6 * kMs);
  t.OnDiscovery({Server(10, 8080)}, {}, 7 * kMs);
  EXPECT_EQ(kernel.pools[0].size, 4u) << "five threads, at most four jobs at once";
  kernel.pools[0].sat_start_ns = 7 * kMs;
  kernel.pools[0].sat_seq += 1;
  t.Tick(200 * kMs);
  ASSERT_EQ(Saturations().size(), 1u);
  EXPECT_EQ(Saturations()[0].ceiling(), 4u);
  EXPECT_NE(Saturations()[0].ceiling_detail().find("busy at once"), std::string::npos)
      << Saturations()[0].ceiling_detail();
}

TEST_F(PoolTrackerTest, ThreadsStartedOnDemandPastTheJobsAtOnceDoNotRaiseTheCeiling) {
  PoolTracker t = MakeTracker();
  t.OnDiscovery({Server(10, 8080)}, {PythonPool(10, {11, 12}, 0)}, 1 * kMs);
  t.OnDiscovery({Server(10, 8080)}, {PythonPool(10, {11, 12, 13, 14}, 4)}, 2 * kMs);
  kernel.pools[0].busy = 4;  // all four at work (the kernel's count; the fake adds only new ones)
  t.Tick(3 * kMs);
  EXPECT_EQ(kernel.pools[0].size, 4u);
  kernel.pools[0].busy = 0;
  // anyio started a fifth worker (its idle list was empty for a moment); it never ran a fifth
  // job at once: its limiter has four tokens.
  t.OnDiscovery({Server(10, 8080)}, {PythonPool(10, {11, 12, 13, 14, 15}, 0)}, 4 * kMs);
  t.Tick(5 * kMs);
  EXPECT_EQ(kernel.pools[0].size, 4u);
}

TEST_F(PoolTrackerTest, ThreadsStartedUpFrontAreAllTheCeilingWhateverTheLoad) {
  PoolTracker t = MakeTracker();
  t.OnDiscovery({Server(10, 8080)}, {PythonPool(10, {11, 12, 13, 14}, 0)}, 1 * kMs);
  kernel.pools[0].busy = 3;
  kernel.pools[0].peak_busy = 3;
  t.Tick(2 * kMs);
  kernel.pools[0].busy = 0;
  t.Tick(3 * kMs);
  EXPECT_EQ(kernel.pools[0].size, 4u) << "three of four busy is not full";
}

TEST_F(PoolTrackerTest, AnExecutorFoundBusyThenIdleOnItsQueueIsOnePool) {
  PoolTracker t = MakeTracker();
  t.OnDiscovery({Server(10, 8080)}, {PythonPool(10, {11, 12}, 2, /*executor=*/true)}, 1 * kMs);
  ASSERT_EQ(t.pools(), 1u);
  DiscoveredPool idle = PythonPool(10, {11, 12, 13}, 0, /*executor=*/true);
  idle.key += "@7f0010";
  for (auto& m : idle.members) m.idle_uaddr = 0x7f0010;
  t.OnDiscovery({Server(10, 8080)}, {idle}, 2 * kMs);
  EXPECT_EQ(t.pools(), 1u) << "the same executor";
  EXPECT_EQ(kernel.pools[0].size, 3u);
  EXPECT_EQ(kernel.members[13].idle_uaddr, 0x7f0010u);
  EXPECT_EQ(kernel.members[11].idle_uaddr, 0u) << "added before its queue was known";
}

TEST_F(PoolTrackerTest, APoolOfTheMostThreadsSeenIsRescannedBeforeItsSaturationIsReported) {
  // anyio under overload: three workers found, all busy; the fourth it starts next is found
  // only by the next rescan. Full in the kernel meanwhile, but no saturation: a rescan first.
  PoolTracker t = MakeTracker();
  t.OnDiscovery({Server(10, 8080)}, {PythonPool(10, {11, 12, 13}, 0)}, 1 * kMs);
  kernel.pools[0].busy = 3;
  kernel.pools[0].sat_seq = 1;
  kernel.pools[0].sat_start_ns = 10 * kMs;
  t.Tick(120 * kMs);
  EXPECT_TRUE(Saturations().empty());
  EXPECT_TRUE(t.TakeRescanRequest());
  EXPECT_FALSE(t.TakeRescanRequest()) << "asked once";
  t.OnDiscovery({Server(10, 8080)}, {PythonPool(10, {11, 12, 13, 14}, 4)}, 121 * kMs);  // 14 is busy too
  EXPECT_EQ(kernel.pools[0].size, 4u);
  t.Tick(220 * kMs);
  ss_pool_event e{};
  e.hdr.ts_ns = 221 * kMs;
  e.pool_id = 0;
  e.seq = 1;
  e.start_ns = 10 * kMs;
  t.OnSaturationEnded(e);
  t.Flush(300 * kMs);
  EXPECT_TRUE(Saturations().empty()) << "full only while a member was not found";

  // A saturation the rescan confirms (no member missing, no thread starting) is reported at
  // the next scan.
  kernel.pools[0].busy = 4;
  kernel.pools[0].sat_seq = 2;
  kernel.pools[0].sat_start_ns = 400 * kMs;
  t.Tick(510 * kMs);
  EXPECT_TRUE(t.TakeRescanRequest());
  DiscoveredPool starting = PythonPool(10, {11, 12, 13, 14}, 4);
  starting.threads_starting = 1;  // a fifth thread still in threading's bootstrap
  t.OnDiscovery({Server(10, 8080)}, {starting}, 511 * kMs);
  t.Tick(515 * kMs);
  EXPECT_TRUE(Saturations().empty());
  EXPECT_TRUE(t.TakeRescanRequest());
  t.OnDiscovery({Server(10, 8080)}, {PythonPool(10, {11, 12, 13, 14}, 4)}, 516 * kMs);
  t.Tick(520 * kMs);
  ASSERT_EQ(Saturations().size(), 1u);
  EXPECT_EQ(Saturations()[0].members_size(), 4);
  EXPECT_EQ(Saturations()[0].duration_ns(), 120 * kMs);
}

}  // namespace
}  // namespace stallscope
