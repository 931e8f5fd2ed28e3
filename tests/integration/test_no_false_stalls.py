"""No false stalls: a tornado loop under wrk load of /fast reports nothing (then one real stall
as a control, so "nothing" means something), and gunicorn sync workers serving slow requests
report nothing -- a sync worker is not an event loop, its slow requests are not loop stalls."""

import re
import subprocess
import time
import unittest

import harness


class TornadoUnderWrk(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        harness.require_bpf()
        cls.s = s = harness.Session("wrk")
        cls.addClassCleanup(s.close)
        s.start_upstream()
        cls.app, port = s.start_app("tornado_app.py")
        agent = s.start_agent([cls.app.pid])
        s.warm_up(port)
        cls.wrk_start = time.time_ns()
        cls.wrk = subprocess.run([harness.WRK, "-t2", "-c20", "-d5s",
                                  "http://127.0.0.1:%d/fast" % port],
                                 capture_output=True, text=True, timeout=60)
        cls.wrk_end = time.time_ns()
        time.sleep(0.5)
        s.stall(port, "sleep", 300)   # the control
        cls.reports = agent.stop()

    def test_wrk_ran(self):
        self.assertEqual(self.wrk.returncode, 0, self.wrk.stdout + self.wrk.stderr)
        m = re.search(r"(\d+) requests in", self.wrk.stdout)
        self.assertTrue(m and int(m.group(1)) > 100, "wrk output:\n" + self.wrk.stdout)
        self.assertNotIn("Non-2xx", self.wrk.stdout)

    def test_no_reports_under_load(self):
        # wrk, tornado and the agent share 2 cores: a report that is mostly run-queue time is
        # the loop waiting for a CPU (real, and reported as such), not a false stall.
        during = harness.without_starved(
            [b for b in self.reports.loop_blocks() if b.overlap_ns(self.wrk_start,
                                                                   self.wrk_end) > 0],
            self.s.origin_ns)
        self.assertEqual(during, [], "loopBlock reports during wrk load of /fast:\n%s" %
                         harness.describe_reports(during, self.s.origin_ns))

    def test_control_stall_reported(self):
        true = harness.the_stall(self.s, "sleep")
        harness.match_stall(true, self.reports, self.s.origin_ns)
        finals = harness.without_starved(self.reports.finals(), self.s.origin_ns)
        self.assertEqual(len(finals), 1, "only the control stall should be reported:\n%s" %
                         harness.describe_reports(finals, self.s.origin_ns))


class GunicornSyncWorkers(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        harness.require_bpf()
        cls.s = s = harness.Session("sync")
        cls.addClassCleanup(s.close)
        s.start_upstream()
        cls.master, port = s.start_gunicorn("sync_app", worker_class="sync", workers=2)
        agent = s.start_agent([cls.master.pid])
        for _ in range(3):
            harness.http_get_ok(port, "/fast")
        cls.results = []
        for _ in range(3):  # two at a time: both workers busy
            cls.results += harness.concurrent_gets(port, ["/sleep?ms=300", "/sleep?ms=300"])
            time.sleep(harness.STALL_GAP_S)
        cls.results += harness.concurrent_gets(port, ["/cpu?ms=300", "/upstream?ms=300"])
        time.sleep(harness.STALL_GAP_S)
        cls.reports = agent.stop()

    def test_requests_were_served_by_both_workers(self):
        bad = [r for r in self.results if isinstance(r, Exception) or r[0] != 200]
        self.assertEqual(bad, [])
        pids = {t.pid for t in self.s.true_stalls()}
        self.assertEqual(len(self.s.true_stalls()), 8)
        self.assertEqual(len(pids), 2, "both sync workers should have served slow requests")

    def test_no_loop_blocks(self):
        blocks = self.reports.loop_blocks()
        self.assertEqual(blocks, [], "sync workers are not event loops; reports:\n%s\ntrue "
                         "durations: %s" % (harness.describe_reports(blocks, self.s.origin_ns),
                                            [t.describe() for t in self.s.true_stalls()]))

    def test_slow_requests_counted_as_not_loops(self):
        stats = self.reports.agent_stats()
        self.assertIsNotNone(stats, "no agentStats line at exit")
        self.assertGreaterEqual(int(stats.get("busyPeriodsNotLoops", 0)), 1,
                                "the agent should have seen the sync workers' slow requests as "
                                "busy periods of non-loop threads: %s" % stats)


if __name__ == "__main__":
    harness.main()
