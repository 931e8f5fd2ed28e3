"""The collector under bad input and crashes, without the agent (no BPF needed): malformed,
truncated and oversized messages, streams that never identify themselves, clients dying
mid-message and garbage bytes on both ports each get a clear status (or a closed
connection) while a well-behaved stream keeps being served and nothing of the bad ones is
stored; kill -9 after acknowledgements loses nothing; two replicas share one real
PostgreSQL server."""

import json
import os
import subprocess
import sys
import threading
import time
import unittest

import harness

sys.path.insert(0, str(harness.ROOT / "collector" / "tools"))
import collector_harness as ch  # noqa: E402

GRPC = {"INVALID_ARGUMENT": 3, "DEADLINE_EXCEEDED": 4, "RESOURCE_EXHAUSTED": 8}


def require_binaries():
    for path in (ch.COLLECTOR_BIN, ch.LOADGEN_BIN):
        if not os.access(path, os.X_OK):
            raise AssertionError("%s is missing: build first" % path)


class BadInput(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        require_binaries()
        cls.s = harness.Session("collector-bad")
        cls.addClassCleanup(cls.s.close)
        cls.c = ch.Collector(cls.s.dir, extra=["--identity-timeout", "2s", "--max-message-bytes", "4194304"])
        cls.addClassCleanup(cls.c.kill9)
        cls.c.start()

    def bad(self, mode):
        rc, out, err = ch.loadgen(self.c.target(), "--bad", mode, timeout=60)
        self.assertEqual(rc, 0, "loadgen --bad %s: %s %s" % (mode, out, err))
        code, _, message = out.strip().partition(": ")[2].partition(" ")
        return int(code), message

    def test_everyone_else_is_served_while_bad_clients_come_and_go(self):
        # A good stream runs the whole time.
        good = {}

        def run_good():
            good["result"] = ch.loadgen(self.c.target(), "--agents", 2, "--reports", 4000, "--batch", 100)
        t = threading.Thread(target=run_good)
        t.start()

        code, msg = self.bad("malformed")
        self.assertEqual(code, GRPC["INVALID_ARGUMENT"])
        self.assertIn("malformed message", msg)
        code, msg = self.bad("truncated")
        self.assertEqual(code, GRPC["INVALID_ARGUMENT"])
        self.assertIn("malformed", msg)
        code, msg = self.bad("oversized")
        self.assertEqual(code, GRPC["RESOURCE_EXHAUSTED"], msg)
        code, msg = self.bad("no-identity")
        self.assertEqual(code, GRPC["INVALID_ARGUMENT"])
        self.assertIn("identity", msg)
        code, msg = self.bad("bad-seq")
        self.assertEqual(code, GRPC["INVALID_ARGUMENT"])
        self.assertIn("seq", msg)
        start = time.monotonic()
        code, msg = self.bad("silent")
        self.assertEqual(code, GRPC["DEADLINE_EXCEEDED"], msg)
        self.assertIn("no agent identity", msg)
        self.assertLess(time.monotonic() - start, 10)
        rc, out, _ = ch.loadgen(self.c.target(), "--bad", "abort")
        self.assertIn("exiting mid-message", out)

        # Garbage straight onto the gRPC port: not HTTP/2 at all, an HTTP/1 request, a
        # connection that sends nothing.
        ch.raw_send(self.c.grpc_port, os.urandom(4096))
        ch.raw_send(self.c.grpc_port, b"GET / HTTP/1.1\r\nHost: x\r\n\r\n")
        ch.raw_send(self.c.grpc_port, b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n" + os.urandom(512))
        ch.raw_send(self.c.grpc_port, b"", read=False)

        t.join(120)
        rc, out, err = good["result"]
        self.assertEqual(rc, 0, out + err)
        self.assertEqual(json.loads(out)["reports"], 8000)

        # Nothing of the bad streams was stored (their agent ids start with "bad-").
        body = ch.get_json(self.c.http_port, "/api/v1/reports?host=host-49&limit=10")
        self.assertEqual(body["reports"], [], "reports from bad streams were stored")
        self.assertEqual(self.c.metric("stallscope_collector_reports_stored_total"), 8000)
        self.assertGreaterEqual(self.c.metric("stallscope_collector_batches_rejected_total"), 5)
        self.assertTrue(self.c.alive())

    def test_garbage_on_the_http_port(self):
        port = self.c.http_port
        reply = ch.raw_send(port, os.urandom(2048))
        self.assertTrue(reply == b"" or reply.startswith(b"HTTP/1.1 400"), reply[:80])
        reply = ch.raw_send(port, b"GET /api/v1/reports HTTP/1.1\r\nHost: x\r\nX-Big: " + b"a" * 100000 + b"\r\n\r\n")
        self.assertTrue(reply == b"" or reply.startswith(b"HTTP/1.1 4"), reply[:80])
        reply = ch.raw_send(port, b"POST /api/v1/reports HTTP/1.1\r\nContent-Length: 99999999\r\n\r\nabc")
        self.assertTrue(reply == b"" or reply.startswith(b"HTTP/1.1 4"), reply[:80])
        # Half a request line, then silence: the server times it out, others are served.
        idle = [__import__("socket").create_connection(("127.0.0.1", port)) for _ in range(5)]
        for s in idle:
            s.sendall(b"GET /api/v1/rep")
        status, _ = ch.get(port, "/healthz", timeout=10)
        self.assertEqual(status, 200)
        for path, code in [("/api/v1/reports?limit=0", 400), ("/api/v1/reports?since=never", 400),
                           ("/api/v1/reports?pid=x", 400), ("/nope", 404),
                           ("/api/v1/reports?host=%ff%00%22", 200)]:
            status, text = ch.get(port, path)
            self.assertEqual(status, code, "%s -> %d %s" % (path, status, text[:200]))
            if path.startswith("/api"):
                json.loads(text)
        for s in idle:
            s.close()
        self.assertTrue(self.c.alive())


class PoisonedReports(unittest.TestCase):
    def test_a_report_that_cannot_be_read_is_refused_alone(self):
        """A batch in which two reports carry a thread name that is not UTF-8 (as an agent sent
        it before target strings were made safe): those two are refused and named in the ack,
        the other 48 are stored, and the stream goes on (before: the whole batch was refused,
        the stream ended, and the agent resent the same batch for ever)."""
        require_binaries()
        s = harness.Session("collector-poisoned")
        self.addCleanup(s.close)
        c = ch.Collector(s.dir)
        self.addCleanup(c.kill9)
        c.start()
        rc, out, err = ch.loadgen(c.target(), "--bad", "poisoned", timeout=60)
        self.assertEqual(rc, 0, out + err)
        lines = [line.strip() for line in out.splitlines()]
        self.assertEqual(lines[0], "acked_through 50 rejected 10,20", out)
        self.assertEqual(lines[1], "acked_through 55 rejected", out)
        self.assertEqual(lines[2], "poisoned: 0", out)
        self.assertEqual(c.metric("stallscope_collector_reports_stored_total"), 53)
        _, text = ch.get(c.http_port, "/metrics")
        self.assertIn('stallscope_collector_reports_refused_total{reason="malformed"} 2', text)
        self.assertEqual(c.metric("stallscope_collector_batches_rejected_total"), 0)
        self.assertEqual(c.stop(), 0)


class Durability(unittest.TestCase):
    def test_kill9_after_acks_loses_nothing(self):
        require_binaries()
        s = harness.Session("collector-kill")
        self.addCleanup(s.close)
        c = ch.Collector(s.dir)
        self.addCleanup(c.kill9)
        c.start()
        rc, out, err = ch.loadgen(c.target(), "--agents", 3, "--reports", 3000, "--batch", 250)
        self.assertEqual(rc, 0, out + err)
        acked = json.loads(out)["reports"]
        self.assertEqual(acked, 9000)
        c.kill9()  # no clean shutdown, no checkpoint
        c.start()
        status, text = ch.get(c.http_port, "/api/v1/summary/services")
        total = sum(x["count"] for x in json.loads(text)["services"])
        self.assertEqual(total, acked)
        self.assertEqual(len(ch.get_json(c.http_port, "/api/v1/reports?limit=10000")["reports"]), acked)
        self.assertEqual(c.stop(), 0)


class SharedPostgres(unittest.TestCase):
    def test_two_replicas_share_one_store(self):
        require_binaries()
        pg = ch.TempPostgres()
        reason = pg.start()
        self.addCleanup(pg.stop)
        if reason:
            self.skipTest("PostgreSQL unavailable: " + reason)
        s = harness.Session("collector-pg")
        self.addCleanup(s.close)
        a = ch.Collector(s.dir, db=pg.url(), name="replica-a")
        b = ch.Collector(s.dir, db=pg.url(), name="replica-b")
        for c in (a, b):
            self.addCleanup(c.kill9)
        # Started together: the schema is created once, under a lock.
        threads = [threading.Thread(target=c.start) for c in (a, b)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        self.assertTrue(a.alive() and b.alive(), a.stderr() + b.stderr())
        results = {}

        def load(c, name):
            results[name] = ch.loadgen(c.target(), "--agents", 2, "--reports", 1000, "--batch", 200)
        threads = [threading.Thread(target=load, args=(c, n)) for c, n in ((a, "a"), (b, "b"))]
        for t in threads:
            t.start()
        for t in threads:
            t.join(120)
        for name, (rc, out, err) in results.items():
            self.assertEqual(rc, 0, "%s: %s %s" % (name, out, err))
        for c in (a, b):
            n = len(ch.get_json(c.http_port, "/api/v1/reports?kind=loop_block&limit=10000")["reports"])
            self.assertEqual(n, 4000, "replica on port %d sees %d reports" % (c.http_port, n))
        # A replica restart keeps serving from the shared store.
        a.kill9()
        a.start()
        sites = ch.get_json(a.http_port, "/api/v1/summary/sites?limit=5")["sites"]
        self.assertEqual(len(sites), 5)
        self.assertEqual(sum(x["count"] for x in ch.get_json(a.http_port, "/api/v1/summary/services")["services"]),
                         4000)


if __name__ == "__main__":
    harness.main()
