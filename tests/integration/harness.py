"""Harness for stallscope's real-kernel tests.

Each tests/integration/test_*.py is run by ctest as `/usr/bin/python3 test_x.py` (as root) and
ends with `harness.main()`: exit 0 = all passed, 77 = skipped (the kernel/environment cannot run
BPF: not root, no /sys/kernel/btf/vmlinux, or the agent exits 4/5), 1 = something failed.

A test builds a `Session` (a temp dir plus every process it starts, all killed at the end, also
from atexit), starts a server from tests/apps (which logs its true stall times to STALL_LOG),
attaches the agent (`--format json --output FILE`), waits for "stallscope: attached" on the
agent's stderr, drives requests, stops the agent with SIGINT and matches the agent's final
loopBlock reports against the app's log.

Environment: STALLSCOPE_BIN (agent binary), STALLSCOPE_KEEP_TMP=1 keeps the temp dirs.
"""

import atexit
import collections
import json
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import unittest
import urllib.error
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
APPS = ROOT / "tests" / "apps"
PYTHON = "/usr/bin/python3"   # Debian's, with tornado/aiohttp/gevent/gunicorn (not pyenv's)
GUNICORN = "/usr/bin/gunicorn"
WRK = "/usr/bin/wrk"
STALLSCOPE_BIN = os.environ.get("STALLSCOPE_BIN") or str(ROOT / "build" / "bin" / "stallscope")

THRESHOLD_MS = 100
MS = 1_000_000  # ns
ATTACH_TIMEOUT_S = 30
STOP_TIMEOUT_S = 20
START_TIMEOUT_S = 30
STALL_GAP_S = 0.4          # idle time between stalls, so each is a separate busy period
MATCH_SLACK_NS = 50 * MS   # clock slack when deciding whether a report overlaps a true stall

EXIT_OK, EXIT_OTHER, EXIT_USAGE, EXIT_NO_PID, EXIT_PRIVILEGES, EXIT_KERNEL, EXIT_OUTPUT = 0, 1, 2, 3, 4, 5, 6
SKIP_EXIT_CODE = 77
ENV_SKIP = "environment cannot run BPF: "   # prefix of skip reasons that make the script exit 77

# ---- processes ----------------------------------------------------------------------------------

_live = []          # every Proc not yet killed, for atexit
_live_lock = threading.Lock()


def _kill_all_at_exit():
    with _live_lock:
        procs = list(_live)
    for p in procs:
        p.kill()


atexit.register(_kill_all_at_exit)


def _on_sigterm(signum, frame):
    # ctest's timeout sends SIGTERM/SIGKILL: clean up what we can and go.
    _kill_all_at_exit()
    os._exit(1)


signal.signal(signal.SIGTERM, _on_sigterm)


class Proc:
    """A subprocess in its own session / process group, stdout+stderr to files in `logdir`."""

    def __init__(self, name, argv, logdir, env=None, cwd=None):
        self.name = name
        self.argv = [str(a) for a in argv]
        self.out_path = Path(logdir) / ("%s.out" % name)
        self.err_path = Path(logdir) / ("%s.err" % name)
        with open(self.out_path, "wb") as out, open(self.err_path, "wb") as err:
            self.popen = subprocess.Popen(self.argv, stdin=subprocess.DEVNULL, stdout=out,
                                          stderr=err, env=env, cwd=cwd, start_new_session=True)
        self.pid = self.popen.pid
        self._killed = False
        with _live_lock:
            _live.append(self)

    def poll(self):
        return self.popen.poll()

    def alive(self):
        return self.popen.poll() is None

    def signal(self, sig):
        """Sends `sig` to the process itself (not its group)."""
        if self.popen.poll() is None:
            try:
                os.kill(self.pid, sig)
            except ProcessLookupError:
                pass

    def wait(self, timeout):
        """Exit code, or None if still running after `timeout` seconds."""
        try:
            return self.popen.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            return None

    def stdout(self):
        return self.out_path.read_text(errors="replace") if self.out_path.exists() else ""

    def stderr(self):
        return self.err_path.read_text(errors="replace") if self.err_path.exists() else ""

    def output_tail(self, n=40):
        text = ("--- %s stdout:\n%s--- %s stderr:\n%s" %
                (self.name, tail(self.stdout(), n), self.name, tail(self.stderr(), n)))
        return text

    def kill(self):
        """SIGKILLs the whole process group (gunicorn workers too) and reaps the leader."""
        if self._killed:
            return
        self._killed = True
        try:
            os.killpg(self.pid, signal.SIGKILL)
        except (ProcessLookupError, PermissionError):
            pass
        try:
            self.popen.wait(timeout=10)
        except subprocess.TimeoutExpired:
            pass
        with _live_lock:
            if self in _live:
                _live.remove(self)


