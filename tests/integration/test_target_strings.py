"""Target strings are attacker text (docs/security.md, "Target strings"), as the red team made
them: a real Python process names itself with prctl(PR_SET_NAME) to bytes that are not UTF-8, an
OSC title sequence (ESC ] ... BEL) and a newline, and stalls in a function whose name carries an
OSC sequence, a newline and a forged LOOP BLOCKED line; a healthy Tornado app stalls next to it.

- attach: one agent tracks both and streams to a real collector: every stall of both is stored
  (before: the collector refused the batch as malformed, the agent resent it for ever, 0
  stored, and reconnected until the flood guard refused it), the hostile names sanitized; no
  stream ended or reconnected; the text output has no ESC/BEL and no forged line.
- daemon: the hostile app's service comes from its environment (bytes that are not UTF-8, a
  newline and a forged log line): the daemon's log lines have no ESC/BEL and no forged line,
  and its /metrics (a label per service) passes promtool."""

import os
import re
import shutil
import signal
import subprocess
import sys
import time
import unittest

import harness

sys.path.insert(0, str(harness.ROOT / "collector" / "tools"))
import collector_harness as ch  # noqa: E402

STALLS = 3
STALL_MS = 300
FORGED = "12:00:00.000 LOOP BLOCKED 9.99 s  pid 1 tid 1 (forged)"
# The service the hostile process's environment names (os.environ encodes "\udcff" as 0xff).
SERVICE_ENV = "\udcff\udcfeshop\x1b]0;pwned\x07\n2026-12-07T10:00:00.000Z forged pid 1 tid 1: loop blocked 9.99 s"


def raw_controls(text):
    """ESC, BEL and the other C0 controls except newline, as they would reach a terminal."""
    return sorted({"%02x" % ord(c) for c in text if (ord(c) < 0x20 and c != "\n") or ord(c) == 0x7f})


def start_hostile(s, env_extra=None):
    port = harness.free_port()
    env = s.app_env(**(env_extra or {}))
    proc = s.spawn("hostile", [harness.PYTHON, harness.APPS / "hostile_names_app.py", port], env=env,
                   cwd=harness.APPS)
    s.wait_port(port, proc, "hostile")
    harness.http_get_ok(port, "/fast")
    with open("/proc/%d/comm" % proc.pid, "rb") as f:
        comm = f.read()
    if not comm.startswith(b"\xff\xfe\x1b]0;X\x07"):
        raise AssertionError("prctl(PR_SET_NAME) did not take: %r" % comm)
    return proc, port


def promtool_check(test, text):
    promtool = shutil.which("promtool")
    if not promtool:
        test.skipTest("promtool not installed (Debian package prometheus)")
    p = subprocess.run([promtool, "check", "metrics"], input=text.encode("utf-8", "surrogateescape"),
                       capture_output=True)
    test.assertEqual(p.returncode, 0, (p.stdout + p.stderr).decode(errors="replace"))


