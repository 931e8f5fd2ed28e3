"""Both HTTP servers (the collector's API and dashboard, the daemon's ops port) against request
floods and for the headers a browser needs. Real stallscope-collector over TLS, real daemon,
raw sockets as the attacker.

- a 300 MiB chunked POST to the collector's /healthz over TLS (and to an authenticated route,
  and a GET whose header line never ends) is answered 411 (or 400) at once and closed, the
  collector's RSS grows less than 30 MB, and it keeps serving (it grew by 470 MB before);
- 150 MiB chunked to the daemon's ops port: the same (it grew by 220 MB before);
- every response carries nosniff, no-store, frame denial, no-referrer and a CSP that lets the
  dashboard load only its own script and style; HSTS over TLS."""

import os
import re
import select
import signal
import socket
import ssl
import sys
import threading
import time
import unittest

import harness
import test_collector_security as sec

sys.path.insert(0, str(harness.ROOT / "collector" / "tools"))
import collector_harness as ch  # noqa: E402

MiB = 1 << 20
MAX_GROWTH_KB = 30 * 1024
PIECE = b"A" * (256 * 1024)  # no newline anywhere: a line reader without a bound keeps it all


def flood(port, head, total, ctx=None, seconds=60):
    """Sends `head` then `total` body bytes, reading the answer meanwhile. Returns (status line or
    "", bytes of body sent, seconds until the answer or the end)."""
    raw = socket.create_connection(("127.0.0.1", port), timeout=10)
    s = ctx.wrap_socket(raw, server_hostname="localhost") if ctx else raw
    start = time.monotonic()
    sent, answer = 0, b""
    try:
        s.sendall(head)
        s.setblocking(False)
        while time.monotonic() - start < seconds:
            want_write = sent < total
            r, w, _ = select.select([s], [s] if want_write else [], [], 1)
            # Always try: TLS may hold a whole record already read from the socket.
            if True:
                try:
                    data = s.recv(65536)
                except (ssl.SSLWantReadError, BlockingIOError):
                    data = None
                except OSError:
                    break
                if data == b"":
                    break
                if data:
                    answer += data
                    if b"\r\n" in answer:
                        break
            if w:
                piece = PIECE[:min(len(PIECE), total - sent)]
                try:
                    sent += s.send(piece)
                except (ssl.SSLWantWriteError, BlockingIOError):
                    pass
                except OSError:
                    want_write = False
                    total = sent  # the server closed: read what it answered
            if not want_write and not r and not answer and time.monotonic() - start > 5:
                break
    finally:
        s.close()
    return answer.split(b"\r\n", 1)[0].decode(errors="replace"), sent, time.monotonic() - start


class PeakRss:
    """Samples a process's RSS every 20 ms while in use."""

    def __init__(self, pid):
        self.pid, self.peak, self.stop = pid, 0, threading.Event()
        self.before = sec.rss_kb(pid)

    def __enter__(self):
        def run():
            while not self.stop.is_set():
                self.peak = max(self.peak, sec.rss_kb(self.pid))
                time.sleep(0.02)
        self.t = threading.Thread(target=run)
        self.t.start()
        return self

    def __exit__(self, *exc):
        self.stop.set()
        self.t.join()
        self.peak = max(self.peak, sec.rss_kb(self.pid))

    def growth(self):
        return self.peak - self.before


def chunked_post(path, total, token=None):
    auth = "Authorization: Bearer %s\r\n" % token if token else ""
    return ("POST %s HTTP/1.1\r\nHost: localhost\r\n%sTransfer-Encoding: chunked\r\n\r\n%x\r\n"
            % (path, auth, total)).encode()


