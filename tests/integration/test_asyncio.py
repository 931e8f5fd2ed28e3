"""Plain asyncio (start_server + a hand-written HTTP/1.1 parser): a sleep, a CPU burn, and a
"nested" upstream call made with a socket timeout -- CPython then waits in poll() on the socket
inside the stall. That inner poll() is not the loop's own wait: the stall must be ONE report of
the whole duration, naming poll on the upstream connection."""

import unittest

import harness


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

    def test_no_unexplained_reports(self):
        harness.assert_no_unexplained(self.reports, self.trues, self.s.origin_ns)


if __name__ == "__main__":
    harness.main()
