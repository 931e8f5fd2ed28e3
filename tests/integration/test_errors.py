"""Command-line errors and exits: a PID that does not exist (exit 3, one line on stderr), bad
flags and values (exit 2), no privileges (exit 4), an unwritable --output (exit 6), --duration
and SIGTERM ending the run (exit 0, everything flushed), and a target that exits while the agent
runs (exit 0 by the duration at the latest, never hanging)."""

import os
import shutil
import signal
import time
import unittest

import harness

USAGE_TIMEOUT_S = 15


class UsageErrors(unittest.TestCase):
    """These need no BPF: the agent must reject them before loading anything."""

    def setUp(self):
        harness.require_agent_binary()
        self.s = harness.Session("errors")
        self.addCleanup(self.s.close)

    def run_agent(self, args, name):
        proc = self.s.spawn(name, [harness.STALLSCOPE_BIN] + args)
        rc = proc.wait(USAGE_TIMEOUT_S)
        if rc is None:
            proc.kill()
            self.fail("`stallscope %s` still running after %d s\n%s" %
                      (" ".join(args), USAGE_TIMEOUT_S, proc.output_tail()))
        if rc in (harness.EXIT_PRIVILEGES, harness.EXIT_KERNEL):
            raise harness.EnvironmentSkip(harness.ENV_SKIP + "agent exited %d: %s" %
                                          (rc, proc.stderr().strip()))
        return rc, proc

    def assert_usage_error(self, args, name):
        rc, proc = self.run_agent(args, name)
        self.assertEqual(rc, harness.EXIT_USAGE, "`stallscope %s` should exit 2 (usage)\n%s" %
                         (" ".join(args), proc.output_tail()))
        self.assertTrue(proc.stderr().strip(), "usage error without a message on stderr")

    def test_nonexistent_pid(self):
        pid = harness.nonexistent_pid()
        rc, proc = self.run_agent(["attach", "--pid", str(pid), "--duration", "5"], "nopid")
        self.assertEqual(rc, harness.EXIT_NO_PID, "--pid %d (no such process) should exit 3\n%s"
                         % (pid, proc.output_tail()))
        lines = proc.stderr().strip().splitlines()
        self.assertEqual(len(lines), 1, "expected a one-line error, got:\n%s" % proc.stderr())

    def test_bad_flag(self):
        self.assert_usage_error(["attach", "--pid", str(os.getpid()), "--no-such-flag"], "badflag")

    def test_attach_without_pid(self):
        self.assert_usage_error(["attach"], "nopidflag")

    def test_threshold_not_a_number(self):
        self.assert_usage_error(["attach", "--pid", str(os.getpid()), "--block-threshold-ms",
                                 "abc"], "badthreshold")

    def test_bad_format(self):
        self.assert_usage_error(["attach", "--pid", str(os.getpid()), "--format", "xml"],
                                "badformat")

    def test_no_subcommand(self):
        self.assert_usage_error([], "noargs")

    def test_unwritable_output(self):
        rc, proc = self.run_agent(["attach", "--pid", str(os.getpid()), "--output",
                                   "/nonexistent-dir/reports.json"], "badoutput")
        self.assertEqual(rc, harness.EXIT_OUTPUT, "unwritable --output should exit 6\n%s" %
                         proc.output_tail())
        self.assertEqual(len(proc.stderr().strip().splitlines()), 1, proc.stderr())

    def test_unprivileged_user(self):
        if os.geteuid() != 0 or not shutil.which("setpriv"):
            self.skipTest("needs root and setpriv to drop to an unprivileged user")
        # An unprivileged user with no capabilities: a clear one-line error and exit 4, not a
        # libbpf crash or a hang.
        args = ["setpriv", "--reuid=65534", "--regid=65534", "--clear-groups",
                "--inh-caps=-all", "--bounding-set=-all", harness.STALLSCOPE_BIN, "attach",
                "--pid", str(os.getpid()), "--duration", "2"]
        proc = self.s.spawn("unprivileged", args)
        rc = proc.wait(USAGE_TIMEOUT_S)
        if rc is None:
            proc.kill()
            self.fail("unprivileged agent still running after %d s" % USAGE_TIMEOUT_S)
        self.assertEqual(rc, harness.EXIT_PRIVILEGES, proc.output_tail())
        lines = proc.stderr().strip().splitlines()
        self.assertEqual(len(lines), 1, proc.stderr())
        self.assertIn("root", lines[0])


class RunEnds(unittest.TestCase):
    def setUp(self):
        harness.require_bpf()
        self.s = harness.Session("runends")
        self.addCleanup(self.s.close)

    def test_duration_ends_run(self):
        app, port = self.s.start_app("asyncio_app.py")
        duration = 3
        agent = harness.Agent(self.s, [app.pid], duration=duration)
        agent.wait_attached()
        rc = agent.proc.wait(timeout=duration + 5 - (time.monotonic() - agent.started))
        if rc is None:
            self.fail("agent with --duration %d still running %d s later\n%s" %
                      (duration, duration + 5, agent.proc.output_tail()))
        self.assertEqual(rc, 0, agent.proc.output_tail())
        self.assertIsNotNone(agent.final_reports().agent_stats(), "no agentStats line at exit")
        self.assertTrue(app.alive(), "the target must survive the agent")
        harness.http_get_ok(port, "/fast")

    def test_sigterm_flushes_and_exits_zero(self):
        app, port = self.s.start_app("asyncio_app.py")
        agent = harness.Agent(self.s, [app.pid])  # no --duration: runs until a signal
        agent.wait_attached()
        harness.http_get_ok(port, "/sleep?ms=300")
        time.sleep(0.3)
        agent.proc.signal(signal.SIGTERM)
        rc = agent.proc.wait(10)
        if rc is None:
            self.fail("agent still running 10 s after SIGTERM\n%s" % agent.proc.output_tail())
        self.assertEqual(rc, 0, agent.proc.output_tail())
        reports = agent.final_reports()
        self.assertIsNotNone(reports.agent_stats(), "no agentStats line after SIGTERM")
        self.assertEqual(len(reports.finals()), 1,
                         "the stall before SIGTERM must be flushed")

    def test_target_exits_mid_run(self):
        target = self.s.spawn("target", [harness.PYTHON, "-c", "import time; time.sleep(60)"])
        duration = 8
        agent = harness.Agent(self.s, [target.pid], duration=duration)
        agent.wait_attached()
        time.sleep(1)
        target.signal(signal.SIGKILL)
        target.wait(5)
        killed_at = time.monotonic()
        rc = agent.proc.wait(timeout=max(1, duration + 5 - (time.monotonic() - agent.started)))
        if rc is None:
            self.fail("agent still running %d s after start (--duration %d) although its only "
                      "target exited\n%s" % (duration + 5, duration, agent.proc.output_tail()))
        self.assertEqual(rc, 0, agent.proc.output_tail())
        ran_s = time.monotonic() - agent.started
        if ran_s < duration - 1:
            self.assertIn("all tracked processes exited", agent.proc.stderr(),
                          "agent exited %.1f s after the target, before --duration: it should "
                          "say why" % (time.monotonic() - killed_at))
        reports = agent.final_reports()
        self.assertIsNotNone(reports.agent_stats(), "no agentStats line at exit")


if __name__ == "__main__":
    harness.main()
