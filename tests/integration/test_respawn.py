"""Respawned workers: agent attached to a gunicorn -k gevent master with 2 workers; one worker is
killed with SIGKILL and gunicorn forks a replacement. The agent reports a FORKED processEvent for
it and tracks it: a stall on the new worker's loop is reported with the new worker's pid."""

import os
import signal
import unittest

import harness


class RespawnedWorker(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        harness.require_bpf()
        cls.s = s = harness.Session("respawn")
        cls.addClassCleanup(s.close)
        s.start_upstream()
        cls.master, port = s.start_gunicorn("gevent_app", worker_class="gevent", workers=2)
        cls.old_workers = s.ready_workers(cls.master)
        agent = s.start_agent([cls.master.pid])

        cls.victim = cls.old_workers[0]
        os.kill(cls.victim, signal.SIGKILL)
        cls.new_worker = harness.wait_until(
            lambda: [p for p in s.ready_workers(cls.master) if p not in cls.old_workers], 30)
        if not cls.new_worker:
            raise AssertionError("gunicorn did not respawn a worker after SIGKILL of %d\n%s" %
                                 (cls.victim, cls.master.output_tail()))
        cls.new_worker = cls.new_worker[0]

        def forked(reports):
            return [e for e in reports.process_events("FORKED")
                    if int(e.get("pid", 0)) == cls.new_worker]

        cls.forked_events, _ = agent.wait_for(forked, timeout=10)

        # Both workers accept on the same socket; stop the surviving old worker for a moment so
        # the warm-up connection and the stall certainly land on the new one.
        survivors = [p for p in cls.old_workers if p != cls.victim]
        for pid in survivors:
            os.kill(pid, signal.SIGSTOP)
        try:
            cls.warm_body = s.warm_up(port)
            s.stall(port, "sleep", 300)
        finally:
            for pid in survivors:
                os.kill(pid, signal.SIGCONT)
        cls.reports = agent.stop()

    def test_forked_event_for_new_worker(self):
        events = [e for e in self.reports.process_events("FORKED")
                  if int(e.get("pid", 0)) == self.new_worker]
        self.assertTrue(events, "no FORKED processEvent for respawned worker %d (master %d); "
                        "process events: %s" % (self.new_worker, self.master.pid,
                                                self.reports.process_events()))
        self.assertEqual(int(events[0].get("parentPid", 0)), self.master.pid, events[0])

    def test_forked_event_written_while_running(self):
        self.assertTrue(self.forked_events, "the FORKED event for %d did not appear in the output"
                        " within 10 s of the respawn" % self.new_worker)

    def test_stall_on_new_worker(self):
        self.assertIn("pid=%d " % self.new_worker, self.warm_body)
        true = harness.the_stall(self.s, "sleep")
        self.assertEqual(true.pid, self.new_worker)
        report = harness.match_stall(true, self.reports, self.s.origin_ns)
        self.assertEqual(report.pid, self.new_worker, report.describe())

    def test_no_unexplained_reports(self):
        # The survivor was frozen with SIGSTOP on purpose: whatever the agent makes of that
        # is not judged here.
        extra = harness.unexplained(self.reports, self.s.true_stalls(), self.s.origin_ns)
        extra = [b for b in extra if b.pid in (self.new_worker, self.master.pid)]
        self.assertEqual(extra, [], "final reports matching no true stall:\n%s" %
                         harness.describe_reports(extra, self.s.origin_ns))


if __name__ == "__main__":
    harness.main()
