"""The fleet collector end to end: the real agent streams a real Tornado app's stalls to a real
stallscope-collector (SQLite); the collector is killed with SIGKILL mid-run and restarted, and
nothing is lost or stored twice; the query API, the summaries, /metrics (promtool) and the
dashboard (real headless Chromium, no console errors, screenshot) all show the stalls."""

import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import unittest
from pathlib import Path

import harness

sys.path.insert(0, str(harness.ROOT / "collector" / "tools"))
import collector_harness as ch  # noqa: E402

SERVICE = "shop"


def key(block):
    """A loop block's identity across the agent's file and the collector's API."""
    return (block["tid"], block["startTimeUnixNano"], block["seq"])


class CollectorEndToEnd(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        harness.require_bpf()
        cls.s = s = harness.Session("collector")
        cls.addClassCleanup(s.close)
        cls.collector = c = ch.Collector(s.dir)
        cls.addClassCleanup(c.kill9)
        c.start()
        s.start_upstream()
        cls.app, port = s.start_app("tornado_app.py")
        cls.agent = agent = s.start_agent(
            [cls.app.pid], extra=["--collector", c.target(), "--service", SERVICE])
        s.warm_up(port)
        s.stall(port, "sleep", 250)
        s.stall(port, "cpu", 200)
        # Stored and acknowledged before the crash.
        cls.before_kill = cls.wait_api_finals(2)
        c.kill9()
        # Stalls while the collector is down are buffered by the agent...
        s.stall(port, "sleep", 300)
        s.stall(port, "upstream", 350)
        time.sleep(0.5)
        c.start()  # same ports, same database
        cls.after_restart = cls.wait_api_finals(4)
        s.stall(port, "sleep", 200)
        time.sleep(0.5)
        cls.reports = agent.stop()
        cls.agent_stderr = agent.proc.stderr()
        cls.local_finals = [d for _, d in cls.reports.of("loopBlock") if not d.get("inProgress")]

    @classmethod
    def wait_api_finals(cls, n, timeout=30):
        def finals():
            body = ch.get_json(cls.collector.http_port,
                               "/api/v1/reports?kind=loop_block&final=true&service=%s&limit=1000" % SERVICE)
            return body["reports"] if len(body["reports"]) >= n else None
        got = harness.wait_until(finals, timeout, interval=0.2)
        if not got:
            raise AssertionError("collector API has fewer than %d final stalls after %d s\n%s\n%s" %
                                 (n, timeout, cls.collector.stderr(), cls.agent.proc.output_tail()))
        return got

    def api(self, path):
        return ch.get_json(self.collector.http_port, path)

    def test_every_stall_arrives_once_across_a_kill9(self):
        # Wait for the last stall and the agentStats sent at exit.
        def complete():
            body = self.api("/api/v1/reports?kind=loop_block&final=true&limit=1000")
            return body["reports"] if len(body["reports"]) >= len(self.local_finals) else None
        api_finals = harness.wait_until(complete, 20, interval=0.2) or []
        api_keys = [key(r["loopBlock"]) for r in api_finals]
        local_keys = [key(b) for b in self.local_finals]
        self.assertGreaterEqual(len(local_keys), 5, "the agent's own output: %s" % local_keys)
        self.assertEqual(sorted(api_keys), sorted(local_keys),
                         "collector vs the agent's own --output (nothing lost, nothing twice)")
        self.assertEqual(len(set(api_keys)), len(api_keys), "duplicates in the store")
        # What was acknowledged before the SIGKILL is still there.
        for r in self.before_kill:
            self.assertIn(key(r["loopBlock"]), api_keys)
        agent = api_finals[0]["agent"]
        self.assertEqual(agent["service"], SERVICE)
        self.assertEqual(agent["host"], os.uname().nodename)
        self.assertEqual(len(agent["bootId"]), 36)
        self.assertIn("reconnected", self.agent_stderr)

    def test_agent_stats_report_the_stream(self):
        stats = self.reports.agent_stats()
        self.assertEqual(int(stats.get("collectorDrops", 0)), 0, stats)
        self.assertEqual(int(stats.get("collectorUnackedAtExit", 0)), 0, stats)
        self.assertGreaterEqual(int(stats.get("collectorReconnects", 0)), 1, stats)
        self.assertGreater(int(stats.get("collectorAcked", 0)), 5, stats)
        remote = harness.wait_until(lambda: self.api("/api/v1/reports?kind=agent_stats")["reports"], 10)
        self.assertTrue(remote, "agentStats did not reach the collector")
        self.assertGreaterEqual(int(remote[0]["agentStats"]["collectorReconnects"]), 1)

    def test_filters_and_summaries(self):
        pid = self.app.pid
        by_pid = self.api("/api/v1/reports?kind=loop_block&pid=%d&host=%s&limit=1000" % (pid, os.uname().nodename))
        self.assertTrue(by_pid["reports"])
        self.assertTrue(all(r["loopBlock"]["pid"] == pid for r in by_pid["reports"]))
        self.assertEqual(self.api("/api/v1/reports?kind=loop_block&pid=1")["reports"], [])
        self.assertEqual(self.api("/api/v1/reports?kind=loop_block&since=1h&until=%d" % 1000)["reports"], [])
        events = self.api("/api/v1/reports?kind=process_event")["reports"]
        self.assertTrue(any(e["processEvent"]["kind"] == "ATTACHED" for e in events), events[:3])
        status, body = ch.get(self.collector.http_port, "/api/v1/reports?kind=nonsense")
        self.assertEqual(status, 400)
        self.assertIn("loop_block", json.loads(body)["error"])
        sites = self.api("/api/v1/summary/sites")["sites"]
        self.assertTrue(sites)
        self.assertEqual(sites, sorted(sites, key=lambda s: -s["totalNs"]))
        self.assertIn("example", sites[0])
        self.assertTrue(sites[0]["example"]["loopBlock"]["stack"])
        services = self.api("/api/v1/summary/services")["services"]
        self.assertEqual([s["service"] for s in services], [SERVICE])
        self.assertEqual(services[0]["count"], len(self.local_finals))
        procs = self.api("/api/v1/summary/processes")["processes"]
        self.assertEqual(procs[0]["pid"], pid)
        self.assertEqual(self.api("/api/v1/summary/pools")["pools"], [])
        flame = self.api("/api/v1/flamegraph")
        self.assertEqual(flame["stalls"], len(self.local_finals))
        self.assertGreater(flame["root"]["value"], 0)

    def test_metrics_pass_promtool(self):
        # The agent has exited: its stream is closed (OnDone runs just after).
        harness.wait_until(lambda: self.collector.metric("stallscope_collector_streams") == 0, 10)
        status, text = ch.get(self.collector.http_port, "/metrics")
        self.assertEqual(status, 200)
        self.assertIn('stallscope_stalls_total{service="%s"' % SERVICE, text)
        self.assertIn("stallscope_stall_duration_seconds_bucket", text)
        self.assertIn("stallscope_collector_streams 0", text)
        self.assertGreaterEqual(self.collector.metric("stallscope_collector_streams_opened_total"), 1)
        promtool = shutil.which("promtool")
        if not promtool:
            self.skipTest("promtool not installed (Debian package prometheus)")
        p = subprocess.run([promtool, "check", "metrics"], input=text, capture_output=True, text=True)
        self.assertEqual(p.returncode, 0, p.stdout + p.stderr)
        self.assertEqual(p.stdout + p.stderr, "")

    def test_dashboard_in_chromium(self):
        if not os.path.exists(ch.CHROMIUM):
            self.skipTest("chromium not installed (Debian package chromium)")
        shots = Path(tempfile.mkdtemp(prefix="stallscope-dashboard-"))
        shot = shots / "dashboard.png"
        facts = ("({dots: document.querySelectorAll('#timeline circle').length,"
                 " sites: document.querySelectorAll('#sites tr.clickable').length,"
                 " flame: document.querySelectorAll('#flame rect').length,"
                 " services: document.getElementById('services').textContent,"
                 " pools: document.getElementById('pools').textContent,"
                 " status: document.getElementById('status').textContent})")
        result = ch.check_page("http://127.0.0.1:%d/" % self.collector.http_port, shot, facts)
        print("\ndashboard screenshot: %s" % result.screenshot)
        self.assertEqual(result.problems(), [], "console errors / failed requests in the dashboard")
        f = result.facts
        self.assertGreaterEqual(f["dots"], len(self.local_finals), f)
        self.assertGreater(f["sites"], 0, f)
        self.assertGreater(f["flame"], 2, f)
        self.assertIn(SERVICE, f["services"])
        self.assertIn("no pool reports yet", f["pools"])
        self.assertTrue(f["status"].startswith("updated"), f)
        self.assertGreater(shot.stat().st_size, 20000)
        # Drill-down to the process renders too.
        drill = shots / "dashboard-process.png"
        result = ch.check_page("http://127.0.0.1:%d/#host=%s&pid=%d" % (
            self.collector.http_port, os.uname().nodename, self.app.pid), drill,
            "({crumbs: document.getElementById('crumbs').textContent,"
            " dots: document.querySelectorAll('#timeline circle').length})")
        print("drill-down screenshot: %s" % result.screenshot)
        self.assertEqual(result.problems(), [])
        self.assertIn("pid %d" % self.app.pid, result.facts["crumbs"])
        self.assertGreater(result.facts["dots"], 0)



class UnresponsiveCollector(unittest.TestCase):
    """A collector that accepts connections and never answers (a hung node, a black-holing
    proxy): SIGTERM still ends the agent within 2 s, and what the collector never acknowledged
    is counted and named, not dropped in silence."""

    def test_sigterm_ends_the_agent_within_2s(self):
        harness.require_bpf()
        s = harness.Session("collector-hung")
        self.addCleanup(s.close)
        hung = socket.socket()
        self.addCleanup(hung.close)
        hung.bind(("127.0.0.1", 0))
        hung.listen(16)  # connections complete in the backlog; nothing is ever read or sent
        app, port = s.start_app("tornado_app.py")
        agent = s.start_agent([app.pid], extra=["--collector", "127.0.0.1:%d" % hung.getsockname()[1]])
        s.warm_up(port)
        s.stall(port, "sleep", 250)
        time.sleep(0.3)
        started = time.monotonic()
        agent.proc.signal(signal.SIGTERM)
        rc = agent.proc.wait(5)
        took = time.monotonic() - started
        self.assertEqual(rc, 0, agent.proc.output_tail())
        self.assertLess(took, 2.0, "SIGTERM to exit with a collector that never answers")
        stats = agent.final_reports().agent_stats()
        self.assertGreater(int(stats.get("collectorUnackedAtExit", 0)), 0, stats)
        self.assertEqual(int(stats.get("collectorDrops", 0)), 0, stats)
        self.assertIn("not acknowledged at exit", agent.proc.stderr())

if __name__ == "__main__":
    harness.main()
