#!/usr/bin/python3
"""Load for the accuracy benchmark: one client thread per stall server, each asking its server
for stalls of random cause and length, one at a time, with fast requests in between.

    stall_driver.py --seconds S --seed N [--min-ms 50] [--max-ms 2000] PORT [PORT ...]

Lengths are log-uniform between --min-ms and --max-ms (as many 50-100 ms stalls as 1-2 s ones).
Every request opens a new connection, as browsers and proxies often do: the loop adds each
one to its epoll set, which is also how stallscope recognises it as a loop. A separate process
from the benchmark, so the benchmark's stamping of report arrival times never waits for it.
Prints one line per server at the end: "PORT stalls N fast N errors N".
"""

import argparse
import http.client
import math
import random
import sys
import threading
import time

CAUSES = ("sleep", "cpu", "upstream", "fsync", "lock")


def get(port, path, timeout):
    c = http.client.HTTPConnection("127.0.0.1", port, timeout=timeout)
    try:
        c.request("GET", path, headers={"Connection": "close"})
        r = c.getresponse()
        r.read()
        return r.status == 200
    finally:
        c.close()


def client(port, rng, deadline, args, counts):
    n = {"stalls": 0, "fast": 0, "errors": 0}
    counts[port] = n
    lo, hi = math.log(args.min_ms), math.log(args.max_ms)
    for _ in range(3):   # a few plain requests first, as any loop serves before it stalls
        n["fast"] += get(port, "/fast", 10)
    while time.monotonic() < deadline:
        cause = rng.choice(CAUSES)
        ms = int(round(math.exp(rng.uniform(lo, hi))))
        try:
            ok = get(port, f"/stall?cause={cause}&ms={ms}", 30)
            n["stalls" if ok else "errors"] += 1
            time.sleep(rng.uniform(args.min_gap, args.max_gap))
            for _ in range(rng.randint(1, 3)):
                n["fast"] += get(port, "/fast", 10)
        except OSError:
            n["errors"] += 1
            time.sleep(0.2)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--seconds", type=float, required=True)
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--min-ms", type=float, default=50)
    ap.add_argument("--max-ms", type=float, default=2000)
    ap.add_argument("--min-gap", type=float, default=0.1, help="seconds between stalls, min")
    ap.add_argument("--max-gap", type=float, default=0.4)
    ap.add_argument("ports", type=int, nargs="+")
    args = ap.parse_args()
    deadline = time.monotonic() + args.seconds
    counts = {}
    threads = [threading.Thread(target=client, daemon=True,
                                args=(p, random.Random(args.seed * 1000 + i), deadline, args,
                                      counts))
               for i, p in enumerate(args.ports)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    for p in args.ports:
        n = counts.get(p, {})
        print(f"{p} stalls {n.get('stalls', 0)} fast {n.get('fast', 0)} "
              f"errors {n.get('errors', 0)}", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
