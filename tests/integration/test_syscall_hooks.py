"""How the agent sees the waits that bound busy periods (--syscall-hooks):
- by default (auto) on this kernel, `sched`: no syscall hook at all, waits seen where they
  sleep, uprobes armed only for loops busy without a wait seen;
- `tracepoints`: their own syscalls:* tracepoints, mounting tracefs when it is not mounted
  (checked in a private mount namespace where tracefs is unmounted, so the host's mount is
  untouched);
- `raw` (raw_syscalls, for hosts without tracefs).
Each reports the same stalls, with the same causes."""

import re
import subprocess
import sys
import time
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


# A bystander: an event loop stallscope does not track, polling an empty epoll set through
# libc (the function the armed uprobes sit on) as fast as it can. Prints how many polls it made.
BYSTANDER = """
import select, sys, time
ep = select.epoll()
n = 0
end = time.monotonic() + float(sys.argv[1])
while time.monotonic() < end:
    for _ in range(1000):
        ep.poll(0)
    n += 1000
print(n, flush=True)
"""


class SchedModeUnderLoad(unittest.TestCase):
    """sched mode's hard case: a loop so busy that its epoll_wait never sleeps is seen only
    through uprobes armed for it. Under wrk, Tornado must report no stall (each arm ends at the
    loop's next wait), the uprobes must be armed, and a bystander event loop polling the same
    libc function the whole time must never hit them."""

    def test_busy_loop_is_armed_and_bystanders_never_hit(self):
        harness.require_bpf()
        s = harness.Session("hooks-sched-load")
        self.addCleanup(s.close)
        s.start_upstream()
        app, port = s.start_app("tornado_app.py")
        agent = harness.Agent(s, [app.pid], extra=["--syscall-hooks", "sched"],
                              name="agent-sched-load")
        agent.wait_attached()
        self.assertEqual(hooks_of(agent), "sched")
        s.warm_up(port)
        bystander = subprocess.Popen([sys.executable, "-c", BYSTANDER, "5"],
                                     stdout=subprocess.PIPE, text=True)
        self.addCleanup(bystander.kill)
        wrk_start = time.time_ns()
        wrk = subprocess.run([harness.WRK, "-t2", "-c20", "-d4s",
                              "http://127.0.0.1:%d/fast" % port],
                             capture_output=True, text=True, timeout=60)
        wrk_end = time.time_ns()
        polls = int(bystander.communicate(timeout=30)[0].split()[0])
        reports = agent.stop()
        self.assertEqual(wrk.returncode, 0, wrk.stdout + wrk.stderr)
        self.assertGreater(polls, 10000, "the bystander hardly ran")

        stats = reports.agent_stats()
        self.assertIsNotNone(stats, "no agentStats at exit")
        self.assertEqual(stats.get("waitHooks"), "sched")
        arms = int(stats.get("waitUprobeArms", 0))
        hits = int(stats.get("waitUprobeHits", 0))
        self.assertGreater(arms, 0, "a loop busy under wrk was never armed: %s" % stats)
        self.assertGreater(hits, 0, stats)
        self.assertEqual(int(stats.get("waitUprobeHitsUntracked", 0)), 0,
                         "a process stallscope does not track hit its uprobes: %s" % stats)
        # Armed until the first hit: a few hits per arm, not one per loop iteration.
        self.assertLess(hits, 20 * arms, stats)

        # No stall under load (a report that is mostly run-queue time is the loop waiting for
        # one of the 2 cores that wrk, the bystander and Tornado share: real, not false).
        during = harness.without_starved(
            [b for b in reports.loop_blocks() if b.overlap_ns(wrk_start, wrk_end) > 0],
            s.origin_ns)
        self.assertEqual(during, [], "a busy-looping Tornado was reported as stalled:\n%s" %
                         harness.describe_reports(during, s.origin_ns))

if __name__ == "__main__":
    harness.main()
