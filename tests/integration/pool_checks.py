"""Shared by the worker-pool tests (test_pools_*.py): a closed-loop HTTP load whose clients
record their own timings, the true all-busy intervals from the app's handler log, and the
checks a user would make of PoolSaturation / PoolUtilization / SocketLifetime reports.

One scenario per server, pool of size N:
  phase "partial": N-1 clients for a while: the pool is never full, no saturation may be reported;
  phase "overload": 2N clients: requests queue, the pool is saturated most of the time.
Every request is GET /sleep?ms=HANDLER_MS on a new connection (Connection: close).
"""

import collections
import socket
import sys
import threading
import time
import unittest

import harness

MS = harness.MS
HANDLER_MS = 200
GAP_NS = 5 * MS   # the agent's saturation grace (SS_SATURATION_GAP_NS): the truth uses the same

Request = collections.namedtuple("Request", "client_port connect_ns connected_ns done_ns status sent received")


def run_clients(port, clients, seconds, ms=HANDLER_MS):
    """`clients` threads, each sending requests back to back for `seconds`; returns Requests."""
    done, lock = [], threading.Lock()
    deadline = time.monotonic() + seconds

    def client():
        while time.monotonic() < deadline:
            t0 = time.time_ns()
            s = socket.create_connection(("127.0.0.1", port), timeout=30)
            t1 = time.time_ns()
            local_port = s.getsockname()[1]
            request = b"GET /sleep?ms=%d HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n" % ms
            s.sendall(request)
            data = b""
            while True:
                chunk = s.recv(65536)
                if not chunk:
                    break
                data += chunk
            s.close()
            t2 = time.time_ns()
            status = data.split(b" ", 2)[1] if data.startswith(b"HTTP/") else b"?"
            with lock:
                done.append(Request(local_port, t0, t1, t2, status, len(request), len(data)))

    threads = [threading.Thread(target=client) for _ in range(clients)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return done


def merge(intervals, gap_ns=0):
    out = []
    for start, end in sorted(intervals):
        if out and start <= out[-1][1] + gap_ns:
            out[-1][1] = max(out[-1][1], end)
        else:
            out.append([start, end])
    return [tuple(i) for i in out]


def all_busy_intervals(handlers, size):
    """Intervals where `size` handlers ran at once (handlers: (start_ns, end_ns)), with gaps up
    to GAP_NS closed as the agent does."""
    edges = sorted([(s, 1) for s, _ in handlers] + [(e, -1) for _, e in handlers],
                   key=lambda x: (x[0], x[1]))
    busy, start, out = 0, None, []
    for t, d in edges:
        busy += d
        if busy >= size and start is None:
            start = t
        elif busy < size and start is not None:
            out.append((start, t))
            start = None
    return merge(out, GAP_NS)


def max_concurrent(handlers, least_ns=200 * 1000 * 1000):
    """The most handlers that ran at once for least_ns in all (brief overlaps of a handler's
    end with the next one's start, as logged, do not count)."""
    size = 1
    while length(all_busy_intervals(handlers, size + 1)) >= least_ns:
        size += 1
    return size


def overlap(a, b):
    """Total overlap of two lists of disjoint intervals."""
    total = 0
    for s1, e1 in a:
        for s2, e2 in b:
            total += max(0, min(e1, e2) - max(s1, s2))
    return total


def queue_peak(arrivals_ns, departures_ns):
    """Most arrivals not yet departed at any instant (a departure first at equal times)."""
    edges = sorted([(t, 1) for t in arrivals_ns] + [(t, -1) for t in departures_ns])
    n = peak = 0
    for _, d in edges:
        n += d
        peak = max(peak, n)
    return peak


def length(intervals):
    return sum(e - s for s, e in intervals)


def of(reports, key):
    return [d for _, d in reports.of(key)]


def pool_reports(reports, kind, port):
    """(final saturations, utilizations) of the pool listening on `port`."""
    address = "127.0.0.1:%d" % port
    sats = [r for r in of(reports, "poolSaturation") if r.get("listenAddress") == address]
    utils = [r for r in of(reports, "poolUtilization") if r.get("listenAddress") == address]
    return [r for r in sats if not r.get("inProgress")], utils, sats


def u64(r, key):
    return int(r.get(key, 0))


def assert_saturation_matches(case, least):
    """case.truth (true all-busy intervals) lasts over a second, and the reported saturations
    (case.reported) cover at least `least` of it with at least `least` of theirs."""
    truth_ns, reported_ns = length(case.truth), length(case.reported)
    case.assertGreater(truth_ns, 1000 * MS, "the overload did not fill the pool" + case.describe())
    common = overlap(case.truth, case.reported)
    coverage, precision = common / truth_ns, common / max(1, reported_ns)
    sys.stderr.write("%s: true all-busy %.0f ms, reported %.0f ms, coverage %.1f%%, precision "
                     "%.1f%%\n" % (case.__class__.__name__, truth_ns / MS, reported_ns / MS,
                                   100 * coverage, 100 * precision))
    case.assertGreaterEqual(coverage, least, case.describe())
    case.assertGreaterEqual(precision, least, case.describe())


class PoolScenario(unittest.TestCase):
    """Subclasses set SIZE, KIND ("THREAD_POOL"/"PREFORK"), QUEUES_IN_ACCEPT_QUEUE and
    start_server(session) -> (proc, port, pids to attach)."""
    SIZE = 4
    KIND = "THREAD_POOL"
    QUEUES_IN_ACCEPT_QUEUE = True  # waiting requests sit in the listener's accept queue
    # --sockets (a report per connection) keeps the accept exits hooked all the time; without it
    # (the daemon's default) --syscall-hooks sched hooks them only while a pool is saturated.
    SOCKETS = True
    PARTIAL_S, OVERLOAD_S = 2.5, 5.0

    @classmethod
    def start_server(cls, session):
        raise NotImplementedError

    @classmethod
    def all_workers_exist(cls):
        """After the warm-up: False to warm up again (a pool that grows on demand)."""
        return True

    @classmethod
    def setUpClass(cls):
        if cls is PoolScenario:
            raise unittest.SkipTest("base class")
        harness.require_bpf()
        cls.s = s = harness.Session(cls.__name__.lower())
        cls.addClassCleanup(s.close)
        cls.proc, cls.port, pids = cls.start_server(s)
        # Every worker thread exists and has served once: executors start threads on demand,
        # one per job submitted while none is idle, so submit more jobs than the pool holds.
        for _ in range(5):
            warm = run_clients(cls.port, 2 * cls.SIZE, 0.01, ms=500)
            assert all(r.status == b"200" for r in warm), warm
            if cls.all_workers_exist():
                break
        else:
            raise AssertionError("the server did not start all %d workers" % cls.SIZE)
        time.sleep(1.0)
        s.stall_log.write_text("")  # the truth starts now
        agent = s.start_agent(pids, extra=(["--sockets"] if cls.SOCKETS else []) +
                              ["--saturation-threshold-ms", "100", "--utilization-interval", "2"])
        time.sleep(1.2)  # one pool rescan after attach
        cls.t_partial = time.time_ns()
        cls.partial = run_clients(cls.port, cls.SIZE - 1, cls.PARTIAL_S)
        time.sleep(0.3)
        cls.t_overload = time.time_ns()
        cls.overload = run_clients(cls.port, 2 * cls.SIZE, cls.OVERLOAD_S)
        cls.t_end = time.time_ns()
        time.sleep(0.5)
        cls.reports = agent.stop()
        cls.finals, cls.utils, cls.all_sats = pool_reports(cls.reports, cls.KIND, cls.port)
        cls.handlers = [(t.start_ns, t.end_ns) for t in s.true_stalls("sleep")]
        cls.truth = all_busy_intervals(cls.handlers, cls.SIZE)
        cls.reported = merge([(u64(r, "startTimeUnixNano"),
                               u64(r, "startTimeUnixNano") + u64(r, "durationNs"))
                              for r in cls.finals])

    def describe(self):
        o = self.s.origin_ns
        fmt = lambda iv: ", ".join("%.0f-%.0f ms" % ((a - o) / MS, (b - o) / MS) for a, b in iv[:12])
        return "\n truth (all %d busy): %s\n reported: %s\n partial phase from %.0f ms, overload " \
               "from %.0f ms to %.0f ms" % (self.SIZE, fmt(self.truth), fmt(self.reported),
                                            (self.t_partial - o) / MS, (self.t_overload - o) / MS,
                                            (self.t_end - o) / MS)

    def test_all_requests_served(self):
        bad = [r for r in self.partial + self.overload if r.status != b"200"]
        self.assertEqual(bad, [])

    def test_pool_recognised_with_its_size(self):
        self.assertTrue(self.utils, "no poolUtilization for the pool on port %d; pools seen: %s" %
                        (self.port, {(r.get("pool"), r.get("size")) for r in
                                     of(self.reports, "poolUtilization")}))
        for u in self.utils:
            self.assertEqual(u.get("kind"), self.KIND, u)
            self.assertEqual(u.get("size"), self.SIZE, u)
        for r in self.all_sats:
            self.assertEqual(r.get("size"), self.SIZE, r)
            self.assertEqual(len(r.get("members", [])), self.SIZE, r)

    def test_saturation_matches_true_all_busy_time(self):
        assert_saturation_matches(self, 0.8)

    def test_busy_members_were_waiting_not_computing(self):
        # The handlers sleep: during saturations the members were mostly off CPU.
        long = [r for r in self.finals if u64(r, "durationNs") >= 500 * MS]
        self.assertTrue(long, "no saturation of 500 ms or more" + self.describe())
        for r in long:
            self.assertLess(r.get("onCpuShare", 0), 0.2, r)
            self.assertGreater(r.get("onCpuShare", 0), 0, r)  # measured: parsing, writing

    def test_busy_members_were_seen_sleeping(self):
        # The handlers sleep (time.sleep -> clock_nanosleep): that is what the members were
        # sampled doing during saturations, far ahead of anything else.
        long = [r for r in self.finals if u64(r, "durationNs") >= 500 * MS]
        self.assertTrue(long, "no saturation of 500 ms or more" + self.describe())
        for r in long:
            acts = r.get("activities", [])
            self.assertGreaterEqual(int(r.get("activitySamples", 0)), 4, r)
            self.assertTrue(acts, r)
            self.assertEqual(acts[0]["what"], "clock_nanosleep", r)
            self.assertGreater(acts[0]["share"], 0.6, r)
            self.assertLessEqual(sum(a["share"] for a in acts), 1.0 + 1e-9, r)

    def test_no_saturation_while_pool_not_full(self):
        partial = (self.t_partial, self.t_overload)
        self.assertEqual(overlap(self.truth, [partial]), 0,
                         "the pool filled during the partial phase: test load is wrong" + self.describe())
        during = [r for r in self.all_sats
                  if u64(r, "startTimeUnixNano") < self.t_overload - 20 * MS]
        self.assertEqual(during, [], "saturation reported while at most %d of %d were busy%s" %
                         (self.SIZE - 1, self.SIZE, self.describe()))

    def test_queue_and_accept_waits_match_clients(self):
        clients = 2 * self.SIZE
        self.assertTrue(self.finals, "no final poolSaturation" + self.describe())
        max_queued = max(r.get("maxQueued", 0) for r in self.finals)
        # Clients wait beyond their handler time: in the accept queue (prefork, uWSGI) or in
        # the server's own queue after an immediate accept (CherryPy, gthread).
        extra_ms = sorted((r.done_ns - r.connected_ns) / MS - HANDLER_MS for r in self.overload)
        waits = [(u64(r, "acceptWaitMeanNs"), u64(r, "acceptWaitMaxNs"), r.get("accepted", 0))
                 for r in self.finals]
        accepted = sum(w[2] for w in waits)
        mean_ms = sum(w[0] * w[2] for w in waits) / max(1, accepted) / MS
        max_ms = max(w[1] for w in waits) / MS
        sys.stderr.write("%s: maxQueued %d (clients %d, pool %d); accept wait mean %.1f max %.1f "
                         "ms; clients' wait beyond the handler p50 %.1f max %.1f ms\n" %
                         (self.__class__.__name__, max_queued, clients, self.SIZE, mean_ms, max_ms,
                          extra_ms[len(extra_ms) // 2], extra_ms[-1]))
        # The true queue: requests connected (clients' clocks) less handlers begun (the app's
        # log), at every instant of the overload. A handler begins a little after its accept,
        # so this counts the brief peaks too, when clients reconnect before a freed worker
        # accepts the next one; it may exceed the accept queue, never fall short of it.
        measured = queue_peak([r.connected_ns for r in self.overload],
                              [s for s, _ in self.handlers if s >= self.t_overload])
        sys.stderr.write("%s: up to %d requests connected and not yet handled\n" %
                         (self.__class__.__name__, measured))
        self.assertLessEqual(max_queued, measured + 1)
        self.assertLessEqual(max_ms, extra_ms[-1] + 20)  # no one waited longer than clients saw
        if self.QUEUES_IN_ACCEPT_QUEUE:
            # Little's law on the clients' figures: mean number waiting = rate x mean extra wait;
            # the queue's peak is at least that (less one for a worker between two jobs).
            span_s = (max(r.done_ns for r in self.overload) - min(r.connect_ns for r in self.overload)) / 1e9
            waiting = len(self.overload) / span_s * (sum(extra_ms) / len(extra_ms) / 1000)
            sys.stderr.write("%s: clients waited %.2f on average (Little's law)\n" %
                             (self.__class__.__name__, waiting))
            self.assertGreaterEqual(max_queued, int(waiting) - 1)
            # Every waiting client waited in the accept queue: the accept wait is the clients'
            # extra wait, within max(20 ms, 10%).
            p50 = extra_ms[len(extra_ms) // 2]
            self.assertLess(abs(mean_ms - p50), max(20, 0.1 * p50) + 0.25 * HANDLER_MS,
                            "accept wait mean %.1f ms vs clients' %.1f ms" % (mean_ms, p50))
            self.assertLess(abs(max_ms - extra_ms[-1]), max(20, 0.1 * extra_ms[-1]))

    def test_accept_exits_hooked_only_on_demand(self):
        stats = self.reports.agent_stats()
        self.assertIsNotNone(stats, "no agentStats at exit")
        attached = int(stats.get("acceptHooksAttached", 0))
        if self.SOCKETS or stats.get("waitHooks") != "sched":
            self.assertEqual(attached, 0, "hooked all along, never on demand: %s" % stats)
        else:
            self.assertGreaterEqual(attached, 1, "the pool saturated, the accept exits were "
                                    "never hooked: %s" % stats)

    def test_socket_lifetimes_match_clients(self):
        if not self.SOCKETS:
            self.skipTest("no --sockets: no report per connection")
        local = "127.0.0.1:%d" % self.port
        lifetimes = [r for r in of(self.reports, "socketLifetime")
                     if r.get("localAddress") == local and r.get("direction") == "INBOUND"]
        requests = self.partial + self.overload
        self.assertEqual(len(lifetimes), len(requests), "connections reported vs made by the clients")
        # Client ports are reused within a run: match by port and start time.
        by_port = collections.defaultdict(list)
        for life in lifetimes:
            by_port[int(life["remoteAddress"].rsplit(":", 1)[1])].append(life)
        worst = 0.0
        for req in requests:
            candidates = by_port.get(req.client_port, [])
            self.assertTrue(candidates, "no SocketLifetime for the client connection from :%d" % req.client_port)
            life = min(candidates, key=lambda l: abs(u64(l, "startTimeUnixNano") - req.connected_ns))
            candidates.remove(life)
            true_ns = req.done_ns - req.connected_ns
            diff = abs(u64(life, "durationNs") - true_ns) / true_ns
            worst = max(worst, diff)
            self.assertLessEqual(diff, 0.10, "connection from :%d lasted %.1f ms for the client, "
                                 "reported %.1f ms" % (req.client_port, true_ns / MS, u64(life, "durationNs") / MS))
            self.assertTrue(life.get("accepted"), life)
            self.assertEqual(u64(life, "bytesIn"), req.sent, life)
            self.assertEqual(u64(life, "bytesOut"), req.received, life)
            self.assertEqual(life.get("end"), "CLOSED", life)
        sys.stderr.write("%s: %d connections, durations within %.1f%% of the clients'\n" %
                         (self.__class__.__name__, len(requests), 100 * worst))

    def test_utilization_capacity_math(self):
        busy = [u for u in self.utils if int(u.get("requests", 0)) > 0]
        self.assertTrue(busy, self.utils)
        peak = max(u.get("busyPeak", 0) for u in self.utils)
        self.assertEqual(peak, self.SIZE)
        served = sum(int(u.get("requests", 0)) for u in self.utils)
        made = len(self.partial) + len(self.overload)
        self.assertLessEqual(abs(served - made), self.SIZE, "requests served %d vs made %d" % (served, made))
        # Over the run (an interval's busy time and its requests straddle its edges): the mean
        # service time is the handler's plus the server's own work per request.
        busy_ns = sum(u["busy"] * u64(u, "intervalNs") for u in self.utils)
        service_ms = busy_ns / max(1, served) / MS
        sys.stderr.write("%s: %d requests served (%d made), mean service %.1f ms, peak busy %d\n" %
                         (self.__class__.__name__, served, made, service_ms, peak))
        self.assertGreater(service_ms, HANDLER_MS * 0.95)
        self.assertLess(service_ms, HANDLER_MS * 1.5)
        for u in busy:
            mean_ms = u64(u, "serviceTimeMeanNs") / MS
            self.assertAlmostEqual(u["capacityPerSecond"], self.SIZE * 1000 / mean_ms, delta=0.01 * u["capacityPerSecond"])
            self.assertAlmostEqual(u["ratePerSecond"], int(u["requests"]) * 1e9 / u64(u, "intervalNs"), delta=0.01)
