"""SocketLifetime beyond the pool tests: outbound connections and resets, and the text summary.

A gunicorn sync worker (attached via its master) calls the slow upstream (its own, untracked
process) on /upstream?ms=300: each call is one outbound connection that the upstream holds for
300 ms and then closes. A client that connects and aborts with a RST shows up as an inbound
connection reset by the peer. The same run in text format with --sockets prints each connection
and the per-endpoint table; in text format without --sockets, streaming to a collector, no
connection is printed or streamed, and the per-endpoint table is still there."""

import socket
import struct
import time
import unittest

import sys

import harness
import pool_checks

sys.path.insert(0, str(harness.ROOT / "collector" / "tools"))
import collector_harness as ch  # noqa: E402

MS = harness.MS
UPSTREAM_MS = 300
CALLS = 5


def abort_connection(port):
    """Connects, then closes with SO_LINGER 0: the kernel sends a RST instead of a FIN."""
    s = socket.create_connection(("127.0.0.1", port))
    time.sleep(0.2)  # the server has accepted it and waits for a request
    s.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    s.close()


class Sockets(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        harness.require_bpf()
        cls.s = s = harness.Session("sockets")
        cls.addClassCleanup(s.close)
        cls.upstream = s.start_upstream()
        cls.master, cls.port = s.start_gunicorn("pool_app", workers=1)
        agent = s.start_agent([cls.master.pid], extra=["--sockets"])
        text_agent = s.spawn("text-agent", [harness.STALLSCOPE_BIN, "attach", "--pid",
                                            str(cls.master.pid), "--sockets"])
        cls.collector = c = ch.Collector(s.dir)
        cls.addClassCleanup(c.kill9)
        c.start()
        quiet_agent = s.spawn("quiet-agent", [harness.STALLSCOPE_BIN, "attach", "--pid", str(cls.master.pid),
                                              "--collector", c.target()])
        for a in (text_agent, quiet_agent):
            harness.wait_until(lambda: "stallscope: attached" in a.stderr(), harness.ATTACH_TIMEOUT_S)
        cls.calls = []
        for _ in range(CALLS):
            t0 = time.time_ns()
            harness.http_get_ok(cls.port, "/upstream?ms=%d" % UPSTREAM_MS)
            cls.calls.append((t0, time.time_ns()))
        abort_connection(cls.port)
        time.sleep(0.5)
        cls.reports = agent.stop()
        text_agent.signal(2)
        text_agent.wait(harness.STOP_TIMEOUT_S)
        cls.text = text_agent.stdout()
        quiet_agent.signal(2)
        cls.quiet_exit = quiet_agent.wait(harness.STOP_TIMEOUT_S)
        cls.quiet_text = quiet_agent.stdout()
        cls.lifetimes = pool_checks.of(cls.reports, "socketLifetime")

    def test_outbound_connections_to_the_upstream(self):
        target = "127.0.0.1:%d" % self.upstream
        out = [l for l in self.lifetimes if l.get("direction") == "OUTBOUND" and l.get("remoteAddress") == target]
        self.assertEqual(len(out), CALLS, self.lifetimes)
        true = [t.duration_ns for t in self.s.true_stalls("upstream")]
        self.assertEqual(len(true), CALLS)
        for life, true_ns in zip(sorted(out, key=lambda l: int(l["startTimeUnixNano"])), true):
            # connect() to close: the upstream's delay, as the app measured its call
            self.assertLess(abs(int(life["durationNs"]) - true_ns), 0.1 * true_ns, life)
            self.assertGreater(int(life["connectLatencyNs"]), 0, life)
            self.assertLess(int(life["connectLatencyNs"]), 50 * MS, life)
            self.assertEqual(int(life["bytesOut"]), len(b"%d\n" % UPSTREAM_MS), life)
            self.assertEqual(int(life["bytesIn"]), len(b"ok %d\n" % UPSTREAM_MS), life)
            self.assertEqual(life["end"], "CLOSED", life)
            self.assertIn(life["pid"], self.s.ready_workers(self.master))

    def test_reset_by_the_client(self):
        local = "127.0.0.1:%d" % self.port
        inbound = [l for l in self.lifetimes if l.get("direction") == "INBOUND" and l.get("localAddress") == local]
        self.assertEqual(len(inbound), CALLS + 1, inbound)
        resets = [l for l in inbound if l["end"] == "RESET_RECEIVED"]
        self.assertEqual(len(resets), 1, inbound)
        self.assertEqual(int(resets[0]["bytesIn"]), 0, resets[0])

    def test_text_output_lists_connections_and_endpoints(self):
        target = "127.0.0.1:%d" % self.upstream
        outbound = [line for line in self.text.splitlines()
                    if " TCP out " in line and line.split(" -> ", 1)[-1].startswith(target + " ")]
        self.assertEqual(len(outbound), CALLS, self.text)
        row = [line for line in self.text.splitlines() if line.strip().startswith("to %s" % target)]
        self.assertEqual(len(row), 1, self.text)
        fields = row[0].split()
        self.assertEqual(fields[2], str(CALLS), row)
        p50_ms = float(fields[3])
        self.assertLess(abs(p50_ms - UPSTREAM_MS), 0.1 * UPSTREAM_MS, row)

    def test_text_mode_streams_no_connection_without_sockets(self):
        self.assertEqual(self.quiet_exit, 0)
        stored = lambda kind: ch.get_json(self.collector.http_port, "/api/v1/reports?kind=%s" % kind)["reports"]
        self.assertTrue(stored("agent_stats"), "the stream worked: the run's counters arrived")
        self.assertEqual(stored("socket_lifetime"), [])
        self.assertNotIn(" TCP out ", self.quiet_text)
        target = "127.0.0.1:%d" % self.upstream
        self.assertTrue([l for l in self.quiet_text.splitlines() if l.strip().startswith("to %s" % target)],
                        self.quiet_text)


if __name__ == "__main__":
    harness.main()