def tail(text, n=40):
    lines = text.splitlines()
    if len(lines) > n:
        lines = ["[... %d lines ...]" % (len(lines) - n)] + lines[-n:]
    return "\n".join(lines) + ("\n" if lines else "")


def free_port():
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def port_open(port):
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=1):
            return True
    except OSError:
        return False


def wait_until(predicate, timeout, interval=0.05):
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() >= deadline:
            return value
        time.sleep(interval)


def children(pid):
    """PIDs whose parent is `pid` (scans /proc/*/stat)."""
    result = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            # Bytes: a process may name itself anything, invalid UTF-8 included.
            with open("/proc/%s/stat" % entry, "rb") as f:
                stat = f.read().decode("ascii", "replace")
        except OSError:
            continue
        fields = stat[stat.rfind(")") + 2:].split()
        if len(fields) > 1 and int(fields[1]) == pid:
            result.append(int(entry))
    return sorted(result)


def pid_exists(pid):
    return os.path.exists("/proc/%d" % pid)


def nonexistent_pid():
    """A PID that no process has right now."""
    with open("/proc/sys/kernel/pid_max") as f:
        pid_max = int(f.read())
    for pid in range(pid_max - 1, 1, -1):
        if not pid_exists(pid):
            return pid
    raise RuntimeError("no free pid")


# ---- HTTP ---------------------------------------------------------------------------------------

_opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))  # never use $http_proxy


def http_get(port, path, timeout=30):
    """GET http://127.0.0.1:port/path -> (status, body text). Does not raise on HTTP errors."""
    url = "http://127.0.0.1:%d%s" % (port, path)
    try:
        with _opener.open(url, timeout=timeout) as resp:
            return resp.status, resp.read().decode(errors="replace")
    except urllib.error.HTTPError as e:
        return e.code, e.read().decode(errors="replace")


def http_get_ok(port, path, timeout=30):
    status, body = http_get(port, path, timeout)
    if status != 200:
        raise AssertionError("GET %s on port %d: HTTP %d: %s" % (path, port, status, body[:200]))
    return body


def concurrent_gets(port, paths, timeout=30):
    """GETs all `paths` at once, one thread each; returns [(status, body) or exception]."""
    results = [None] * len(paths)

    def run(i, path):
        try:
            results[i] = http_get(port, path, timeout)
        except Exception as e:  # noqa: BLE001 - reported to the caller
            results[i] = e

    threads = [threading.Thread(target=run, args=(i, p), daemon=True) for i, p in enumerate(paths)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout + 5)
    return results


class KeepAliveConnection:
    """A raw HTTP/1.1 keep-alive connection.

    Tests keep one open and idle: it sits in the loop's epoll set next to the listener, which is
    what shows the agent that the thread multiplexes client connections (an event loop). A
    request on a fresh connection is often read before the loop ever waits on that connection.
    """

    def __init__(self, port, timeout=30):
        self.sock = socket.create_connection(("127.0.0.1", port), timeout=timeout)
        self.buf = b""

    def get(self, path):
        self.sock.sendall(("GET %s HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: keep-alive\r\n\r\n"
                           % path).encode())
        while b"\r\n\r\n" not in self.buf:
            self._fill()
        head, self.buf = self.buf.split(b"\r\n\r\n", 1)
        lines = head.decode("latin-1").split("\r\n")
        status = int(lines[0].split()[1])
        length = 0
        for line in lines[1:]:
            name, _, value = line.partition(":")
            if name.strip().lower() == "content-length":
                length = int(value.strip())
        while len(self.buf) < length:
            self._fill()
        body, self.buf = self.buf[:length], self.buf[length:]
        return status, body.decode(errors="replace")

    def _fill(self):
        chunk = self.sock.recv(65536)
        if not chunk:
            raise ConnectionError("keep-alive connection closed by the server")
        self.buf += chunk

    def close(self):
        try:
            self.sock.close()
        except OSError:
            pass


# ---- the app's own log of its true stalls -------------------------------------------------------

class TrueStall(collections.namedtuple("TrueStall",
                                       "app kind pid tid start_ns end_ns ms cpu_ns")):
    @property
    def duration_ns(self):
        return self.end_ns - self.start_ns

    def describe(self, origin_ns=None):
        at = ""
        if origin_ns is not None:
            at = " at +%.3fs" % ((self.start_ns - origin_ns) / 1e9)
        cpu = "" if self.cpu_ns is None else " (%.1f ms on CPU)" % (self.cpu_ns / MS)
        return ("true stall %s/%s?ms=%d pid %d tid %d%s lasting %.1f ms%s" %
                (self.app, self.kind, self.ms, self.pid, self.tid, at, self.duration_ns / MS, cpu))


