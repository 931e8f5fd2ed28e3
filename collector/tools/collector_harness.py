"""Helpers for the collector's integration tests and benchmark (Python 3, Debian packages only).

- Collector: runs build/bin/stallscope-collector on free ports (port 0; the ports are read
  from its stderr), restarts it on the same ports, kill -9s it.
- TempPostgres: a private PostgreSQL server (Debian's postgresql package) in a temp dir on a
  unix socket; `None` plus a reason where it cannot run.
- check_page(): loads a page in real headless Chromium through the DevTools protocol
  (python3-websocket), returns console errors, exceptions, failed requests, DOM facts, and
  saves a full-page screenshot.
"""

import base64
import glob
import json
import os
import pwd
import re
import shutil
import signal
import socket
import subprocess
import tempfile
import time
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
BIN_DIR = Path(os.environ["STALLSCOPE_BIN"]).parent if os.environ.get("STALLSCOPE_BIN") else ROOT / "build" / "bin"
COLLECTOR_BIN = Path(os.environ.get("STALLSCOPE_COLLECTOR_BIN") or BIN_DIR / "stallscope-collector")
LOADGEN_BIN = Path(os.environ.get("STALLSCOPE_LOADGEN_BIN") or BIN_DIR / "stallscope-collector-loadgen")

_opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))


def get(port, path, timeout=30):
    """GET http://127.0.0.1:port/path -> (status, text)."""
    try:
        with _opener.open("http://127.0.0.1:%d%s" % (port, path), timeout=timeout) as r:
            return r.status, r.read().decode(errors="replace")
    except urllib.error.HTTPError as e:
        return e.code, e.read().decode(errors="replace")


def get_json(port, path):
    status, text = get(port, path)
    if status != 200:
        raise AssertionError("GET %s: HTTP %d %s" % (path, status, text[:300]))
    return json.loads(text)


class Collector:
    """One stallscope-collector process; restart() keeps its ports and database."""

    def __init__(self, workdir, db=None, name="collector", extra=(), host="127.0.0.1"):
        self.workdir = Path(workdir)
        self.host = host  # the address both ports listen on
        self.db = db or str(self.workdir / "collector.db")
        self.name = name
        self.extra = list(extra)
        self.grpc_port = 0
        self.http_port = 0
        self.proc = None
        self.runs = 0

    def start(self, timeout=20):
        self.runs += 1
        self.err_path = self.workdir / ("%s-%d.err" % (self.name, self.runs))
        argv = [str(COLLECTOR_BIN), "--grpc-listen", "%s:%d" % (self.host, self.grpc_port),
                "--http-listen", "%s:%d" % (self.host, self.http_port), "--db", self.db] + self.extra
        with open(self.err_path, "wb") as err:
            self.proc = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                                         stderr=err, start_new_session=True)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            m = re.search(r"grpc port (\d+), dashboard and API -> https? port (\d+)", self.stderr())
            if m:
                self.grpc_port, self.http_port = int(m.group(1)), int(m.group(2))
                return self
            if self.proc.poll() is not None:
                raise AssertionError("collector exited %s at start:\n%s" % (self.proc.returncode, self.stderr()))
            time.sleep(0.05)
        raise AssertionError("collector did not start within %d s:\n%s" % (timeout, self.stderr()))

    def stderr(self):
        return self.err_path.read_text(errors="replace") if self.err_path.exists() else ""

    def alive(self):
        return self.proc is not None and self.proc.poll() is None

    def kill9(self):
        if self.alive():
            os.kill(self.proc.pid, signal.SIGKILL)
            self.proc.wait(10)

    def stop(self):
        """SIGTERM: a clean shutdown; returns the exit code."""
        if not self.alive():
            return self.proc.returncode if self.proc else None
        self.proc.send_signal(signal.SIGTERM)
        try:
            return self.proc.wait(15)
        except subprocess.TimeoutExpired:
            self.kill9()
            raise AssertionError("collector did not stop within 15 s of SIGTERM")

    def target(self):
        return "%s:%d" % (self.host, self.grpc_port)

    def rss_kb(self):
        try:
            for line in Path("/proc/%d/status" % self.proc.pid).read_text().splitlines():
                if line.startswith("VmHWM:"):
                    return int(line.split()[1])
        except OSError:
            pass
        return 0

    def metric(self, name):
        """Sum of all samples of metric `name` (exact name, any labels)."""
        _, text = get(self.http_port, "/metrics")
        total = 0.0
        for line in text.splitlines():
            if line.startswith(name + " ") or line.startswith(name + "{"):
                total += float(line.rsplit(" ", 1)[1])
        return total


