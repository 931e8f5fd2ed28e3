"""Stalling server for the accuracy benchmark (scripts/bench/accuracy.py).

    /usr/bin/python3 stall_server.py tornado|aiohttp|gevent PORT

GET /stall?cause=C&ms=N blocks the event loop for about N ms with cause C and logs the stall as
one JSON line to $STALL_LOG (tests/apps/stallkit.py's format, kind = cause) with two truths:
  start_unix_ns/end_unix_ns            the blocking work itself (wall clock, in the loop thread)
  busy_start_unix_ns/busy_end_unix_ns  the loop's whole busy period around it: from the return
      of the loop's epoll wait before the stall to the entry of the next one, stamped by the
      loop's own selector. This is what stallscope measures (request parsing and response
      writing included), so duration errors are judged against it. gevent's libev loop has no
      such hook (its check/prepare watchers do not bracket every wait), so gevent stalls carry
      the blocking-work truth only.
GET /fast answers at once (the benchmark polls it to know the server is up).

Causes (each one a different kernel picture of the same busy period):
    sleep     time.sleep                       -> clock_nanosleep, off-CPU
    cpu       pure-Python loop                 -> on-CPU, no syscalls
    upstream  blocking socket to a slow upstream ($UPSTREAM_PORT, stallkit's) -> recvfrom
    fsync     rewrite one 4 KiB block and fsync it until N ms passed -> pwrite/fsync, mixed
    lock      wait for a threading.Lock another thread holds for N ms -> futex
"""

import asyncio
import json
import os
import selectors
import sys
import tempfile
import threading
import time
import urllib.parse
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "apps"))
import stallkit  # noqa: E402  (tests/apps: the stall log and the slow upstream)

CAUSES = ("sleep", "cpu", "upstream", "fsync", "lock")
_lock = threading.Lock()
_fsync_path = os.path.join(os.environ.get("FSYNC_DIR") or tempfile.gettempdir(),
                           "stall_server-%d.fsync" % os.getpid())


class LoopClock(selectors.EpollSelector):
    """The loop's selector, stamping each wait's return and, when a stall happened since, the
    next wait's entry: the stall's busy period as the loop itself lived it."""

    returned_ns = 0
    pending = None   # a stall's record, logged once its busy period ends

    def select(self, timeout=None):
        if self.pending is not None:
            rec, self.pending = self.pending, None
            rec["busy_end_unix_ns"] = time.time_ns()
            _append_line(rec)
        events = super().select(timeout)
        self.returned_ns = time.time_ns()
        return events


class _Policy(asyncio.DefaultEventLoopPolicy):
    def new_event_loop(self):
        return asyncio.SelectorEventLoop(CLOCK)


CLOCK = LoopClock()


def _append_line(rec):
    path = os.environ.get("STALL_LOG")
    if path:   # one write() in append mode: lines from several servers never interleave
        fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
        try:
            os.write(fd, (json.dumps(rec) + "\n").encode())
        finally:
            os.close(fd)


def _fsync_for(ms):
    # One block rewritten in place: the file stays 4 KiB however long the stall.
    deadline = time.monotonic() + ms / 1000.0
    block = b"x" * 4096
    fd = os.open(_fsync_path, os.O_WRONLY | os.O_CREAT, 0o644)
    try:
        while time.monotonic() < deadline:
            os.pwrite(fd, block, 0)
            os.fsync(fd)
    finally:
        os.close(fd)


class _Blocking:
    """The blocking primitives a stall uses: the plain ones, or under gevent the originals that
    monkey-patching replaced (a patched sleep or socket would yield to the hub, not stall)."""
    sleep = staticmethod(time.sleep)
    socket_cls = None    # stallkit's default: socket.socket
    new_lock = staticmethod(threading.Lock)
    lock = _lock
    start_thread = None  # threading.Thread


def _lock_wait(ms):
    b = _Blocking
    held = b.new_lock()   # released by the holder once it has the lock
    held.acquire()

    def holder():
        with b.lock:
            held.release()
            b.sleep(ms / 1000.0)

    if b.start_thread:
        b.start_thread(holder, ())
    else:
        threading.Thread(target=holder, daemon=True).start()
    held.acquire()   # the holder has the lock now
    with b.lock:
        pass