def read_stall_log(path):
    stalls = []
    if not Path(path).exists():
        return stalls
    for line in Path(path).read_text().splitlines():
        if line.strip():
            d = json.loads(line)
            stalls.append(TrueStall(d["app"], d["kind"], d["pid"], d["tid"], d["start_unix_ns"],
                                    d["end_unix_ns"], d["ms"], d.get("cpu_ns")))
    return stalls


# ---- the agent's output -------------------------------------------------------------------------

def _u64(value):
    """proto3 JSON prints uint64 as a string; accept numbers too; missing -> 0."""
    if value is None or value == "":
        return 0
    return int(value)


class Syscall:
    def __init__(self, d):
        self.raw = d
        self.name = d.get("name", "")
        self.fd = int(d.get("fd", -1) if d.get("fd") is not None else -1)
        self.target = d.get("target", "")
        self.total_ns = _u64(d.get("totalNs"))
        self.count = int(d.get("count", 0) or 0)
        self.in_progress = bool(d.get("inProgress", False))

    def __repr__(self):
        return "%s(fd %d %r, %.1f ms x%d%s)" % (self.name, self.fd, self.target,
                                                self.total_ns / MS, self.count,
                                                ", in progress" if self.in_progress else "")


class LoopBlock:
    def __init__(self, d, line_no):
        self.raw = d
        self.line_no = line_no
        self.pid = int(d.get("pid", 0) or 0)
        self.tid = int(d.get("tid", 0) or 0)
        self.comm = d.get("comm", "")
        self.start_ns = _u64(d.get("startTimeUnixNano"))
        self.duration_ns = _u64(d.get("durationNs"))
        self.on_cpu_ns = _u64(d.get("onCpuNs"))
        self.off_cpu_ns = _u64(d.get("offCpuNs"))
        self.runqueue_ns = _u64(d.get("runqueueNs"))
        self.syscalls = [Syscall(s) for s in d.get("syscalls", [])]
        self.stack = d.get("stack", [])
        self.in_progress = bool(d.get("inProgress", False))
        self.seq = int(d.get("seq", 0) or 0)
        self.thread_exited = bool(d.get("threadExited", False))
        self.python_stack_status = d.get("pythonStackStatus", "")
        self.gil_holder_tid = int(d.get("gilHolderTid", 0) or 0)
        self.python_stack_reason = d.get("pythonStackReason", "")
        self.python_free_threaded = bool(d.get("pythonFreeThreaded", False))
        self.asyncio_task = d.get("asyncioTask", "")
        self.asyncio_coro = d.get("asyncioCoro", "")

    def python_frames(self):
        return [f for f in self.stack if f.get("kind") == "PYTHON"]

    @property
    def end_ns(self):
        return self.start_ns + self.duration_ns

    def overlap_ns(self, start_ns, end_ns):
        return min(self.end_ns, end_ns) - max(self.start_ns, start_ns)

    def describe(self, origin_ns=None):
        at = ""
        if origin_ns is not None:
            at = " at +%.3fs" % ((self.start_ns - origin_ns) / 1e9)
        return ("%sloopBlock pid %d tid %d (%s) seq %d%s lasting %.1f ms (cpu %.1f, off-cpu %.1f, "
                "runq %.1f) syscalls %s" %
                ("in-progress " if self.in_progress else "", self.pid, self.tid, self.comm,
                 self.seq, at, self.duration_ns / MS, self.on_cpu_ns / MS, self.off_cpu_ns / MS,
                 self.runqueue_ns / MS, self.syscalls[:6]))


class Reports:
    """The parsed `--format json` output of one agent run."""

    def __init__(self, text, complete):
        self.lines = []
        self.bad_lines = []
        lines = text.split("\n")
        if not complete:
            lines = lines[:-1]  # the last one may be half-written
        for i, line in enumerate(lines, 1):
            if not line.strip():
                continue
            try:
                self.lines.append((i, json.loads(line)))
            except ValueError:
                self.bad_lines.append((i, line))

    def of(self, key):
        return [(i, d[key]) for i, d in self.lines if key in d]

    def loop_blocks(self, final=None):
        """All loopBlock reports; final=True only finished ones, False only in-progress ones."""
        blocks = [LoopBlock(d, i) for i, d in self.of("loopBlock")]
        if final is not None:
            blocks = [b for b in blocks if b.in_progress != final]
        return blocks

    def finals(self):
        return self.loop_blocks(final=True)

    def in_progress(self):
        return self.loop_blocks(final=False)

    def process_events(self, kind=None):
        events = [d for _, d in self.of("processEvent")]
        if kind is not None:
            events = [e for e in events if _event_kind(e) == kind]
        return events

    def agent_stats(self):
        stats = [d for _, d in self.of("agentStats")]
        return stats[-1] if stats else None


_EVENT_KINDS = {0: "KIND_UNSPECIFIED", 1: "ATTACHED", 2: "FORKED", 3: "EXECED", 4: "EXITED"}


