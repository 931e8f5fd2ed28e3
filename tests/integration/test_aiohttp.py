"""aiohttp.web: a sleep and a slow upstream call are reported; a 3 s hang is reported while it
lasts (an in-progress report, written and flushed within threshold + 1 s of the hang's start)
and once more with its full duration when it ends."""

import threading
import time
import unittest

import harness
from harness import MS, THRESHOLD_MS

HANG_MS = 3000


class AiohttpStalls(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        harness.require_bpf()
        cls.s = s = harness.Session("aiohttp")
        cls.addClassCleanup(s.close)
        cls.up_port = s.start_upstream()
        cls.app, port = s.start_app("aiohttp_app.py")
        agent = s.start_agent([cls.app.pid])
        s.stall(port, "sleep", 300)
        s.stall(port, "upstream", 400)

        # The hang: request it from a thread and watch the output file while it lasts.
        hang_result = []
        hang = threading.Thread(target=lambda: hang_result.append(
            harness.http_get(port, "/hang?ms=%d" % HANG_MS, timeout=60)), daemon=True)
        cls.hang_requested_ns = time.time_ns()
        hang.start()
        tid = cls.app.pid

        def in_progress_report(reports):
            for b in reports.in_progress():
                if b.tid == tid and b.start_ns >= cls.hang_requested_ns - 200 * MS:
                    return b
            return None

        cls.first_in_progress, cls.seen_ns = agent.wait_for(in_progress_report,
                                                            timeout=HANG_MS / 1000 + 2)
        hang.join(HANG_MS / 1000 + 30)
        cls.hang_response = hang_result[0] if hang_result else None
        time.sleep(harness.STALL_GAP_S)
        cls.reports = agent.stop()
        cls.trues = s.true_stalls()

    def match(self, kind):
        true = harness.the_stall(self.s, kind)
        self.assertEqual(true.tid, self.app.pid, "aiohttp stalls on its main thread")
        return true, harness.match_stall(true, self.reports, self.s.origin_ns)

    def test_sleep(self):
        true, report = self.match("sleep")
        harness.assert_sleep_stall(report)

    def test_upstream(self):
        true, report = self.match("upstream")
        harness.assert_upstream_stall(report, self.up_port)

    def test_hang_in_progress_report_arrives_while_hanging(self):
        self.assertEqual(self.hang_response and self.hang_response[0], 200,
                         "GET /hang: %r" % (self.hang_response,))
        true = harness.the_stall(self.s, "hang")
        self.assertIsNotNone(
            self.first_in_progress,
            "no in-progress loopBlock on tid %d appeared in the output file while the %s lasted;"
            " in-progress reports at the end:\n%s" % (
                true.tid, true.describe(self.s.origin_ns),
                harness.describe_reports(self.reports.in_progress(), self.s.origin_ns)))
        delay_ms = (self.seen_ns - true.start_ns) / MS
        self.assertLessEqual(delay_ms, THRESHOLD_MS + 1000,
                             "first in-progress report seen %.0f ms after the hang started "
                             "(allowed: threshold + 1 s): %s" %
                             (delay_ms, self.first_in_progress.describe(self.s.origin_ns)))
        self.assertLess(self.seen_ns, true.end_ns, "the in-progress report came after the hang")

    def test_hang_final_report_has_full_duration(self):
        true = harness.the_stall(self.s, "hang")
        final = harness.match_stall(true, self.reports, self.s.origin_ns)
        self.assertFalse(final.in_progress)
        progress = [b for b in self.reports.in_progress() if b.tid == true.tid and
                    b.overlap_ns(true.start_ns, true.end_ns) > 0]
        self.assertTrue(progress, "no in-progress reports for the %s" % true.describe())
        for b in progress:
            self.assertEqual(b.seq, final.seq, "in-progress and final reports of one stall share"
                             " seq:\n %s\n %s" % (b.describe(self.s.origin_ns),
                                                 final.describe(self.s.origin_ns)))
            self.assertLessEqual(b.duration_ns, final.duration_ns)
            self.assertGreaterEqual(b.duration_ns, THRESHOLD_MS * MS, b.describe())
            self.assertLess(b.line_no, final.line_no, "in-progress report after the final one")

    def test_hang_in_progress_names_the_current_syscall(self):
        if self.first_in_progress is None:
            self.fail("no in-progress report (see test_hang_in_progress_report_arrives...)")
        current = [c for c in self.first_in_progress.syscalls if c.in_progress]
        self.assertTrue(any(c.name == "clock_nanosleep" for c in current),
                        "in-progress report should show clock_nanosleep in progress: %s" %
                        self.first_in_progress.describe(self.s.origin_ns))

    def test_no_unexplained_reports(self):
        harness.assert_no_unexplained(self.reports, self.trues, self.s.origin_ns)


if __name__ == "__main__":
    harness.main()