def stall(app, cause, ms):
    """Blocks the calling (loop) thread; returns the response body."""
    cpu0 = time.thread_time_ns()
    start = time.time_ns()
    if cause == "sleep":
        _Blocking.sleep(ms / 1000.0)
    elif cause == "cpu":
        stallkit.busy_cpu(ms)
    elif cause == "upstream":
        if _Blocking.socket_cls:
            stallkit.call_upstream(ms, _Blocking.socket_cls)
        else:
            stallkit.call_upstream(ms)
    elif cause == "fsync":
        _fsync_for(ms)
    elif cause == "lock":
        _lock_wait(ms)
    else:
        raise ValueError(cause)
    end = time.time_ns()
    CLOCK.pending = {"app": app, "kind": cause, "pid": os.getpid(),
                     "tid": _native_tid(), "start_unix_ns": start,
                     "end_unix_ns": end, "ms": ms, "cpu_ns": time.thread_time_ns() - cpu0,
                     "busy_start_unix_ns": CLOCK.returned_ns}
    return "%s %s %d ms pid=%d tid=%d\n" % (app, cause, ms, os.getpid(), _native_tid())


def _native_tid():
    # Not threading.get_native_id(): gevent's monkey-patching may answer for greenlets.
    return int(os.readlink("/proc/thread-self").rsplit("/", 1)[1])


def _args(get):
    return get("cause") or "sleep", int(get("ms") or stallkit.DEFAULT_MS)


def run_tornado(port):
    import tornado.web

    class Fast(tornado.web.RequestHandler):
        def get(self):
            self.write(stallkit.fast_body())

    class Stall(tornado.web.RequestHandler):
        def get(self):  # synchronous handler: runs on the loop thread
            cause, ms = _args(lambda k: self.get_query_argument(k, None))
            self.write(stall("tornado", cause, ms))

    async def main():
        tornado.web.Application([(r"/fast", Fast), (r"/stall", Stall)]).listen(
            port, address="127.0.0.1")
        await asyncio.Event().wait()

    asyncio.run(main())


def run_aiohttp(port):
    from aiohttp import web

    async def fast(request):
        return web.Response(text=stallkit.fast_body())

    async def stall_handler(request):  # calls the blocking work directly: the loop stalls
        cause, ms = _args(request.query.get)
        return web.Response(text=stall("aiohttp", cause, ms))

    app = web.Application()
    app.add_routes([web.get("/fast", fast), web.get("/stall", stall_handler)])
    web.run_app(app, host="127.0.0.1", port=port, print=None, access_log=None)


class _LogAtOnce:
    """Stands in for LoopClock where the loop cannot be stamped: logs the record as set."""

    returned_ns = None

    @property
    def pending(self):
        return None

    @pending.setter
    def pending(self, rec):
        rec.pop("busy_start_unix_ns", None)
        _append_line(rec)


def run_gevent(port):
    from gevent import monkey
    monkey.patch_all()
    import gevent.pywsgi

    global CLOCK
    _Blocking.sleep = staticmethod(monkey.get_original("time", "sleep"))
    _Blocking.socket_cls = monkey.get_original("socket", "socket")
    _Blocking.new_lock = staticmethod(monkey.get_original("_thread", "allocate_lock"))
    _Blocking.lock = _Blocking.new_lock()
    _Blocking.start_thread = monkey.get_original("_thread", "start_new_thread")
    CLOCK = _LogAtOnce()

    def app(environ, start_response):
        if environ["PATH_INFO"] == "/stall":
            query = urllib.parse.parse_qs(environ.get("QUERY_STRING", ""))
            body = stall("gevent", *_args(lambda k: query.get(k, [None])[0]))
        else:
            body = stallkit.fast_body()
        start_response("200 OK", [("Content-Type", "text/plain")])
        return [body.encode()]

    gevent.pywsgi.WSGIServer(("127.0.0.1", port), app, log=None).serve_forever()


if __name__ == "__main__":
    kind, port = sys.argv[1], int(sys.argv[2])
    stallkit.ensure_upstream()   # gevent: set $UPSTREAM_PORT (a patched in-process one stalls)
    if kind == "gevent":
        run_gevent(port)
    else:
        asyncio.set_event_loop_policy(_Policy())   # both frameworks run on an asyncio loop
        {"tornado": run_tornado, "aiohttp": run_aiohttp}[kind](port)