def _event_kind(event):
    kind = event.get("kind", "KIND_UNSPECIFIED")
    return _EVENT_KINDS.get(kind, str(kind)) if isinstance(kind, int) else kind


class EnvironmentSkip(unittest.SkipTest):
    pass


def bpf_unavailable_reason():
    if os.geteuid() != 0:
        return "not running as root"
    if not os.path.exists("/sys/kernel/btf/vmlinux"):
        return "no /sys/kernel/btf/vmlinux (kernel without BTF)"
    return None


def require_bpf():
    reason = bpf_unavailable_reason()
    if reason:
        raise EnvironmentSkip(ENV_SKIP + reason)


def require_agent_binary():
    if not os.access(STALLSCOPE_BIN, os.X_OK):
        raise AssertionError("agent binary %s does not exist or is not executable (build it, or "
                             "set STALLSCOPE_BIN)" % STALLSCOPE_BIN)


class Agent:
    """One `stallscope attach` run with --format json --output FILE."""

    def __init__(self, session, pids, threshold_ms=THRESHOLD_MS, duration=None, extra=(),
                 name="agent", wrap=None):
        """wrap: argv prefix the agent runs under (e.g. unshare ... sh -c '...; exec "$@"' sh)."""
        require_agent_binary()
        self.session = session
        self.output = session.dir / ("%s.jsonl" % name)
        argv = [STALLSCOPE_BIN, "attach"]
        for pid in pids:
            argv += ["--pid", str(pid)]
        if duration is not None:
            argv += ["--duration", str(duration)]
        argv += ["--block-threshold-ms", str(threshold_ms), "--format", "json",
                 "--output", str(self.output)]
        argv += list(extra)
        if wrap:
            argv = list(wrap) + argv
        self.started = time.monotonic()
        self.proc = session.spawn(name, argv)
        self.exit_code = None

    def _exited_early(self, rc, what):
        stderr = self.proc.stderr()
        if rc in (EXIT_PRIVILEGES, EXIT_KERNEL):
            raise EnvironmentSkip(ENV_SKIP + "agent exited %d while %s: %s" %
                                  (rc, what, stderr.strip()[-500:]))
        raise AssertionError("agent exited %d while %s\n%s" % (rc, what, self.proc.output_tail()))

    def wait_attached(self, timeout=ATTACH_TIMEOUT_S):
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if any(line.startswith("stallscope: attached")
                   for line in self.proc.stderr().splitlines()):
                return
            rc = self.proc.poll()
            if rc is not None:
                self._exited_early(rc, "attaching")
            time.sleep(0.05)
        raise AssertionError("agent did not print 'stallscope: attached' within %d s\n%s" %
                             (timeout, self.proc.output_tail()))

    def reports_so_far(self):
        text = self.output.read_text(errors="replace") if self.output.exists() else ""
        return Reports(text, complete=False)

    def wait_for(self, predicate, timeout, interval=0.02):
        """Polls the output file until predicate(Reports) is truthy; returns (value, wall ns)."""
        deadline = time.monotonic() + timeout
        while True:
            value = predicate(self.reports_so_far())
            if value:
                return value, time.time_ns()
            if time.monotonic() >= deadline or not self.proc.alive():
                return None, time.time_ns()
            time.sleep(interval)

    def stop(self, timeout=STOP_TIMEOUT_S):
        """SIGINT, wait for exit code 0, return the parsed output."""
        if self.proc.alive():
            self.proc.signal(signal.SIGINT)
        rc = self.proc.wait(timeout)
        if rc is None:
            self.proc.kill()
            raise AssertionError("agent did not exit within %d s of SIGINT\n%s" %
                                 (timeout, self.proc.output_tail()))
        self.exit_code = rc
        if rc != 0:
            self._exited_early(rc, "stopping on SIGINT")
        return self.final_reports()

    def final_reports(self):
        text = self.output.read_text(errors="replace") if self.output.exists() else ""
        reports = Reports(text, complete=True)
        if reports.bad_lines:
            raise AssertionError("agent output %s has lines that are not JSON: %s" %
                                 (self.output, reports.bad_lines[:3]))
        return reports


# ---- a test session -----------------------------------------------------------------------------

def start_daemon(s, name, argv):
    """`stallscope daemon ARGV` in session `s` until its ready line: (process, ops port); the
    port is None when the daemon exited (a kernel or privileges that cannot run it skip)."""
    daemon = s.spawn(name, [STALLSCOPE_BIN, "daemon"] + [str(a) for a in argv])

    def ready():
        m = re.search(r"daemon ready: .*on port (\d+)", daemon.stderr())
        return int(m.group(1)) if m else None
    port = wait_until(lambda: ready() or not daemon.alive(), ATTACH_TIMEOUT_S)
    if not daemon.alive():
        rc = daemon.poll()
        if rc in (EXIT_PRIVILEGES, EXIT_KERNEL):
            raise EnvironmentSkip(ENV_SKIP + "daemon exited %d" % rc)
        return daemon, None
    if not port:
        raise AssertionError("daemon gave no ready line\n%s" % daemon.output_tail())
    return daemon, port