def loadgen(target, *args, timeout=600):
    """Runs the load generator -> (exit code, stdout, stderr)."""
    p = subprocess.run([str(LOADGEN_BIN), "--target", target] + [str(a) for a in args],
                       capture_output=True, text=True, timeout=timeout)
    return p.returncode, p.stdout, p.stderr


# ---- PostgreSQL ------------------------------------------------------------------------------

class TempPostgres:
    """initdb + pg_ctl in a temp dir; unix socket only. start() -> reason string or None."""

    def __init__(self):
        self.dir = None
        self.pg_ctl = None

    def start(self):
        initdbs = sorted(glob.glob("/usr/lib/postgresql/*/bin/initdb"))
        if not initdbs:
            return "PostgreSQL is not installed (Debian package postgresql)"
        bindir = os.path.dirname(initdbs[-1])
        self.dir = tempfile.mkdtemp(prefix="stallscope-pg-")
        prefix = []
        if os.geteuid() == 0:  # initdb refuses root: run the server as postgres
            try:
                pw = pwd.getpwnam("postgres")
            except KeyError:
                return "running as root and there is no postgres user"
            os.chown(self.dir, pw.pw_uid, pw.pw_gid)
            prefix = ["runuser", "-u", "postgres", "--"]
        data = os.path.join(self.dir, "data")
        log = open(os.path.join(self.dir, "setup.log"), "ab")
        r = subprocess.run(prefix + [bindir + "/initdb", "-D", data, "-U", "postgres", "-A", "trust",
                                     "-E", "UTF8", "--no-sync"], stdout=log, stderr=log)
        if r.returncode != 0:
            return "initdb failed (see %s/setup.log)" % self.dir
        self.pg_ctl = prefix + [bindir + "/pg_ctl", "-D", data]
        r = subprocess.run(self.pg_ctl + ["-l", os.path.join(self.dir, "server.log"), "-w", "-t", "30",
                                          "-o", "-k %s -c listen_addresses= -p 5432" % self.dir, "start"],
                           stdout=log, stderr=log)
        if r.returncode != 0:
            self.pg_ctl = None
            return "pg_ctl start failed (see %s/server.log)" % self.dir
        return None

    def url(self):
        return "postgresql://postgres@/postgres?host=%s&port=5432" % self.dir

    def stop(self):
        if self.pg_ctl:
            subprocess.run(self.pg_ctl + ["-m", "immediate", "-w", "stop"], capture_output=True)
            self.pg_ctl = None
        if self.dir:
            shutil.rmtree(self.dir, ignore_errors=True)
            self.dir = None


# ---- headless Chromium --------------------------------------------------------------------------

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"


class PageCheck:
    def __init__(self):
        self.console_errors = []   # console.error / console.warn text
        self.exceptions = []       # uncaught exceptions
        self.log_errors = []       # browser log entries of level error (failed loads, CSP, ...)
        self.failed_requests = []  # network failures and HTTP >= 400
        self.facts = {}
        self.screenshot = None

    def problems(self):
        return self.console_errors + self.exceptions + self.log_errors + self.failed_requests


