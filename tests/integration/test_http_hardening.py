"""Both HTTP servers (the collector's API and dashboard, the daemon's ops port) against request
floods and for the headers a browser needs. Real stallscope-collector over TLS, real daemon,
raw sockets as the attacker.

- a 300 MiB chunked POST to the collector's /healthz over TLS (and to an authenticated route,
  and a GET whose header line never ends) is answered 411 (or 400) at once and closed, the
  collector's RSS grows less than 30 MB, and it keeps serving (it grew by 470 MB before);
- 150 MiB chunked to the daemon's ops port: the same (it grew by 220 MB before);
- every response carries nosniff, no-store, frame denial, no-referrer and a CSP that lets the
  dashboard load only its own script and style; HSTS over TLS;
- token and key files readable or writable by others, or owned by another user, are refused
  at start (exit 10, one line naming the file and its mode) and at the 2 s reload: a token
  appended by user nobody to a token file made world-writable is not honoured (it was);
- an agent's (ingest) token gets 403 from the HTTP API, a read token PERMISSION_DENIED on
  gRPC ingest;
- the agent refuses to send its token without TLS unless --insecure."""

import os
import pwd
import re
import select
import subprocess
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
        daemon, port = harness.start_daemon(s, "daemon", ["--config", conf])
        if port is None:
            raise AssertionError("daemon exited %s\n%s" % (daemon.poll(), daemon.output_tail()))
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


def collector_refusal(session, pki, name, tokens=None, key=None):
    """Starts a collector on the given files; (exit code, stderr) once it exited."""
    argv = [str(ch.COLLECTOR_BIN), "--grpc-listen", "127.0.0.1:0", "--http-listen", "127.0.0.1:0",
            "--db", str(session.dir / (name + ".db")), "--tls-cert", str(pki / "server.pem"),
            "--tls-key", str(key or pki / "server.key"), "--token-file", str(tokens or pki / "tokens")]
    p = subprocess.run(argv, capture_output=True, text=True, timeout=30)
    return p.returncode, p.stderr


class Credentials(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        CollectorFloods.setUpClass.__func__(cls)

    def copy(self, src, name, mode, owner=None):
        dst = self.s.dir / name
        dst.write_bytes(src.read_bytes())
        os.chmod(dst, mode)
        if owner is not None:
            os.chown(dst, owner, owner)
        return dst

    def test_unsafe_files_refused_at_start(self):
        nobody = pwd.getpwnam("nobody").pw_uid
        for name, kind, mode, owner, says in (
                ("tokens-0644", "tokens", 0o644, None, "mode 0644"),
                ("tokens-0666", "tokens", 0o666, None, "mode 0666"),
                ("tokens-nobody", "tokens", 0o600, nobody, "owner uid %d" % nobody),
                ("key-0644", "key", 0o644, None, "mode 0644"),
                ("key-0620", "key", 0o620, None, "writable by other users")):
            src = self.pki / ("tokens" if kind == "tokens" else "server.key")
            path = self.copy(src, name, mode, owner)
            rc, err = collector_refusal(self.s, self.pki, name, **{("tokens" if kind == "tokens" else "key"): path})
            lines = [ln for ln in err.splitlines() if ln.strip()]
            self.assertEqual(rc, 10, err)
            self.assertEqual(len(lines), 1, err)
            self.assertIn(str(path), lines[0])
            self.assertIn(says, lines[0])

    def test_a_token_planted_in_a_world_writable_file_is_not_honoured(self):
        os.chmod(self.s.dir, 0o711)  # user nobody may reach the file, as on a real node
        tokens = self.copy(self.pki / "tokens", "live-tokens", 0o600)
        c = ch.Collector(self.s.dir, name="reload", extra=[
            "--tls-cert", str(self.pki / "server.pem"), "--tls-key", str(self.pki / "server.key"),
            "--token-file", str(tokens)])
        c.start()
        self.addCleanup(c.kill9)
        web = sec.Https(c.http_port, self.pki / "ca.pem")
        evil = "tok-planted-by-nobody-0123456789"
        os.chmod(tokens, 0o666)  # a mistake an attacker on the node waits for
        subprocess.run(["runuser", "-u", "nobody", "--", "sh", "-c", "echo 'evil %s read' >> %s" % (evil, tokens)],
                       check=True)
        time.sleep(4.5)  # two reload periods
        self.assertEqual(web.get("/api/v1/kinds", token=evil)[0], 401)
        self.assertEqual(web.get("/api/v1/kinds", token=sec.TOKENS["viewer"])[0], 200)  # the old ones stay
        err = c.stderr()
        self.assertIn("writable by other users", err)
        self.assertIn("keeping the old ones", err)
        # Made safe again, the file (with its new line, now the owner's) is taken.
        os.chmod(tokens, 0o600)
        self.assertTrue(harness.wait_until(lambda: web.get("/api/v1/kinds", token=evil)[0] == 200, 6))

    def test_ingest_tokens_cannot_read_read_tokens_cannot_ingest(self):
        status, _, text = self.web.get("/api/v1/reports", token=sec.TOKENS["node-a"])
        self.assertEqual(status, 403, text)
        self.assertEqual(self.web.get("/metrics", token=sec.TOKENS["node-b"])[0], 403)
        self.assertEqual(self.web.get("/api/v1/reports", token=sec.TOKENS["viewer"])[0], 200)
        ca = ["--ca", str(self.pki / "ca.pem")]
        code, msg, _ = sec.loadgen_bad(self.c, "future", *ca, "--token", sec.TOKENS["viewer"], "--agent-id", "reader")
        self.assertEqual(code, sec.GRPC["PERMISSION_DENIED"], msg)
        self.assertIn("no ingest role", msg)
        code, msg, _ = sec.loadgen_bad(self.c, "future", *ca, "--token", sec.TOKENS["node-a"], "--agent-id", "writer")
        self.assertEqual(code, sec.GRPC["OK"], msg)


class AgentToken(unittest.TestCase):
    def test_no_token_in_the_clear_and_no_unsafe_token_file(self):
        harness.require_agent_binary()
        s = harness.Session("agent-token")
        self.addCleanup(s.close)
        token = s.dir / "token"
        token.write_text(sec.TOKENS["node-a"] + "\n")
        os.chmod(token, 0o600)
        base = [harness.STALLSCOPE_BIN, "attach", "--pid", str(os.getpid()), "--collector", "127.0.0.1:9"]
        p = subprocess.run(base + ["--collector-token-file", str(token)], capture_output=True, text=True, timeout=30)
        self.assertEqual(p.returncode, 2, p.stderr)
        self.assertIn("--insecure", p.stderr)
        self.assertEqual(len(p.stderr.strip().splitlines()), 1, p.stderr)
        os.chmod(token, 0o644)
        p = subprocess.run(base + ["--insecure", "--collector-token-file", str(token)], capture_output=True,
                           text=True, timeout=30)
        self.assertEqual(p.returncode, 10, p.stderr)
        self.assertIn("mode 0644", p.stderr)
        conf = s.dir / "d.conf"
        conf.write_text("listen = off\ncollector = 127.0.0.1:9\ncollector_token_file = %s\n" % token)
        os.chmod(token, 0o600)
        p = subprocess.run([harness.STALLSCOPE_BIN, "daemon", "--config", str(conf)], capture_output=True,
                           text=True, timeout=30)
        self.assertEqual(p.returncode, 7, p.stderr)
        self.assertIn("--insecure", p.stderr)


if __name__ == "__main__":
    harness.main()