class Session:
    """Owns a temp dir and every process a test starts; close() kills them all."""

    def __init__(self, name):
        self.name = name
        self.dir = Path(tempfile.mkdtemp(prefix="stallscope-%s-" % name))
        self.stall_log = self.dir / "stalls.jsonl"
        self.ready_file = self.dir / "ready"
        self.procs = []
        self.upstream_port = None
        self.origin_ns = time.time_ns()
        self._keepalives = []

    def spawn(self, name, argv, env=None, cwd=None):
        proc = Proc(name, argv, self.dir, env=env, cwd=cwd)
        self.procs.append(proc)
        return proc

    def app_env(self, **extra):
        env = {k: v for k, v in os.environ.items()
               if not k.startswith("PYTHON") and k not in ("VIRTUAL_ENV",)}
        env.update({
            "PYTHONPATH": str(APPS),
            "PYTHONDONTWRITEBYTECODE": "1",
            "PYTHONUNBUFFERED": "1",
            "STALL_LOG": str(self.stall_log),
            "READY_FILE": str(self.ready_file),
        })
        if self.upstream_port:
            env["UPSTREAM_PORT"] = str(self.upstream_port)
        env.update({k: str(v) for k, v in extra.items()})
        return env

    def start_upstream(self):
        """The slow upstream as its own (untracked) process; returns its port."""
        port = free_port()
        proc = self.spawn("upstream", [PYTHON, APPS / "stallkit.py", "upstream", port],
                          env=self.app_env())
        self.wait_port(port, proc, "upstream")
        self.upstream_port = port
        return port

    def wait_port(self, port, proc, what, timeout=START_TIMEOUT_S):
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if port_open(port):
                return
            if not proc.alive():
                raise AssertionError("%s exited with %s before listening on %d\n%s" %
                                     (what, proc.poll(), port, proc.output_tail()))
            time.sleep(0.05)
        raise AssertionError("%s did not listen on port %d within %d s\n%s" %
                             (what, port, timeout, proc.output_tail()))

    def start_app(self, script, name=None):
        """A standalone app (tornado_app.py, ...) -> (Proc, port). Waits until /fast answers."""
        port = free_port()
        name = name or Path(script).stem
        proc = self.spawn(name, [PYTHON, APPS / script, port], env=self.app_env(), cwd=APPS)
        self.wait_port(port, proc, name)
        http_get_ok(port, "/fast")
        return proc, port

    def ready_pids(self):
        if not self.ready_file.exists():
            return []
        pids = []
        for line in self.ready_file.read_text().splitlines():
            parts = line.split()
            if len(parts) >= 2 and parts[0] == "READY":
                pids.append(int(parts[1]))
        return pids

    def ready_workers(self, master):
        """Children of `master` whose app module has been imported (they wrote READY)."""
        ready = set(self.ready_pids())
        return [pid for pid in children(master.pid) if pid in ready]

    def start_gunicorn(self, module, worker_class="sync", workers=1, name="gunicorn"):
        """gunicorn master serving tests/apps/<module>.py -> (master Proc, port).

        Waits until `workers` workers have imported the app and /fast answers."""
        port = free_port()
        argv = [PYTHON, GUNICORN, "-k", worker_class, "-w", workers,
                "-b", "127.0.0.1:%d" % port, "--chdir", APPS,
                "--keep-alive", "60", "--graceful-timeout", "2", "--timeout", "60",
                "%s:app" % module]
        master = self.spawn(name, argv, env=self.app_env(), cwd=APPS)
        self.wait_port(port, master, name)
        ok = wait_until(lambda: len(self.ready_workers(master)) >= workers or not master.alive(),
                        START_TIMEOUT_S)
        if not ok or not master.alive():
            raise AssertionError("gunicorn did not start %d workers within %d s\n%s" %
                                 (workers, START_TIMEOUT_S, master.output_tail()))
        http_get_ok(port, "/fast")
        return master, port

    def start_agent(self, pids, **kwargs):
        """Starts the agent and waits for 'stallscope: attached'."""
        agent = Agent(self, pids, **kwargs)
        agent.wait_attached()
        return agent

    def warm_up(self, port, requests=3):
        """Opens an idle keep-alive connection (kept until close()) after a few /fast requests
        on it, so the serving loop is seen multiplexing a client connection."""
        conn = KeepAliveConnection(port)
        self._keepalives.append(conn)
        body = ""
        for _ in range(requests):
            status, body = conn.get("/fast")
            if status != 200:
                raise AssertionError("warm-up GET /fast: HTTP %d %s" % (status, body))
        time.sleep(0.3)
        return body

    def stall(self, port, kind, ms, gap=STALL_GAP_S):
        """Requests one stall and waits `gap` afterwards so the next is a separate one."""
        body = http_get_ok(port, "/%s?ms=%d" % (kind, ms), timeout=30 + ms / 1000)
        time.sleep(gap)
        return body

    def true_stalls(self, kind=None):
        stalls = read_stall_log(self.stall_log)
        if kind is not None:
            stalls = [s for s in stalls if s.kind == kind]
        return stalls

    def close(self):
        for conn in self._keepalives:
            conn.close()
        for proc in reversed(self.procs):
            proc.kill()
        if os.environ.get("STALLSCOPE_KEEP_TMP") != "1":
            shutil.rmtree(self.dir, ignore_errors=True)