def check_page(url, screenshot_path, facts_js, ready_js="document.body && document.body.dataset.ready === '1'",
               timeout=45, width=1400, height=1000):
    """Loads `url` in headless Chromium, waits for `ready_js`, evaluates `facts_js` (an
    expression returning a JSON-able object) and saves a full-page PNG at `screenshot_path`."""
    import websocket  # python3-websocket

    profile = tempfile.mkdtemp(prefix="stallscope-chromium-")
    argv = [CHROMIUM, "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
            "--disable-background-networking", "--disable-component-update", "--disable-sync",
            "--user-data-dir=" + profile, "--remote-debugging-port=0", "--remote-allow-origins=*",
            "--window-size=%d,%d" % (width, height), "about:blank"]
    browser = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                               stderr=subprocess.DEVNULL, start_new_session=True)
    result = PageCheck()
    try:
        port_file = Path(profile) / "DevToolsActivePort"
        deadline = time.monotonic() + 30
        while not (port_file.exists() and port_file.read_text().strip()):
            if time.monotonic() > deadline or browser.poll() is not None:
                raise AssertionError("chromium did not start its DevTools endpoint")
            time.sleep(0.05)
        port = int(port_file.read_text().split()[0])
        targets = json.loads(_opener.open("http://127.0.0.1:%d/json/list" % port, timeout=10).read())
        page = next(t for t in targets if t.get("type") == "page")
        ws = websocket.create_connection(page["webSocketDebuggerUrl"], timeout=timeout, suppress_origin=True)
        next_id = [0]

        def handle_event(msg):
            method, params = msg.get("method"), msg.get("params", {})
            if method == "Runtime.consoleAPICalled" and params.get("type") in ("error", "warning", "assert"):
                text = " ".join(str(a.get("value", a.get("description", ""))) for a in params.get("args", []))
                result.console_errors.append("console.%s: %s" % (params["type"], text))
            elif method == "Runtime.exceptionThrown":
                d = params.get("exceptionDetails", {})
                result.exceptions.append("exception: %s %s" % (d.get("text"), d.get("exception", {}).get("description", "")))
            elif method == "Log.entryAdded" and params.get("entry", {}).get("level") == "error":
                e = params["entry"]
                result.log_errors.append("log %s: %s %s" % (e.get("source"), e.get("text"), e.get("url", "")))
            elif method == "Network.loadingFailed" and not params.get("canceled"):
                result.failed_requests.append("request failed: %s" % params.get("errorText"))
            elif method == "Network.responseReceived":
                r = params.get("response", {})
                if r.get("status", 200) >= 400:
                    result.failed_requests.append("HTTP %s for %s" % (r.get("status"), r.get("url")))

        def call(method, **params):
            next_id[0] += 1
            my_id = next_id[0]
            ws.send(json.dumps({"id": my_id, "method": method, "params": params}))
            while True:
                msg = json.loads(ws.recv())
                if msg.get("id") == my_id:
                    if "error" in msg:
                        raise AssertionError("DevTools %s: %s" % (method, msg["error"]))
                    return msg.get("result", {})
                handle_event(msg)

        for domain in ("Runtime", "Log", "Network", "Page"):
            call(domain + ".enable")
        call("Emulation.setDeviceMetricsOverride", width=width, height=height, deviceScaleFactor=1, mobile=False)
        call("Page.navigate", url=url)
        deadline = time.monotonic() + timeout
        while True:
            ready = call("Runtime.evaluate", expression=ready_js, returnByValue=True)
            if ready.get("result", {}).get("value") is True:
                break
            if time.monotonic() > deadline:
                raise AssertionError("page did not become ready within %d s" % timeout)
            time.sleep(0.2)
        time.sleep(0.5)  # late errors, if any
        facts = call("Runtime.evaluate", expression="JSON.stringify(%s)" % facts_js, returnByValue=True)
        result.facts = json.loads(facts.get("result", {}).get("value") or "{}")
        metrics = call("Page.getLayoutMetrics")
        size = metrics.get("cssContentSize") or metrics.get("contentSize")
        shot = call("Page.captureScreenshot", format="png", captureBeyondViewport=True,
                    clip={"x": 0, "y": 0, "width": size["width"], "height": size["height"], "scale": 1})
        Path(screenshot_path).write_bytes(base64.b64decode(shot["data"]))
        result.screenshot = str(screenshot_path)
        ws.close()
    finally:
        try:
            os.killpg(browser.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        browser.wait(10)
        shutil.rmtree(profile, ignore_errors=True)
    return result


def raw_send(port, payload, read=True, timeout=3):
    """Sends raw bytes to 127.0.0.1:port; returns what came back (b"" if closed/timeout)."""
    with socket.create_connection(("127.0.0.1", port), timeout=timeout) as s:
        if payload:
            s.sendall(payload)
        if not read:
            return b""
        data = b""
        try:
            while len(data) < 65536:
                chunk = s.recv(65536)
                if not chunk:
                    break
                data += chunk
        except (socket.timeout, ConnectionResetError):
            pass
        return data
