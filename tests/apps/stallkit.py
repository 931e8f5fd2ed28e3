"""Shared pieces of the stallscope test apps: the stalls themselves, their log, the slow upstream.

Every app exposes the same endpoints and delegates the blocking work to `run_stall`, which
measures the true wall time of the blocking work and appends one JSON line per stall to the file
named by $STALL_LOG:

    {"app": "tornado", "kind": "sleep", "pid": 123, "tid": 123,
     "start_unix_ns": ..., "end_unix_ns": ..., "ms": 300, "cpu_ns": ...}

cpu_ns is the thread's CPU time during the stall (CLOCK_THREAD_CPUTIME_ID), so tests can tell a
busy machine (a CPU burn that got less CPU than wall time) from a wrong on-CPU figure.

Endpoints (query parameter `ms`, default 100):
    /fast      returns at once ("fast pid=P tid=T"), no stall, not logged
    /sleep     time.sleep(ms)                          -> clock_nanosleep in the loop thread
    /cpu       pure-Python busy loop for ms            -> on-CPU, no syscalls
    /upstream  blocking socket (no timeout) to the slow upstream, which answers after ms
                                                        -> connect + sendto + recvfrom blocks
    /nested    same, but with a socket timeout set     -> CPython poll()s before each recv
    /hang      time.sleep(ms), meant for multi-second hangs
    /deferred  the same busy loop as /cpu. The asyncio app answers first and runs it from the
               loop's next iteration (call_soon), whose wait then returns without sleeping

The slow upstream is a tiny TCP server: a client sends "<ms>\\n", the server waits ms and answers
"ok <ms>\\n", then closes. Run it as its own process (`python3 stallkit.py upstream PORT`, the
harness does this and passes $UPSTREAM_PORT to the apps), or in-process with
`start_upstream_thread()` for apps started by hand without $UPSTREAM_PORT.
"""

import json
import os
import socket
import sys
import threading
import time
import urllib.parse

KINDS = ("sleep", "cpu", "upstream", "nested", "hang", "deferred")
DEFAULT_MS = 100
_log_lock = threading.Lock()
_upstream_port = None


def native_tid():
    """The OS thread id (threading.get_native_id is 3.8+; the tests also run 3.7)."""
    if hasattr(threading, "get_native_id"):
        return threading.get_native_id()
    import ctypes
    gettid = {"x86_64": 186, "aarch64": 178}[os.uname().machine]
    return ctypes.CDLL(None).syscall(gettid)


def env_port(argv=None, default=8000):
    """The port to listen on: argv[1] if given, else $PORT, else `default`."""
    argv = sys.argv if argv is None else argv
    if len(argv) > 1:
        return int(argv[1])
    return int(os.environ.get("PORT", default))


def announce_ready(app):
    """Prints READY to stdout and, when $READY_FILE is set, appends "READY <pid> <app>" to it.

    Gunicorn workers call this when their app module is imported, so the harness can tell which
    worker processes are up (the master binds the port before any worker exists).
    """
    print("READY", flush=True)
    path = os.environ.get("READY_FILE")
    if path:
        with _log_lock, open(path, "a") as f:
            f.write("READY %d %s\n" % (os.getpid(), app))


def log_stall(app, kind, ms, start_ns, end_ns, cpu_ns=None):
    path = os.environ.get("STALL_LOG")
    if not path:
        return
    line = json.dumps({
        "app": app,
        "kind": kind,
        "pid": os.getpid(),
        "tid": native_tid(),
        "start_unix_ns": start_ns,
        "end_unix_ns": end_ns,
        "ms": ms,
        "cpu_ns": cpu_ns,
    })
    # One write() of a whole line in append mode: lines from several workers never interleave.
    with _log_lock:
        fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
        try:
            os.write(fd, (line + "\n").encode())
        finally:
            os.close(fd)


def parse_ms(query):
    """`ms` from a query string ("ms=300&x=1"), DEFAULT_MS when missing or malformed."""
    values = urllib.parse.parse_qs(query or "").get("ms")
    try:
        return max(0, int(values[0]))
    except (TypeError, ValueError, IndexError):
        return DEFAULT_MS


def upstream_port():
    if _upstream_port is not None:
        return _upstream_port
    value = os.environ.get("UPSTREAM_PORT")
    if not value:
        raise RuntimeError("no upstream: set UPSTREAM_PORT or call start_upstream_thread()")
    return int(value)


def fast_body():
    """The body of /fast: names the process and thread that served it."""
    return "fast pid=%d tid=%d\n" % (os.getpid(), native_tid())


def busy_cpu(ms):
    """Burns CPU in pure Python until `ms` elapsed (perf_counter is vDSO: no syscalls)."""
    deadline = time.perf_counter() + ms / 1000.0
    n = 0
    while time.perf_counter() < deadline:
        n += 1
    return n


