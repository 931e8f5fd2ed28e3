"""Tornado 6 (asyncio loop): a sleep, a CPU burn and a slow upstream call, each blocking the loop
thread, are reported on that thread with their true durations and causes; /fast requests are not
stalls."""

import time
import unittest

import harness


class TornadoStalls(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        harness.require_bpf()
        cls.s = s = harness.Session("tornado")
        cls.addClassCleanup(s.close)
        cls.up_port = s.start_upstream()
        cls.app, port = s.start_app("tornado_app.py")
        agent = s.start_agent([cls.app.pid])
        s.stall(port, "sleep", 300)
        s.stall(port, "cpu", 250)
        s.stall(port, "upstream", 400)
        cls.fast_start = time.time_ns()
        for _ in range(20):
            harness.http_get_ok(port, "/fast")
            time.sleep(0.02)
        cls.fast_end = time.time_ns()
        time.sleep(0.3)
        cls.reports = agent.stop()
        cls.trues = s.true_stalls()

    def match(self, kind):
        true = harness.the_stall(self.s, kind)
        self.assertEqual(true.tid, self.app.pid, "tornado stalls on its main thread")
        return true, harness.match_stall(true, self.reports, self.s.origin_ns)

    def test_sleep(self):
        true, report = self.match("sleep")
        self.assertEqual(report.pid, self.app.pid)
        harness.assert_sleep_stall(report)

    def test_cpu(self):
        true, report = self.match("cpu")
        harness.assert_cpu_stall(true, report, self.s.origin_ns)

    def test_upstream(self):
        true, report = self.match("upstream")
        harness.assert_upstream_stall(report, self.up_port)

    def test_fast_requests_are_not_stalls(self):
        window = harness.without_starved(
            [b for b in self.reports.loop_blocks()
             if b.overlap_ns(self.fast_start, self.fast_end) > 0], self.s.origin_ns)
        self.assertEqual(window, [], "reports during the /fast requests:\n%s" %
                         harness.describe_reports(window, self.s.origin_ns))

    def test_no_unexplained_reports(self):
        harness.assert_no_unexplained(self.reports, self.trues, self.s.origin_ns)

    def test_one_report_per_stall(self):
        for true in self.trues:
            found = harness.candidates(true, self.reports.finals())
            self.assertEqual(len(found), 1, "%s has %d final reports:\n%s" % (
                true.describe(self.s.origin_ns), len(found),
                harness.describe_reports(found, self.s.origin_ns)))

    def test_agent_stats_at_exit(self):
        stats = self.reports.agent_stats()
        self.assertIsNotNone(stats, "no agentStats line at exit")
        self.assertEqual(int(stats.get("stallsReported", 0)), len(self.reports.finals()),
                         "agentStats.stallsReported vs final loopBlock lines: %s" % stats)


if __name__ == "__main__":
    harness.main()