# ---- matching reports to true stalls ------------------------------------------------------------

def tolerance_ns(true_ns):
    return max(20 * MS, true_ns // 10)


def candidates(true, blocks):
    """Final reports on the true stall's tid that overlap it (with clock slack)."""
    return [b for b in blocks if b.tid == true.tid and
            b.overlap_ns(true.start_ns - MATCH_SLACK_NS, true.end_ns + MATCH_SLACK_NS) > 0]


def nearest(true, blocks):
    if not blocks:
        return None
    return min(blocks, key=lambda b: abs(b.start_ns - true.start_ns))


def describe_reports(blocks, origin_ns, limit=8):
    if not blocks:
        return "  (none)"
    lines = ["  " + b.describe(origin_ns) for b in blocks[:limit]]
    if len(blocks) > limit:
        lines.append("  ... %d more" % (len(blocks) - limit))
    return "\n".join(lines)


def match_stall(true, reports, origin_ns=None):
    """The final loopBlock report for `true` (same tid, overlapping, largest overlap), asserting
    its duration is within max(20 ms, 10%) of the true duration. Raises AssertionError with the
    true stall and the nearest reports otherwise."""
    blocks = reports.finals() if isinstance(reports, Reports) else list(reports)
    origin_ns = true.start_ns if origin_ns is None else origin_ns
    found = candidates(true, blocks)
    if not found:
        near = nearest(true, blocks)
        raise AssertionError(
            "no final loopBlock on tid %d overlaps the %s\n nearest report: %s\n all final "
            "reports:\n%s" % (true.tid, true.describe(origin_ns),
                              near.describe(origin_ns) if near else "(no reports at all)",
                              describe_reports(blocks, origin_ns)))
    best = max(found, key=lambda b: b.overlap_ns(true.start_ns, true.end_ns))
    diff = abs(best.duration_ns - true.duration_ns)
    if diff > tolerance_ns(true.duration_ns):
        raise AssertionError(
            "reported duration %.1f ms differs from the true %.1f ms by %.1f ms (> %.1f ms "
            "allowed)\n %s\n report: %s\n overlapping reports:\n%s" %
            (best.duration_ns / MS, true.duration_ns / MS, diff / MS,
             tolerance_ns(true.duration_ns) / MS, true.describe(origin_ns),
             best.describe(origin_ns), describe_reports(found, origin_ns)))
    return best


STALLKIT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "apps", "stallkit.py")


def stallkit_line_of(snippet):
    """Line numbers in tests/apps/stallkit.py whose source contains `snippet`."""
    with open(STALLKIT) as f:
        return [i for i, text in enumerate(f, 1) if snippet in text]


def assert_python_frame(report, function, line_snippets, caller=None):
    """The stall's innermost Python frame is `function` in stallkit.py, at a line whose source
    contains one of `line_snippets`; with `caller`, the next Python frame is that function."""
    frames = report.python_frames()
    what = "\n report: %s\n status %s\n stack %s" % (report.describe(), report.python_stack_status,
                                                    json.dumps(report.stack, indent=1)[:3000])
    if report.python_stack_status != "PYTHON_STACK_CAPTURED" or not frames:
        raise AssertionError("no Python frames captured for the stall%s" % what)
    top = frames[0]
    lines = sorted({n for snip in line_snippets for n in stallkit_line_of(snip)})
    if top.get("function") != function or not top.get("file", "").endswith("stallkit.py") \
            or int(top.get("line", 0)) not in lines:
        raise AssertionError("innermost Python frame is %s (%s:%s), expected %s (stallkit.py, one "
                             "of lines %s)%s" % (top.get("function"), top.get("file"),
                                                 top.get("line"), function, lines, what))
    if caller is not None:
        if len(frames) < 2 or frames[1].get("function") != caller:
            raise AssertionError("the caller of %s should be %s%s" % (function, caller, what))


