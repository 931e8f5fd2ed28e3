"""Python stacks beyond one loop: two loops of one process stalled at the same time each get
their own thread's frames; a non-Python loop (Node) gets native frames only, says it is not
Python, and its JIT frames are named from /tmp/perf-PID.map; a target killed in the middle of a
stall does not hurt the agent."""

import os
import shutil
import signal
import threading
import time
import unittest

import harness


class TwoLoopsStalledAtOnce(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        harness.require_bpf()
        cls.s = s = harness.Session("twoloops")
        cls.addClassCleanup(s.close)
        s.start_upstream()
        port_a, port_b = harness.free_port(), harness.free_port()
        cls.app = s.spawn("two_loops", [harness.PYTHON, harness.APPS / "two_loops_app.py",
                                        port_a, port_b], env=s.app_env(), cwd=harness.APPS)
        s.wait_port(port_a, cls.app, "loop a")
        s.wait_port(port_b, cls.app, "loop b")
        agent = s.start_agent([cls.app.pid])
        # Both loops stall at once: one sleeping, one waiting on the slow upstream.
        t = threading.Thread(target=harness.http_get_ok, args=(port_b, "/upstream?ms=600"))
        t.start()
        harness.http_get_ok(port_a, "/sleep?ms=500")
        t.join()
        time.sleep(0.3)
        cls.reports = agent.stop()

    def test_each_thread_has_its_own_frames(self):
        sleep = harness.match_stall(harness.the_stall(self.s, "sleep"), self.reports,
                                    self.s.origin_ns)
        upstream = harness.match_stall(harness.the_stall(self.s, "upstream"), self.reports,
                                       self.s.origin_ns)
        self.assertNotEqual(sleep.tid, upstream.tid, "two loops, two threads")
        harness.assert_python_frame(sleep, "run_stall", ["sleep(ms / 1000.0)"])
        harness.assert_python_frame(upstream, "call_upstream", ["chunk = s.recv(256)"],
                                    caller="run_stall")
        outer_sleep = [f["function"] for f in sleep.python_frames()]
        outer_up = [f["function"] for f in upstream.python_frames()]
        self.assertIn("loop_thread_a", outer_sleep, "the sleeping loop is thread a: %s" % outer_sleep)
        self.assertNotIn("loop_thread_b", outer_sleep, outer_sleep)
        self.assertIn("loop_thread_b", outer_up, "the upstream loop is thread b: %s" % outer_up)
        self.assertNotIn("loop_thread_a", outer_up, outer_up)


class NonPythonLoop(unittest.TestCase):
    def test_node_loop_gets_native_frames_only(self):
        harness.require_bpf()
        node = shutil.which("node") or shutil.which("nodejs")
        if not node:
            self.skipTest("node is not installed")
        s = harness.Session("node")
        self.addCleanup(s.close)
        port = harness.free_port()
        # cwd: V8 writes its log files into the working directory.
        # --interpreted-frames-native-stack: burnCpu is named in the perf map (JS:~burnCpu) even
        # if V8 has not compiled it yet; without it an interpreted frame is only the shared
        # InterpreterEntryTrampoline, and whether burnCpu was compiled in time varied.
        app = s.spawn("node", [node, "--perf-basic-prof", "--interpreted-frames-native-stack",
                               harness.APPS / "node_app.js", port],
                      env=s.app_env(), cwd=s.dir)
        s.wait_port(port, app, "node")
        for _ in range(3):
            harness.http_get_ok(port, "/cpu?ms=30")  # let V8 compile burnCpu
        agent = s.start_agent([app.pid])
        harness.http_get_ok(port, "/sleep?ms=400")
        time.sleep(0.3)
        harness.http_get_ok(port, "/cpu?ms=400")
        time.sleep(0.3)
        reports = agent.stop()
        true_cpu = [t for t in s.true_stalls("cpu") if t.ms == 400]  # not the warm-up ones
        self.assertEqual(len(true_cpu), 1, true_cpu)
        cpu = harness.match_stall(true_cpu[0], reports, s.origin_ns)
        jit = [f for f in cpu.stack if f.get("module") == "[jit]"]
        self.assertTrue(any("burnCpu" in f.get("function", "") for f in jit),
                        "the JIT frame is named from /tmp/perf-PID.map: %s" % cpu.stack)
        report = harness.match_stall(harness.the_stall(s, "sleep"), reports, s.origin_ns)
        self.assertEqual(report.python_stack_status, "PYTHON_STACK_NOT_PYTHON", report.describe())
        self.assertEqual(report.python_stack_reason, "_PyRuntime symbol not found")
        self.assertFalse(report.python_frames(), report.stack)
        self.assertTrue(report.stack and report.stack[0].get("module"),
                        "a native frame with its module: %s" % report.stack)
        self.assertIn("futex", [c.name for c in report.syscalls], report.describe())


class UnknownVersionSaysWhy(unittest.TestCase):
    def test_cpython_37_stalls_say_its_layout_is_unknown(self):
        """A CPython without a layout (3.7: no table, no debug offsets): stalls are still
        reported, and each says in words why it has no Python frames."""
        harness.require_bpf()
        python = "/root/.pyenv/versions/3.7.16/bin/python3.7"
        if not os.path.exists(python):
            self.skipTest("%s is not installed" % python)
        s = harness.Session("py37")
        self.addCleanup(s.close)
        port = harness.free_port()
        app = s.spawn("asyncio37", [python, harness.APPS / "asyncio_app.py", port],
                      env=s.app_env(), cwd=harness.APPS)
        s.wait_port(port, app, "asyncio app on 3.7")
        agent = s.start_agent([app.pid])
        s.stall(port, "sleep", 300)
        reports = agent.stop()
        report = harness.match_stall(harness.the_stall(s, "sleep"), reports, s.origin_ns)
        self.assertEqual(report.python_stack_status, "PYTHON_STACK_UNSUPPORTED", report.describe())
        self.assertEqual(report.python_stack_reason, "CPython 3.7 layout unknown")
        self.assertFalse(report.python_frames())


class TargetExitsMidStall(unittest.TestCase):
    def test_kill_during_a_stall(self):
        harness.require_bpf()
        s = harness.Session("killmid")
        self.addCleanup(s.close)
        s.start_upstream()
        app, port = s.start_app("asyncio_app.py")
        agent = s.start_agent([app.pid])
        def hang():
            try:
                harness.http_get(port, "/hang?ms=5000", timeout=10)
            except OSError:
                pass  # the server is killed mid-request
        t = threading.Thread(target=hang)
        t.start()
        deadline = time.monotonic() + 5
        while time.monotonic() < deadline and not agent.reports_so_far().in_progress():
            time.sleep(0.05)
        self.assertTrue(agent.reports_so_far().in_progress(), "no in-progress report for the hang")
        app.signal(signal.SIGKILL)
        t.join()
        # Its only target gone, the agent flushes and exits 0 by itself.
        rc = agent.proc.wait(10)
        self.assertEqual(rc, 0, "agent exit after its target died: %s\n%s" %
                         (rc, agent.proc.output_tail()))
        self.assertIn("all tracked processes exited", agent.proc.stderr())
        reports = agent.final_reports()
        live = reports.in_progress()[0]
        self.assertEqual(live.python_stack_status, "PYTHON_STACK_CAPTURED", live.describe())
        finals = reports.finals()
        self.assertEqual(len(finals), 1, [b.describe() for b in finals])
        self.assertTrue(finals[0].thread_exited, "the stall ended with its thread: %s" %
                        finals[0].describe())
        self.assertEqual(finals[0].seq, live.seq)
        self.assertEqual(finals[0].python_stack_status, "PYTHON_STACK_CAPTURED")
        self.assertIsNotNone(reports.agent_stats())


if __name__ == "__main__":
    harness.main()
