"""Twisted (twisted.web on the default epoll reactor): a sleep, a slow upstream call and a CPU
burn run on the reactor thread are each reported once, with the culprit frame right (issue 15):
the blocking call's Python caller in stallkit, and nothing reported that the app did not log."""

import unittest

import harness


class TwistedStalls(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        harness.require_bpf()
        cls.s = s = harness.Session("twisted")
        cls.addClassCleanup(s.close)
        cls.up_port = s.start_upstream()
        cls.app, port = s.start_app("twisted_app.py")
        s.warm_up(port)
        agent = s.start_agent([cls.app.pid])
        s.warm_up(port)
        s.stall_log.write_text("")
        s.stall(port, "sleep", 300)
        s.stall(port, "upstream", 400)
        s.stall(port, "cpu", 300)
        s.stall(port, "sleep", 130)
        cls.reports = agent.stop()
        cls.trues = s.true_stalls()

    def matches(self, kind):
        trues = [t for t in self.trues if t.kind == kind]
        self.assertTrue(trues, "the app logged no %s stall" % kind)
        for true in trues:
            self.assertEqual(true.tid, self.app.pid, "Twisted stalls on its reactor thread")
            yield true, harness.match_stall(true, self.reports, self.s.origin_ns)

    def test_sleep(self):
        for _, report in self.matches("sleep"):
            harness.assert_sleep_stall(report)

    def test_upstream(self):
        for _, report in self.matches("upstream"):
            harness.assert_upstream_stall(report, self.up_port)

    def test_cpu(self):
        for true, report in self.matches("cpu"):
            harness.assert_cpu_stall(true, report, self.s.origin_ns)

    def test_nothing_unexplained(self):
        harness.assert_no_unexplained(self.reports, self.trues, self.s.origin_ns)


if __name__ == "__main__":
    harness.main()