def assert_sleep_stall(report):
    """time.sleep on the loop: blocked in clock_nanosleep, called from run_stall's sleep line."""
    if "clock_nanosleep" not in [c.name for c in report.syscalls]:
        raise AssertionError("sleep stall without clock_nanosleep: %s" % report.describe())
    assert_python_frame(report, "run_stall", ["sleep(ms / 1000.0)"])


def assert_no_unexplained(reports, trues, origin_ns):
    """Every final report matches a stall the app logged."""
    extra = unexplained(reports, trues, origin_ns)
    if extra:
        raise AssertionError("final reports matching no true stall:\n%s" %
                             describe_reports(extra, origin_ns))


def assert_upstream_stall(report, upstream_port):
    """A blocking call to the slow upstream: a recv-family syscall on the upstream connection,
    and call_upstream (called by run_stall) as the innermost Python frame."""
    target = "127.0.0.1:%d" % upstream_port
    recvs = [c for c in report.syscalls
             if c.name in ("recvfrom", "read", "recvmsg", "recv") and target in c.target]
    if not recvs:
        raise AssertionError("upstream stall should show a recv-family call on %s: %s" %
                             (target, report.describe()))
    assert_python_frame(report, "call_upstream", ["chunk = s.recv(256)"], caller="run_stall")


def assert_cpu_stall(true, report, origin_ns=None):
    """A CPU burn: on-CPU >= 70% of the reported duration. When the machine was busy (the app's
    own thread CPU clock says it got < 80% of the wall time, the rest waiting for a CPU), the
    70% rule cannot hold; then on-CPU must not fall short of the app's CPU time by more than
    max(20 ms, 10%) and on-CPU + run-queue must cover >= 90% of the duration. (It may exceed the
    thread CPU clock: the kernel's per-thread CPU time leaves out interrupt and hypervisor steal
    time, which the scheduler-switch timestamps we report include.)"""
    origin_ns = true.start_ns if origin_ns is None else origin_ns
    what = "\n %s\n report: %s" % (true.describe(origin_ns), report.describe(origin_ns))
    assert_python_frame(report, "busy_cpu", ["while time.perf_counter() < deadline", "n += 1"],
                        caller="run_stall")
    if true.cpu_ns is None or true.cpu_ns >= 0.8 * true.duration_ns:
        if report.on_cpu_ns < 0.7 * report.duration_ns:
            raise AssertionError("cpu stall: on-CPU %.1f ms < 70%% of %.1f ms%s" %
                                 (report.on_cpu_ns / MS, report.duration_ns / MS, what))
        return
    sys.stderr.write("note: machine busy, the cpu stall got only %.0f%% CPU; checking on-CPU "
                     "against the app's CPU clock\n" % (100.0 * true.cpu_ns / true.duration_ns))
    if true.cpu_ns - report.on_cpu_ns > tolerance_ns(true.cpu_ns):
        raise AssertionError("cpu stall: on-CPU %.1f ms vs the thread's CPU clock %.1f ms%s" %
                             (report.on_cpu_ns / MS, true.cpu_ns / MS, what))
    if report.on_cpu_ns + report.runqueue_ns < 0.9 * report.duration_ns:
        raise AssertionError("cpu stall: on-CPU + run-queue %.1f ms < 90%% of %.1f ms%s" %
                             ((report.on_cpu_ns + report.runqueue_ns) / MS,
                              report.duration_ns / MS, what))


def starved(block):
    """True when a report is mostly run-queue time: the loop was ready but the (overloaded)
    machine gave it no CPU. That is real latency, not a false stall, but no test caused it."""
    return block.runqueue_ns >= block.duration_ns // 2


def without_starved(blocks, origin_ns=None):
    """`blocks` minus starved ones, with a note on stderr for each one dropped."""
    kept = []
    for b in blocks:
        if starved(b):
            sys.stderr.write("note: ignoring a report of CPU starvation (machine overloaded): "
                             "%s\n" % b.describe(origin_ns))
        else:
            kept.append(b)
    return kept


def unexplained(reports, trues, origin_ns=None):
    """Final reports that overlap no true stall on their tid (CPU-starvation reports aside)."""
    result = []
    for b in reports.finals():
        if not any(b.tid == t.tid and
                   b.overlap_ns(t.start_ns - MATCH_SLACK_NS, t.end_ns + MATCH_SLACK_NS) > 0
                   for t in trues):
            result.append(b)
    return without_starved(result, origin_ns)


def the_stall(session, kind):
    """The one true stall of `kind` in the session's log."""
    stalls = session.true_stalls(kind)
    if len(stalls) != 1:
        raise AssertionError("expected exactly one true %s stall in %s, found %d: %s" %
                             (kind, session.stall_log, len(stalls), stalls))
    return stalls[0]


# ---- running a test script ----------------------------------------------------------------------


