"""stallscope's demo app: a Tornado server whose handlers stall the event loop in known ways.

  /fast              answers at once
  /sleep?ms=N        time.sleep(N ms) on the loop: blocked in clock_nanosleep
  /cpu?ms=N          pure-Python busy loop for N ms: on-CPU
  /upstream?ms=N     blocking recv() from a slow local upstream that answers after N ms
Each stall prints its true start and length, to compare with stallscope's reports.
"""
import socket
import sys
import threading
import time

import tornado.ioloop
import tornado.web


def log(kind, start, end):
    print(f"[demo app] {kind}: loop blocked for {(end - start) * 1000:.0f} ms", flush=True)


def slow_upstream(listener):
    while True:
        conn, _ = listener.accept()
        with conn:
            delay_ms = int(conn.recv(64) or b"0")
            time.sleep(delay_ms / 1000)
            conn.sendall(b"ok")


class Fast(tornado.web.RequestHandler):
    def get(self):
        self.write("fast\n")


class Sleep(tornado.web.RequestHandler):
    def get(self):
        start = time.time()
        time.sleep(int(self.get_argument("ms", "300")) / 1000)
        log("sleep", start, time.time())
        self.write("slept\n")


class Cpu(tornado.web.RequestHandler):
    def get(self):
        start = time.time()
        end = start + int(self.get_argument("ms", "200")) / 1000
        n = 0
        while time.time() < end:
            n += 1
        log("cpu", start, time.time())
        self.write(f"spun {n}\n")


class Upstream(tornado.web.RequestHandler):
    def get(self):
        start = time.time()
        with socket.create_connection(("127.0.0.1", UPSTREAM_PORT)) as s:
            s.sendall(self.get_argument("ms", "400").encode())
            s.recv(64)
        log("upstream", start, time.time())
        self.write("upstream answered\n")


if __name__ == "__main__":
    port = int(sys.argv[1]) if len(sys.argv) > 1 else 8888
    upstream = socket.create_server(("127.0.0.1", 0))
    UPSTREAM_PORT = upstream.getsockname()[1]
    threading.Thread(target=slow_upstream, args=(upstream,), daemon=True).start()
    app = tornado.web.Application([("/fast", Fast), ("/sleep", Sleep), ("/cpu", Cpu), ("/upstream", Upstream)])
    app.listen(port, address="127.0.0.1")
    print(f"[demo app] listening on 127.0.0.1:{port}", flush=True)
    tornado.ioloop.IOLoop.current().start()
