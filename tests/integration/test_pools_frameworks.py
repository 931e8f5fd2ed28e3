"""Thread pools of the frameworks people run, found by what their threads do (issue 15), with
the agent attached to a freshly started server before any pool thread exists:

  FastAPI `def` endpoints on uvicorn --loop uvloop and --loop asyncio: anyio's worker threads
    (started on demand; the app limits them to 4), not libuv's own threads;
  Django on gunicorn gthread --threads 4 driven straight into overload, logging through a
    QueueListener thread: the executor's 4 threads (ceiling read from --threads), not the
    listener;
  Django under ASGI (uvicorn): asgiref's single thread, a pool of one.

The truth is the app's own log of each handler's start, end and thread (stallkit). Checks: the
pool's members are exactly the threads that ran handlers, its ceiling and how it was decided,
saturation coverage and precision >= 0.9 against the true all-busy time, no saturation while
fewer threads than the ceiling were busy."""

import os
import time
import unittest

import harness
import pool_checks
from pool_checks import MS, all_busy_intervals, max_concurrent, merge, overlap, run_clients, u64, of


class FrameworkPool(unittest.TestCase):
    SIZE = 4
    CEILING_SOURCE = "CEILING_LARGEST_SEEN"
    OVERLOAD_S = 4.0
    PARTIAL_S = 2.0  # after the overload (a pool that grows on demand has grown by then)

    @classmethod
    def start_server(cls, s, port):
        raise NotImplementedError

    @classmethod
    def setUpClass(cls):
        if cls is FrameworkPool:
            raise unittest.SkipTest("base class")
        harness.require_bpf()
        cls.s = s = harness.Session(cls.__name__.lower())
        cls.addClassCleanup(s.close)
        cls.port = harness.free_port()
        cls.proc = cls.start_server(s, cls.port)
        s.wait_port(cls.port, cls.proc, cls.__name__)
        time.sleep(0.5)
        s.stall_log.write_text("")
        agent = s.start_agent([cls.proc.pid], extra=["--saturation-threshold-ms", "100",
                                                     "--utilization-interval", "2"])
        time.sleep(0.3)
        cls.t_overload = time.time_ns()
        cls.overload = run_clients(cls.port, 2 * cls.SIZE, cls.OVERLOAD_S)
        time.sleep(0.3)
        cls.t_partial = time.time_ns()
        cls.partial = run_clients(cls.port, cls.SIZE - 1, cls.PARTIAL_S) if cls.SIZE > 1 else []
        cls.t_end = time.time_ns()
        time.sleep(0.5)
        cls.reports = agent.stop()
        address = "127.0.0.1:%d" % cls.port
        cls.sats = [r for r in of(cls.reports, "poolSaturation") if r.get("listenAddress") == address]
        cls.finals = [r for r in cls.sats if not r.get("inProgress")]
        cls.utils = [r for r in of(cls.reports, "poolUtilization") if r.get("listenAddress") == address]
        stalls = s.true_stalls("sleep")
        cls.handler_tids = {t.tid for t in stalls}
        cls.handlers = [(t.start_ns, t.end_ns) for t in stalls]
        # The pool's true size: the most handlers the app itself logged running at once.
        cls.true_size = max_concurrent(cls.handlers) if cls.SPARE_THREAD_POSSIBLE else cls.SIZE
        cls.truth = all_busy_intervals(cls.handlers, cls.true_size)
        cls.reported = merge([(u64(r, "startTimeUnixNano"), u64(r, "startTimeUnixNano") + u64(r, "durationNs"))
                              for r in cls.finals])

    def describe(self):
        o = self.s.origin_ns
        fmt = lambda iv: ", ".join("%.0f-%.0f" % ((a - o) / MS, (b - o) / MS) for a, b in iv[:12])
        pools = {(r.get("pool"), r.get("size"), r.get("ceiling")) for r in of(self.reports, "poolUtilization")}
        return "\n truth (all %d busy) ms: %s\n reported: %s\n overload from %.0f, partial from %.0f " \
               "to %.0f ms\n pools: %s" % (self.SIZE, fmt(self.truth), fmt(self.reported),
                                          (self.t_overload - o) / MS, (self.t_partial - o) / MS,
                                          (self.t_end - o) / MS, pools)

    def test_all_requests_served(self):
        self.assertEqual([r for r in self.overload + self.partial if r.status != b"200"], [])

    def test_members_are_the_threads_that_ran_handlers(self):
        # anyio starts a worker whenever its idle list is empty (under uvloop it also stops the
        # worker of a finished root task): more threads than the pool's size may serve over the
        # run, and may even exist at once, but never more jobs at once than its limiter's
        # tokens. So a saturation lists every thread (at least the size) and its ceiling is the
        # size.
        self.assertGreaterEqual(len(self.handler_tids), self.SIZE, "the app's threads: %s" % self.handler_tids)
        self.assertTrue(self.utils, "no poolUtilization for the server" + self.describe())
        self.assertTrue(self.finals, "no final poolSaturation" + self.describe())
        for r in self.sats:
            self.assertEqual(r.get("kind"), "THREAD_POOL", r)
            members = set(r.get("members", []))
            self.assertIn(self.true_size, self.sizes_possible(), self.describe())
            self.assertGreaterEqual(len(members), self.true_size, r)
            self.assertLessEqual(members, self.handler_tids, r)
            self.assertIn(r.get("ceiling"), self.expected_ceilings(r), r)
            self.assertEqual(r.get("ceilingSource"), self.CEILING_SOURCE, r)
            self.assertTrue(r.get("membership", "").startswith("Python threads running "), r)
        for u in self.utils:
            self.assertIn(u.get("ceiling"), self.expected_ceilings(u), u)
        # One pool on this server: no second one of runtime threads (libuv, the log listener).
        pids = {r.get("pid") for r in self.utils}
        others = [u for u in of(self.reports, "poolUtilization")
                  if u.get("pid") in pids and u.get("pool") != self.utils[0].get("pool")]
        self.assertEqual(others, [], "runtime threads reported as a pool")

    # anyio can run one job more than its limiter's tokens at times (seen: 5 handlers at once
    # with total_tokens 4, by the app's own log): the pool then truly has that many workers.
    SPARE_THREAD_POSSIBLE = False

    def sizes_possible(self):
        return (self.SIZE, self.SIZE + 1) if self.SPARE_THREAD_POSSIBLE else (self.SIZE,)

    def spare_found_with_the_pool(self):
        """anyio had more worker threads than ever ran jobs at once, all there when the agent
        first found the pool: with the limiter unread (docs/pools.md) its largest-seen ceiling
        is then the threads. (Threads added later are told apart: the ceiling stays the most
        busy at once.)"""
        return self.SPARE_THREAD_POSSIBLE and any(
            len(r.get("members", [])) > self.true_size and r.get("ceiling") == len(r.get("members", []))
            and "most threads seen" in r.get("ceilingDetail", "") for r in self.sats)

    def expected_ceilings(self, r):
        if self.spare_found_with_the_pool():
            print("\n    %s: more threads than jobs at once, found together: ceiling = threads"
                  % self.__class__.__name__)
            return (self.true_size, int(r.get("size", 0)))
        return (self.true_size,)

    def test_saturation_matches_true_all_busy_time(self):
        if self.spare_found_with_the_pool():
            # Saturations then need one more thread busy than the limiter allows: what is
            # reported must still be true (no false saturation), coverage is not asked.
            common = pool_checks.overlap(self.truth, self.reported)
            self.assertGreaterEqual(common / max(1, pool_checks.length(self.reported)), 0.9, self.describe())
            return
        pool_checks.assert_saturation_matches(self, 0.9)

    def test_no_saturation_while_fewer_were_busy(self):
        if self.SIZE == 1:
            self.skipTest("a pool of one is full whenever it works")
        during = [r for r in self.sats if u64(r, "startTimeUnixNano") > self.t_partial + 250 * MS]
        self.assertEqual(overlap(self.truth, [(self.t_partial + 250 * MS, self.t_end)]), 0,
                         "the pool filled during the partial phase: test load is wrong" + self.describe())
        self.assertEqual(during, [], "saturation reported while at most %d of %d were busy%s" %
                         (self.SIZE - 1, self.SIZE, self.describe()))