class LoopStallCases:
    """Mixin for a TestCase whose setUpClass sets s (Session), app, up_port, reports and trues
    (see observe_stalls): each kind of stall the app logged is reported on the loop thread with
    the culprit frame right, and nothing is reported that the app did not log."""
    LOOP_THREAD = "the stall is on the loop thread"  # assertion message: which thread stalls
    SLEEP_KINDS = ("sleep",)  # true-stall kinds checked as sleeps

    @classmethod
    def warm_up(cls, port):
        cls.s.warm_up(port)

    @classmethod
    def observe_stalls(cls, port, stalls):
        """Warm up, attach the agent to cls.app, run `stalls` ((path, ms), ...) and keep the
        agent's reports and the app's true stalls."""
        s = cls.s
        cls.warm_up(port)
        agent = s.start_agent([cls.app.pid])
        cls.warm_up(port)
        s.stall_log.write_text("")
        for path, ms in stalls:
            s.stall(port, path, ms)
        cls.reports = agent.stop()
        cls.trues = s.true_stalls()

    def matches(self, kind):
        trues = [t for t in self.trues if t.kind == kind]
        self.assertTrue(trues, "the app logged no %s stall" % kind)
        for true in trues:
            self.assertEqual(true.tid, self.app.pid, self.LOOP_THREAD)
            yield true, match_stall(true, self.reports, self.s.origin_ns)

    def test_sleep(self):
        for _, report in [m for kind in self.SLEEP_KINDS for m in self.matches(kind)]:
            assert_sleep_stall(report)

    def test_upstream(self):
        for _, report in self.matches("upstream"):
            assert_upstream_stall(report, self.up_port)

    def test_cpu(self):
        for true, report in self.matches("cpu"):
            assert_cpu_stall(true, report, self.s.origin_ns)

    def test_nothing_unexplained(self):
        assert_no_unexplained(self.reports, self.trues, self.s.origin_ns)


def wait_daemon_ready(daemon):
    """The port the daemon says it is ready on; skips where the host cannot run it, fails if it
    exits or is not ready within ATTACH_TIMEOUT_S."""
    def ready():
        m = re.search(r"daemon ready: .*on port (\d+)", daemon.stderr())
        return int(m.group(1)) if m else None
    port = wait_until(lambda: ready() or not daemon.alive(), ATTACH_TIMEOUT_S)
    if not daemon.alive():
        rc = daemon.poll()
        if rc in (EXIT_PRIVILEGES, EXIT_KERNEL):
            raise EnvironmentSkip(ENV_SKIP + "daemon exited %d: %s" % (rc, daemon.stderr()))
        raise AssertionError("daemon exited %s at start\n%s" % (rc, daemon.output_tail()))
    if not port:
        raise AssertionError("daemon not ready within %d s\n%s" % (ATTACH_TIMEOUT_S, daemon.output_tail()))
    return port


def process_events(output, reports=None):
    """The processEvent lines of a daemon's collector output file (or of `reports`)."""
    text = output.read_text() if output.exists() else ""
    reports = reports or Reports(text, complete=False)
    return [d for _, d in reports.lines if "processEvent" in d]


def wait_process_event(events, pid, kind, timeout):
    """The first processEvent of `kind` for `pid` in events() within timeout s, or None."""
    def found():
        return [e for e in events() if e["processEvent"].get("pid") == pid
                and e["processEvent"].get("kind") == kind]
    got = wait_until(found, timeout, interval=0.1)
    return got[0] if got else None


def main():
    """Runs the unittest cases of the calling script and exits 0 / 1 / 77 (skipped)."""
    sys.stdout.reconfigure(line_buffering=True)
    module = sys.modules["__main__"]
    suite = unittest.defaultTestLoader.loadTestsFromModule(module)
    runner = unittest.TextTestRunner(stream=sys.stdout, verbosity=2)
    result = runner.run(suite)
    bad = result.failures + result.errors
    failed_cases = sum(1 for t, _ in bad if isinstance(t, unittest.TestCase))
    skipped_cases = sum(1 for t, _ in result.skipped if isinstance(t, unittest.TestCase))
    failed = len(bad) + len(result.unexpectedSuccesses)
    skipped = len(result.skipped)
    passed = max(0, result.testsRun - failed_cases - skipped_cases -
                 len(result.unexpectedSuccesses))
    env_skips = [reason for _, reason in result.skipped if reason.startswith(ENV_SKIP)]
    print("%d passed, %d failed, %d skipped" % (passed, failed, skipped))
    _kill_all_at_exit()
    if failed:
        sys.exit(1)
    if env_skips or passed == 0:
        print("SKIPPED: %s" % (env_skips[0] if env_skips else "no test ran"))
        sys.exit(SKIP_EXIT_CODE)
    sys.exit(0)