class AttachStreamingToACollector(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        harness.require_bpf()
        harness.require_agent_binary()
        cls.s = s = harness.Session("target-strings")
        cls.addClassCleanup(s.close)
        cls.collector = c = ch.Collector(s.dir)
        cls.addClassCleanup(c.kill9)
        c.start()
        s.start_upstream()
        cls.tornado, tornado_port = s.start_app("tornado_app.py")
        cls.hostile, hostile_port = start_hostile(s)
        cls.text = s.dir / "agent.txt"
        cls.agent = s.spawn("agent", [harness.STALLSCOPE_BIN, "attach", "--pid", cls.tornado.pid,
                                      "--pid", cls.hostile.pid, "--block-threshold-ms", 100,
                                      "--format", "text", "--output", cls.text, "--collector", c.target()])
        ok = harness.wait_until(lambda: "stallscope: attached" in cls.agent.stderr() or not cls.agent.alive(),
                                harness.ATTACH_TIMEOUT_S)
        if not ok or not cls.agent.alive():
            rc = cls.agent.poll()
            if rc in (harness.EXIT_PRIVILEGES, harness.EXIT_KERNEL):
                raise harness.EnvironmentSkip(harness.ENV_SKIP + cls.agent.stderr())
            raise AssertionError("agent did not attach\n%s" % cls.agent.output_tail())
        for port in (tornado_port, hostile_port):
            s.warm_up(port)
        for _ in range(STALLS):
            s.stall(tornado_port, "sleep", STALL_MS)
            s.stall(hostile_port, "sleep", STALL_MS)

        def stored():
            got = {}
            for r in ch.get_json(c.http_port, "/api/v1/reports?kind=loop_block&final=true&limit=1000")["reports"]:
                got.setdefault(r["loopBlock"]["pid"], []).append(r["loopBlock"])
            done = all(len(got.get(p.pid, [])) >= STALLS for p in (cls.tornado, cls.hostile))
            return got if done else None
        cls.stored = harness.wait_until(stored, 30, interval=0.2) or stored() or {}
        cls.agent.signal(signal.SIGINT)
        cls.exit_code = cls.agent.wait(harness.STOP_TIMEOUT_S)
        cls.stats = harness.wait_until(
            lambda: ch.get_json(c.http_port, "/api/v1/reports?kind=agent_stats")["reports"], 10) or []

    def test_every_stall_of_both_is_stored_and_the_stream_never_broke(self):
        self.assertEqual(self.exit_code, 0, self.agent.output_tail())
        counts = {pid: len(blocks) for pid, blocks in self.stored.items()}
        self.assertGreaterEqual(counts.get(self.tornado.pid, 0), STALLS, "healthy target: %s\n%s" %
                                (counts, self.agent.output_tail()))
        self.assertGreaterEqual(counts.get(self.hostile.pid, 0), STALLS, counts)
        stderr = self.agent.stderr()
        self.assertNotIn("stream ended", stderr)
        self.assertNotIn("reconnected", stderr)
        self.assertNotIn("refused", stderr)
        self.assertEqual(self.collector.metric("stallscope_collector_batches_rejected_total"), 0)
        self.assertEqual(self.collector.metric("stallscope_collector_reports_refused_total"), 0)
        self.assertTrue(self.stats, "agentStats did not reach the collector")
        stats = self.stats[0]["agentStats"]
        self.assertEqual(int(stats.get("collectorReconnects", 0)), 0, stats)
        self.assertEqual(int(stats.get("collectorRejected", 0)), 0, stats)
        self.assertGreater(int(stats.get("shedInvalidUtf8", 0)), 0, stats)

    def test_the_hostile_names_are_stored_sanitized(self):
        blocks = self.stored.get(self.hostile.pid, [])
        self.assertTrue(blocks)
        for b in blocks:
            # \xff\xfe -> U+FFFD U+FFFD; ESC, BEL and the newline as visible escapes.
            self.assertEqual(b["comm"], "\ufffd\ufffd\\x1b]0;X\\x07\\nLOOP B", b["comm"])
        functions = [f.get("function", "") for b in blocks for f in b.get("stack", [])]
        hostile = [f for f in functions if "pwned" in f]
        self.assertTrue(hostile, functions)
        for f in hostile:
            self.assertEqual(f, "\\x1b]0;pwned\\x07\\n" + FORGED + "\\x1b[2J\\ufffe")

    def test_the_text_output_has_no_escape_sequence_and_no_forged_line(self):
        raw = self.text.read_bytes()
        text = raw.decode("utf-8")  # valid UTF-8, or this raises
        self.assertEqual(raw_controls(text), [], "raw control characters in the text output")
        self.assertNotIn("\ufffe", text)
        lines = text.splitlines()
        self.assertFalse([l for l in lines if l.startswith(FORGED)], "a forged line")
        # The name is there, escaped, on the line of its frame.
        self.assertTrue([l for l in lines if ("\\x1b]0;pwned\\x07\\n" + FORGED) in l], text[-3000:])
        self.assertIn("pid %d" % self.hostile.pid, text)


class Daemon(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        harness.require_bpf()
        harness.require_agent_binary()
        cls.s = s = harness.Session("target-strings-daemon")
        cls.addClassCleanup(s.close)
        config = s.dir / "stallscope.conf"
        config.write_text("listen = 127.0.0.1:0\nscan_interval_ms = 500\nstats_interval_s = 2\n"
                          "format = text\nservice = env:APP_SERVICE, comm\n"
                          "select = server:any cmdline:%s\n" % re.escape(str(harness.APPS / "hostile_names_app.py")))
        cls.daemon = s.spawn("daemon", [harness.STALLSCOPE_BIN, "daemon", "--config", config])
        cls.ops_port = harness.wait_daemon_ready(cls.daemon)
        s.start_upstream()
        cls.hostile, port = start_hostile(s, {"APP_SERVICE": SERVICE_ENV})
        attached = harness.wait_until(lambda: "pid %d: tracking" % cls.hostile.pid in cls.daemon.stdout(), 15)
        if not attached:
            raise AssertionError("the daemon did not track the hostile app\n%s" % cls.daemon.output_tail())
        s.warm_up(port)
        for _ in range(2):
            s.stall(port, "sleep", STALL_MS)
        # Its service names a forged "pid 1 tid 1: loop blocked": the real lines name its pid.
        harness.wait_until(lambda: len(cls.stall_lines(cls.daemon.stdout())) >= 2, 10)
        # /metrics is published every stats interval (2 s): wait for the stalls' series.
        cls.metrics = harness.wait_until(
            lambda: (lambda m: m if "stallscope_stalls_total{" in m else None)(ch.get(cls.ops_port, "/metrics")[1]),
            10, interval=0.2) or ch.get(cls.ops_port, "/metrics")[1]
        cls.daemon.signal(signal.SIGTERM)
        cls.exit_code = cls.daemon.wait(20)
        cls.log = cls.daemon.stdout()
        cls.stderr = cls.daemon.stderr()

    @classmethod
    def stall_lines(cls, log):
        return [l for l in log.splitlines() if "pid %d tid" % cls.hostile.pid in l and ": loop blocked" in l]

    def test_log_lines_have_no_escape_sequence_and_no_forged_line(self):
        self.assertEqual(self.exit_code, 0, self.daemon.output_tail())
        for name, text in (("log", self.log), ("stderr", self.stderr)):
            self.assertEqual(raw_controls(text), [], "raw control characters in the daemon's %s" % name)
            self.assertFalse([l for l in text.splitlines() if l.startswith("2026-12-07T10:00:00.000Z forged")],
                             "a forged %s line" % name)
        stalls = self.stall_lines(self.log)
        self.assertGreaterEqual(len(stalls), 2, self.log)
        for line in stalls:
            self.assertIn("shop\\x1b]0;pwned\\x07\\n2026-12-07T10:00:00.000Z forged", line)
        self.assertIn("(\ufffd\ufffd\\x1b]0;X\\x07\\nLOOP B)", self.stderr)  # "tracking PID N (comm)"

    def test_metrics_pass_promtool_with_the_hostile_service(self):
        self.assertIn('service="\ufffd\ufffdshop\\\\x1b]0;pwned\\\\x07\\\\n2026-12-07', self.metrics)
        self.assertRegex(self.metrics, r'stallscope_agent_bounded_sheds_total\{what="invalid_utf8"\} [1-9]')
        promtool_check(self, self.metrics)


if __name__ == "__main__":
    unittest.main()
