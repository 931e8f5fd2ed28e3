"""How the agent sees the waits that bound busy periods (--syscall-hooks):
- by default (auto) on this kernel, `sched`: no syscall hook at all, waits seen where they
  sleep, uprobes armed only for loops busy without a wait seen;
- `tracepoints`: their own syscalls:* tracepoints, mounting tracefs when it is not mounted
  (checked in a private mount namespace where tracefs is unmounted, so the host's mount is
  untouched);
- `raw` (raw_syscalls, for hosts without tracefs).
Each reports the same stalls, with the same causes."""

import re
import unittest

import harness


def hooks_of(agent):
    """The mode the startup line names, as --syscall-hooks spells it."""
    for line in agent.proc.stderr().splitlines():
        if line.startswith("stallscope: attached"):
            found = re.search(r"waits seen by [^;]*?\(--syscall-hooks (\w+)", line)
            if found:
                return found.group(1)
            raise AssertionError("no mode in the attached line: %s" % line)
    raise AssertionError("no attached line:\n%s" % agent.proc.output_tail())


class HookModes(unittest.TestCase):
    def setUp(self):
        harness.require_bpf()

    def run_mode(self, name, extra=(), wrap=None):
        s = harness.Session("hooks-" + name)
        self.addCleanup(s.close)
        up_port = s.start_upstream()
        app, port = s.start_app("tornado_app.py")
        agent = harness.Agent(s, [app.pid], extra=list(extra), name="agent-" + name,
                              wrap=wrap)
        agent.wait_attached()
        s.stall(port, "sleep", 250)
        s.stall(port, "upstream", 300)
        reports = agent.stop()
        for kind in ("sleep", "upstream"):
            true = harness.the_stall(s, kind)
            report = harness.match_stall(true, reports, s.origin_ns)
            if kind == "sleep":
                harness.assert_sleep_stall(report)
            else:
                harness.assert_upstream_stall(report, up_port)
        harness.assert_no_unexplained(reports, s.true_stalls(), s.origin_ns)
        return agent

    def test_default_sees_waits_from_the_scheduler(self):
        agent = self.run_mode("default")
        self.assertEqual(hooks_of(agent), "sched")

    def test_syscall_tracepoints_report_the_same_stalls(self):
        agent = self.run_mode("tracepoints", extra=["--syscall-hooks", "tracepoints"])
        self.assertEqual(hooks_of(agent), "tracepoints")

    def test_raw_syscalls_report_the_same_stalls(self):
        agent = self.run_mode("raw", extra=["--syscall-hooks", "raw"])
        self.assertEqual(hooks_of(agent), "raw")

    def test_tracefs_mounted_when_missing(self):
        # A private mount namespace without tracefs: the agent must mount it there itself.
        script = ("umount /sys/kernel/tracing 2>/dev/null; umount /sys/kernel/debug/tracing "
                  "2>/dev/null; ! mountpoint -q /sys/kernel/tracing || exit 97; exec \"$@\"")
        agent = self.run_mode("unmounted", extra=["--syscall-hooks", "tracepoints"],
                              wrap=["unshare", "--mount", "--propagation", "private",
                                    "sh", "-c", script, "sh"])
        self.assertEqual(hooks_of(agent), "tracepoints")
        self.assertNotIn("note:", agent.proc.stderr())


if __name__ == "__main__":
    harness.main()
