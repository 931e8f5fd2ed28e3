"""Plain asyncio (start_server + a hand-written HTTP/1.1 parser): a sleep, a CPU burn, and a
"nested" upstream call made with a socket timeout -- CPython then waits in poll() on the socket
inside the stall. That inner poll() is not the loop's own wait: the stall must be ONE report of
the whole duration, naming poll on the upstream connection.

And a CPU burn the loop runs from its next iteration, after answering ("deferred"): the wait
before it returns without sleeping, and no program runs at wait exits, so the kernel learns the
busy period began only when it next sees the thread (a CPU sample, or a preemption). It must
still be reported while it lasts, and whole."""

import time
import unittest

import harness

MS = harness.MS
THRESHOLD_MS = harness.THRESHOLD_MS
DEFERRED_MS = 800


class AsyncioStalls(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        harness.require_bpf()
        cls.s = s = harness.Session("asyncio")
        cls.addClassCleanup(s.close)
        cls.up_port = s.start_upstream()
        cls.app, port = s.start_app("asyncio_app.py")
        agent = s.start_agent([cls.app.pid])
        s.stall(port, "sleep", 300)
        s.stall(port, "nested", 400)
        s.stall(port, "cpu", 250)

        tid = cls.app.pid
        cls.deferred_requested_ns = time.time_ns()
        s.stall(port, "deferred", DEFERRED_MS, gap=0)  # answered before the burn starts

        def in_progress_report(reports):
            for b in reports.in_progress():
                if b.tid == tid and b.start_ns >= cls.deferred_requested_ns - 200 * MS:
                    return b
            return None

        cls.deferred_in_progress, cls.deferred_seen_ns = agent.wait_for(
            in_progress_report, timeout=DEFERRED_MS / 1000 + 2)
        time.sleep(DEFERRED_MS / 1000 + harness.STALL_GAP_S)
        cls.reports = agent.stop()
        cls.trues = s.true_stalls()

    def match(self, kind):
        true = harness.the_stall(self.s, kind)
        self.assertEqual(true.tid, self.app.pid, "asyncio stalls on its main thread")
        return true, harness.match_stall(true, self.reports, self.s.origin_ns)

    def test_sleep(self):
        true, report = self.match("sleep")
        harness.assert_sleep_stall(report)

    def test_nested_poll_is_one_stall(self):
        true = harness.the_stall(self.s, "nested")
        found = harness.candidates(true, self.reports.finals())
        self.assertEqual(len(found), 1,
                         "the poll() inside the stall must not split it: %s has %d final "
                         "reports:\n%s" % (true.describe(self.s.origin_ns), len(found),
                                           harness.describe_reports(found, self.s.origin_ns)))
        report = harness.match_stall(true, self.reports, self.s.origin_ns)
        target = "127.0.0.1:%d" % self.up_port
        polls = [c for c in report.syscalls if c.name == "poll" and target in c.target]
        self.assertTrue(polls, "nested stall should show poll on %s: %s" %
                        (target, report.describe()))
        harness.assert_python_frame(report, "call_upstream", ["chunk = s.recv(256)"],
                                    caller="run_stall")

    def test_cpu(self):
        true, report = self.match("cpu")
        harness.assert_cpu_stall(true, report, self.s.origin_ns)

    def test_stall_after_a_wait_that_never_slept(self):
        true, report = self.match("deferred")
        harness.assert_cpu_stall(true, report, self.s.origin_ns)
        self.assertIsNotNone(
            self.deferred_in_progress,
            "no in-progress loopBlock on tid %d while the %s lasted; in-progress reports:\n%s" % (
                true.tid, true.describe(self.s.origin_ns),
                harness.describe_reports(self.reports.in_progress(), self.s.origin_ns)))
        self.assertLess(self.deferred_seen_ns, true.end_ns,
                        "the in-progress report came after the burn: %s" %
                        self.deferred_in_progress.describe(self.s.origin_ns))
        self.assertLessEqual((self.deferred_seen_ns - true.start_ns) / MS, THRESHOLD_MS + 1000)
        self.assertEqual(self.deferred_in_progress.seq, report.seq,
                         "in-progress and final reports of one stall share seq")

    def test_no_unexplained_reports(self):
        harness.assert_no_unexplained(self.reports, self.trues, self.s.origin_ns)


if __name__ == "__main__":
    harness.main()
