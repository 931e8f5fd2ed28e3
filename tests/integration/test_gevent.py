"""gunicorn -k gevent -w 1, agent attached to the gunicorn master: stalls of the worker's gevent
hub (the original, unpatched time.sleep; a CPU burn; an unpatched blocking socket) are reported
on the worker's pid and main thread, found through the master's descendants."""

import unittest

import harness


class GeventStalls(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        harness.require_bpf()
        cls.s = s = harness.Session("gevent")
        cls.addClassCleanup(s.close)
        cls.up_port = s.start_upstream()
        cls.master, port = s.start_gunicorn("gevent_app", worker_class="gevent", workers=1)
        cls.workers = s.ready_workers(cls.master)
        agent = s.start_agent([cls.master.pid])
        s.stall(port, "sleep", 300)
        s.stall(port, "cpu", 250)
        s.stall(port, "upstream", 400)
        cls.reports = agent.stop()
        cls.trues = s.true_stalls()

    def match(self, kind):
        true = harness.the_stall(self.s, kind)
        self.assertEqual([true.pid], self.workers, "the stall ran in the gevent worker")
        self.assertEqual(true.tid, true.pid, "gevent's hub runs on the worker's main thread")
        report = harness.match_stall(true, self.reports, self.s.origin_ns)
        self.assertEqual(report.pid, true.pid,
                         "reported on the worker (master is %d): %s" %
                         (self.master.pid, report.describe()))
        return true, report

    def test_original_sleep(self):
        true, report = self.match("sleep")
        harness.assert_sleep_stall(report)

    def test_cpu(self):
        true, report = self.match("cpu")
        harness.assert_cpu_stall(true, report, self.s.origin_ns)

    def test_original_socket_upstream(self):
        true, report = self.match("upstream")
        harness.assert_upstream_stall(report, self.up_port)

    def test_no_unexplained_reports(self):
        harness.assert_no_unexplained(self.reports, self.trues, self.s.origin_ns)


if __name__ == "__main__":
    harness.main()