class CollectorFloods(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        sec.require_binaries()
        cls.s = harness.Session("http-hardening")
        cls.addClassCleanup(cls.s.close)
        cls.pki = cls.s.dir / "pki"
        cls.pki.mkdir()
        sec.make_pki(cls.pki)
        cls.c = sec.tls_collector(cls.s, cls.pki)
        cls.addClassCleanup(cls.c.kill9)
        cls.web = sec.Https(cls.c.http_port, cls.pki / "ca.pem")
        cls.ctx = ssl.create_default_context(cafile=str(cls.pki / "ca.pem"))

    def assert_bounded(self, head, total, statuses):
        pid = self.c.proc.pid
        with PeakRss(pid) as rss:
            status, sent, took = flood(self.c.http_port, head, total, self.ctx)
        print("\n%r: answered %r after %.2f s, %d MiB of %d sent; RSS %d -> peak %d kB"
              % (head[:40], status, took, sent // MiB, total // MiB, rss.before, rss.peak), file=sys.stderr)
        self.assertIn(status.split(" ")[1] if status else "", statuses, "answer: %r" % status)
        self.assertLess(took, 5)
        if total > MiB:
            self.assertLess(sent, total // 2)
        self.assertLess(rss.growth(), MAX_GROWTH_KB)
        self.assertEqual(self.web.get("/healthz")[::2], (200, "ok\n"))

    def test_chunked_post_to_healthz(self):
        self.assert_bounded(chunked_post("/healthz", 300 * MiB), 300 * MiB, {"411"})

    def test_chunked_post_to_an_authenticated_route(self):
        self.assert_bounded(chunked_post("/api/v1/reports", 300 * MiB, sec.TOKENS["viewer"]), 300 * MiB, {"411"})
        self.assert_bounded(chunked_post("/api/v1/reports", 300 * MiB), 300 * MiB, {"411"})

    def test_content_length_body_refused_before_it_is_read(self):
        head = b"POST /healthz HTTP/1.1\r\nHost: localhost\r\nContent-Length: %d\r\n\r\n" % (300 * MiB)
        self.assert_bounded(head, 300 * MiB, {"413"})
        head = b"GET /healthz HTTP/1.1\r\nHost: localhost\r\nContent-Length: 100\r\n\r\n"
        self.assert_bounded(head, 100, {"413"})

    def test_endless_header_line(self):
        self.assert_bounded(b"GET /healthz HTTP/1.1\r\nHost: localhost\r\nX-Flood: ", 300 * MiB, {"400"})
        self.assert_bounded(b"GET /healthz?" , 300 * MiB, {"400", "414"})

    def test_refusals_counted(self):
        flood(self.c.http_port, chunked_post("/healthz", MiB), MiB, self.ctx)
        _, _, text = self.web.get("/metrics", token=sec.TOKENS["viewer"])
        m = re.search(r'^stallscope_collector_http_requests_refused_total\{reason="body"\} (\d+)', text, re.M)
        self.assertTrue(m, text[:2000])
        self.assertGreaterEqual(int(m.group(1)), 1)


class Headers(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        CollectorFloods.setUpClass.__func__(cls)

    def head(self, path, token=None):
        import http.client
        conn = http.client.HTTPSConnection("127.0.0.1", self.c.http_port, context=self.ctx, timeout=10)
        try:
            conn.request("GET", path, headers={"Authorization": "Bearer " + token} if token else {})
            r = conn.getresponse()
            r.read()
            return r.status, {k.lower(): v for k, v in r.getheaders()}
        finally:
            conn.close()

    def test_every_response_hardened(self):
        token = sec.TOKENS["viewer"]
        for path, token_, status in (("/", token, 200), ("/dashboard.js", token, 200), ("/metrics", token, 200),
                                     ("/api/v1/kinds", token, 200), ("/", None, 401), ("/healthz", None, 200),
                                     ("/no-such-page", token, 404)):
            got, h = self.head(path, token_)
            self.assertEqual(got, status, path)
            self.assertEqual(h.get("x-content-type-options"), "nosniff", path)
            self.assertEqual(h.get("cache-control"), "no-store", path)
            self.assertEqual(h.get("x-frame-options"), "DENY", path)
            self.assertEqual(h.get("referrer-policy"), "no-referrer", path)
            self.assertIn("max-age=", h.get("strict-transport-security", ""), path)
            csp = h.get("content-security-policy", "")
            self.assertIn("default-src 'none'", csp, path)
            self.assertIn("script-src 'self'", csp, path)
            self.assertIn("style-src 'self'", csp, path)
            self.assertIn("frame-ancestors 'none'", csp, path)
            self.assertNotIn("unsafe-inline", csp, path)

    def test_dashboard_has_no_inline_script_or_style(self):
        _, _, page = self.web.get("/", token=sec.TOKENS["viewer"])
        self.assertNotRegex(page, r"<script(?![^>]*\bsrc=)", "inline script")
        self.assertNotRegex(page, r"<style|\sstyle=|\son[a-z]+=", "inline style or handler")


class DaemonOpsPortFlood(unittest.TestCase):
    def test_chunked_flood_bounded_and_headers(self):
        harness.require_bpf()
        harness.require_agent_binary()
        s = harness.Session("daemon-ops-flood")
        self.addCleanup(s.close)
        (s.dir / "ops-tokens").write_text("prometheus %s\n" % sec.TOKENS["viewer"])
        os.chmod(s.dir / "ops-tokens", 0o600)
        conf = s.dir / "d.conf"
        conf.write_text("listen = 127.0.0.1:0\nlisten_token_file = %s\nscan_interval_ms = 500\n"
                        "select = cmdline:^no-such-process-here$\n" % (s.dir / "ops-tokens"))
        daemon = s.spawn("daemon", [harness.STALLSCOPE_BIN, "daemon", "--config", conf])

        def ready():
            m = re.search(r"daemon ready: .*on port (\d+)", daemon.stderr())
            return int(m.group(1)) if m else None
        port = harness.wait_until(lambda: ready() or not daemon.alive(), harness.ATTACH_TIMEOUT_S)
        if not daemon.alive():
            rc = daemon.poll()
            if rc in (harness.EXIT_PRIVILEGES, harness.EXIT_KERNEL):
                raise harness.EnvironmentSkip(harness.ENV_SKIP + "daemon exited %d" % rc)
            raise AssertionError("daemon exited %s\n%s" % (rc, daemon.output_tail()))
        for path, total in (("/healthz", 150 * MiB), ("/metrics", 150 * MiB)):
            with PeakRss(daemon.pid) as rss:
                status, sent, took = flood(port, chunked_post(path, total), total)
            print("\nops port %s: answered %r after %.2f s, %d MiB sent; RSS %d -> peak %d kB"
                  % (path, status, took, sent // MiB, rss.before, rss.peak), file=sys.stderr)
            self.assertTrue(status.startswith("HTTP/1.1 411"), status)
            self.assertLess(took, 5)
            self.assertLess(rss.growth(), MAX_GROWTH_KB)
            self.assertEqual(ch.get(port, "/healthz"), (200, "ok\n"))
        import urllib.request
        req = urllib.request.Request("http://127.0.0.1:%d/metrics" % port,
                                     headers={"Authorization": "Bearer " + sec.TOKENS["viewer"]})
        with ch._opener.open(req, timeout=10) as r:
            self.assertEqual(r.headers.get("Cache-Control"), "no-store")
            self.assertEqual(r.headers.get("X-Content-Type-Options"), "nosniff")
        daemon.signal(signal.SIGTERM)
        self.assertEqual(daemon.wait(20), 0, daemon.output_tail())


if __name__ == "__main__":
    harness.main()
