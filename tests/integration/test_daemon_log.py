"""What an operator sees in `kubectl logs` of the daemon, run with no output flag: on stdout, a
startup line of what it tracks, one timestamped line per stall naming the syscall, the peer (the
upstream's address and port, not the local ephemeral port) and the application's own line, a
heartbeat with counts, and a last line at exit; `--format json` gives the same as JSON lines.
And a port already in use is refused, by the daemon and by both collector listeners, with one
line and exit 9."""

import json
import os
import re
import signal
import socket
import subprocess
import sys
import tempfile
import unittest

import harness

sys.path.insert(0, str(harness.ROOT / "collector" / "tools"))
import collector_harness as ch  # noqa: E402

EXIT_ADDRESS_IN_USE = 9
ONLY_OURS = "cmdline:" + re.escape(str(harness.APPS))
STAMP = r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z"


def run_daemon_with_a_stall(test, extra_args):
    """Daemon (stdout log) + a Tornado app stalling 400 ms in recv from the slow upstream.
    Returns (daemon, app pid, upstream port, exit code, the daemon's /metrics before it stopped)."""
    harness.require_bpf()
    harness.require_agent_binary()
    s = harness.Session("daemon-log")
    test.addCleanup(s.close)
    conf = s.dir / "log.conf"
    conf.write_text("listen = 127.0.0.1:0\nscan_interval_ms = 500\nstats_interval_s = 2\n"
                    "select = server:tornado %s\n" % ONLY_OURS)
    daemon = s.spawn("daemon", [harness.STALLSCOPE_BIN, "daemon", "--config", conf] + extra_args)
    ready = harness.wait_until(lambda: "daemon ready" in daemon.stderr() or not daemon.alive(),
                               harness.ATTACH_TIMEOUT_S)
    if not daemon.alive():
        rc = daemon.poll()
        if rc in (harness.EXIT_PRIVILEGES, harness.EXIT_KERNEL):
            raise harness.EnvironmentSkip(harness.ENV_SKIP + "daemon exited %d: %s" % (rc, daemon.stderr()))
        raise AssertionError("daemon exited %s at start\n%s" % (rc, daemon.output_tail()))
    test.assertTrue(ready)
    upstream = s.start_upstream()
    app, port = s.start_app("tornado_app.py")
    tracked = harness.wait_until(lambda: "tracking PID %d " % app.pid in daemon.stderr(), 10)
    test.assertTrue(tracked, daemon.output_tail())
    s.warm_up(port)
    s.stall(port, "upstream", 400)
    # The stall's line, then a heartbeat after it (stats_interval_s = 2).
    harness.wait_until(lambda: daemon.stdout().count("heartbeat") >= 2, 10)
    ops_port = int(re.search(r"on port (\d+)", daemon.stderr()).group(1))
    metrics = ch.get(ops_port, "/metrics")[1]
    daemon.signal(signal.SIGTERM)
    return daemon, app.pid, upstream, daemon.wait(20), metrics


class TextLog(unittest.TestCase):
    def test_one_line_per_event_with_the_culprit_in_words(self):
        daemon, pid, upstream, rc, metrics = run_daemon_with_a_stall(self, [])
        self.assertEqual(rc, 0, daemon.output_tail())
        lines = daemon.stdout().splitlines()
        self.assertTrue(lines, daemon.output_tail())
        for line in lines:
            self.assertRegex(line, "^" + STAMP + " ", "every line starts with a timestamp")
        self.assertRegex(lines[0], r"started: tracking \d+ processes.*; skipped .*; selectors: "
                                   r"server:tornado.*; waits seen by --syscall-hooks sched")
        stall = [l for l in lines if "pid %d " % pid in l and "loop blocked" in l]
        self.assertTrue(stall, "no stall line for pid %d\n%s" % (pid, "\n".join(lines)))
        # The culprit: the syscall, the upstream by its own port, the app's own frame (stallkit.py),
        # not Tornado's.
        self.assertRegex(stall[-1], r"loop blocked [\d.]+ ms - blocked [\d.]+ ms in recvfrom from "
                                    r"127\.0\.0\.1:%d at \S+/tests/apps/stallkit\.py:\d+ call_upstream$" % upstream)
        self.assertTrue([l for l in lines if re.search(r"heartbeat: tracking \d+ processes; since start [1-9]\d* stalls",
                                                         l)], "\n".join(lines))
        self.assertRegex(lines[-1], r"stopping: tracking")
        # The daemon's own /metrics: the stall counted per service/workload, no PID in a label.
        self.assertRegex(metrics, r'(?m)^stallscope_stalls_total\{service="tornado_app",namespace="",workload="",'
                                  r'container=""\} [1-9]')
        self.assertRegex(metrics, r'stallscope_stall_duration_seconds_bucket\{service="tornado_app",')
        self.assertNotRegex(metrics, r'\{[^}]*pid', "a PID in a label")


class JsonLog(unittest.TestCase):
    def test_format_json_without_output_writes_json_lines_to_stdout(self):
        daemon, pid, _, rc, _ = run_daemon_with_a_stall(self, ["--format", "json"])
        self.assertEqual(rc, 0, daemon.output_tail())
        objs = [json.loads(l) for l in daemon.stdout().splitlines()]  # every line is JSON
        self.assertIn("daemonStarted", objs[0])
        self.assertEqual(objs[0]["daemonStarted"].get("waitHooks"), "sched", objs[0])
        blocks = [o["loopBlock"] for o in objs if "loopBlock" in o and o["loopBlock"]["pid"] == pid]
        self.assertTrue(blocks, daemon.output_tail())
        # The same cause as the text log, in the report itself (the collector and dashboard show it).
        self.assertRegex(blocks[-1].get("cause", ""), r"^blocked .* in recvfrom from 127\.0\.0\.1:\d+ at \S+stallkit\.py:\d+ ")
        self.assertGreaterEqual(len([o for o in objs if "agentStats" in o]), 2)


class PortInUse(unittest.TestCase):
    """A second server on a port is refused, in one line, exit 9: no silent SO_REUSEPORT sharing."""

    def setUp(self):
        self.holder = socket.socket()
        self.holder.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)  # as gRPC and httplib do
        self.holder.bind(("127.0.0.1", 0))
        self.holder.listen()
        self.port = self.holder.getsockname()[1]
        self.addCleanup(self.holder.close)

    def assert_refused(self, argv):
        p = subprocess.run([str(a) for a in argv], capture_output=True, text=True, timeout=30)
        self.assertEqual(p.returncode, EXIT_ADDRESS_IN_USE, p.stderr)
        self.assertEqual(len(p.stderr.splitlines()), 1, p.stderr)
        self.assertIn("port %d is already in use" % self.port, p.stderr)

    def test_daemon_ops_port(self):
        harness.require_agent_binary()
        self.assert_refused([harness.STALLSCOPE_BIN, "daemon", "--listen", "127.0.0.1:%d" % self.port])

    def test_collector_grpc_and_http_ports(self):
        if not ch.COLLECTOR_BIN.exists():
            self.skipTest("no collector binary")
        tmp = tempfile.TemporaryDirectory()
        self.addCleanup(tmp.cleanup)
        db = os.path.join(tmp.name, "fleet.db")
        self.assert_refused([ch.COLLECTOR_BIN, "--grpc-listen", "127.0.0.1:%d" % self.port,
                             "--http-listen", "127.0.0.1:0", "--db", db])
        self.assert_refused([ch.COLLECTOR_BIN, "--grpc-listen", "127.0.0.1:0",
                             "--http-listen", "127.0.0.1:%d" % self.port, "--db", db])


if __name__ == "__main__":
    harness.main()