def call_upstream(ms, socket_cls=socket.socket, timeout=None):
    """Asks the slow upstream to answer after `ms`; returns its answer.

    timeout=None: a plain blocking socket, the thread blocks inside recvfrom().
    timeout=seconds: CPython then waits in poll() on the fd before each recv (and the connect).
    """
    s = socket_cls(socket.AF_INET, socket.SOCK_STREAM)
    try:
        if timeout is not None:
            s.settimeout(timeout)
        s.connect(("127.0.0.1", upstream_port()))
        s.sendall(b"%d\n" % ms)
        data = b""
        while not data.endswith(b"\n"):
            chunk = s.recv(256)
            if not chunk:
                break
            data += chunk
        return data.decode(errors="replace").strip()
    finally:
        s.close()


def run_stall(app, kind, ms, sleep=time.sleep, socket_cls=socket.socket):
    """Does the blocking work of endpoint `kind` in the calling thread, logs it, returns a body.

    `sleep` and `socket_cls` let the gevent app pass the original, non-monkey-patched ones.
    """
    if kind not in KINDS:
        raise ValueError("unknown stall kind %r" % kind)
    cpu_start = time.thread_time_ns()
    start = time.time_ns()
    if kind in ("sleep", "hang"):
        sleep(ms / 1000.0)
        detail = "slept"
    elif kind in ("cpu", "deferred"):
        detail = "spun %d" % busy_cpu(ms)
    elif kind == "upstream":
        detail = call_upstream(ms, socket_cls)
    else:  # nested
        detail = call_upstream(ms, socket_cls, timeout=ms / 1000.0 + 10.0)
    end = time.time_ns()
    cpu_ns = time.thread_time_ns() - cpu_start
    log_stall(app, kind, ms, start, end, cpu_ns)
    return "%s %s %d ms: %s (%.1f ms)\n" % (app, kind, ms, detail, (end - start) / 1e6)


def wsgi_app(app, sleep=time.sleep, socket_cls=socket.socket):
    """A WSGI application serving the standard endpoints (gunicorn sync and gevent apps)."""

    def application(environ, start_response):
        path = environ.get("PATH_INFO", "/")
        kind = path.strip("/")
        if path == "/fast":
            status, body = "200 OK", fast_body()
        elif kind in KINDS:
            ms = parse_ms(environ.get("QUERY_STRING"))
            status, body = "200 OK", run_stall(app, kind, ms, sleep, socket_cls)
        else:
            status, body = "404 Not Found", "not found\n"
        data = body.encode()
        start_response(status, [("Content-Type", "text/plain"),
                                ("Content-Length", str(len(data)))])
        return [data]

    return application


# ---- the slow upstream ------------------------------------------------------------------------

def _serve_upstream_conn(conn):
    try:
        data = b""
        while not data.endswith(b"\n") and len(data) < 64:
            chunk = conn.recv(64)
            if not chunk:
                return
            data += chunk
        try:
            ms = int(data.strip() or b"0")
        except ValueError:
            ms = 0
        time.sleep(ms / 1000.0)
        conn.sendall(b"ok %d\n" % ms)
    except OSError:
        pass
    finally:
        conn.close()


def _upstream_accept_loop(listener):
    while True:
        conn, _ = listener.accept()
        threading.Thread(target=_serve_upstream_conn, args=(conn,), daemon=True).start()


def make_upstream_listener(port=0):
    listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    listener.bind(("127.0.0.1", port))
    listener.listen(128)
    return listener


def start_upstream_thread():
    """Starts the slow upstream on a daemon thread of this process; returns its port."""
    global _upstream_port
    listener = make_upstream_listener(0)
    _upstream_port = listener.getsockname()[1]
    threading.Thread(target=_upstream_accept_loop, args=(listener,), daemon=True,
                     name="upstream").start()
    return _upstream_port


def ensure_upstream():
    """Uses $UPSTREAM_PORT when set, else starts an in-process upstream; returns the port."""
    if os.environ.get("UPSTREAM_PORT"):
        return upstream_port()
    return start_upstream_thread()


def main(argv):
    if len(argv) >= 2 and argv[1] == "upstream":
        port = int(argv[2]) if len(argv) > 2 else int(os.environ.get("PORT", 0))
        listener = make_upstream_listener(port)
        print("READY %d" % listener.getsockname()[1], flush=True)
        try:
            _upstream_accept_loop(listener)
        except KeyboardInterrupt:
            pass
        return 0
    print("usage: stallkit.py upstream [PORT]", file=sys.stderr)
    return 2


if __name__ == "__main__":
    sys.exit(main(sys.argv))