class FastApiUvloop(FrameworkPool):
    LOOP = "uvloop"
    SPARE_THREAD_POSSIBLE = True

    @classmethod
    def start_server(cls, s, port):
        argv = [harness.PYTHON, "-m", "uvicorn", "--loop", cls.LOOP, "--port", port,
                "--log-level", "warning", "fastapi_app:app"]
        return s.spawn("uvicorn-" + cls.LOOP, argv, env=s.app_env(POOL_THREADS=str(cls.SIZE)),
                       cwd=harness.APPS)


class FastApiAsyncio(FastApiUvloop):
    LOOP = "asyncio"


class DjangoGthreadStraightIntoOverload(FrameworkPool):
    CEILING_SOURCE = "CEILING_CONFIGURED"

    @classmethod
    def start_server(cls, s, port):
        argv = [harness.PYTHON, harness.GUNICORN, "-k", "gthread", "--threads", cls.SIZE, "-w", 1,
                "-b", "127.0.0.1:%d" % port, "--chdir", harness.APPS, "--timeout", "60", "django_app:app"]
        return s.spawn("django-gthread", argv, env=s.app_env(), cwd=harness.APPS)

    def test_ceiling_read_from_the_command_line(self):
        for r in self.sats + self.utils:
            self.assertEqual(r.get("ceilingDetail"), "gunicorn --threads %d" % self.SIZE, r)


class DjangoAsgiSingleThread(FrameworkPool):
    SIZE = 1
    OVERLOAD_S = 3.0

    @classmethod
    def start_server(cls, s, port):
        argv = [harness.PYTHON, "-m", "uvicorn", "--port", port, "--log-level", "warning",
                "django_app:asgi_app"]
        return s.spawn("django-asgi", argv, env=s.app_env(), cwd=harness.APPS)


if __name__ == "__main__":
    harness.main()
