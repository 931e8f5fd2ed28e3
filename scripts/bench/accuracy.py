"""Accuracy: injected stalls of known length and cause in real servers, against what stallscope
(and, in alternating passes, the bpftrace busy-period script) reports about them.

Servers: tests/bench-apps/stall_server.py, several Tornado, aiohttp and gevent (pywsgi)
processes side by side,
each driven by scripts/bench/stall_driver.py (one stall at a time per server, 50 ms - 2 s
log-uniform, five causes). Each server logs every stall twice over: the blocking work's start
and end, and the loop's busy period around it (its selector stamps the epoll wait's return
before the stall and the next wait's entry), which is what a tool measures and what it is
judged against. The tool runs with its output through a pipe; each line is stamped on arrival
(time to first report = arrival of the stall's first report, in progress or final, minus the
busy period's true start).

Matching: a report (stallscope: its in-progress and final lines, one `seq`; bpftrace: one line)
belongs to the true stall on the same pid and tid whose busy period it overlaps most, one to
one. recall = true stalls matched / true stalls; precision = reports matched / reports;
duration error = |reported - true busy period| from the final report. Against the blocking
work alone the reported period is longer by the request's parsing and the response's write
(well under a millisecond on a quiet machine, more when the loop waits for a CPU there); that
difference is kept as `work_ns` for the record.
"""

import json
import math
import os
import re
import signal
import statistics
import time
import urllib.request

from common import *  # noqa: F401,F403
from tools import Bpftrace, Stallscope

THRESHOLD_MS = 40           # below the shortest injected stall (50 ms), above any real request
APP_KINDS = ("tornado", "aiohttp", "gevent")
LENGTH_BUCKETS = ((50, 100), (100, 300), (300, 1000), (1000, 2001))
DRIVER = ROOT / "scripts" / "bench" / "stall_driver.py"
STALLKIT = ROOT / "tests" / "apps" / "stallkit.py"
TRUTH = OUT / "runs" / "accuracy-truth.jsonl"
# Burst pass: 45-80 ms stalls (all above the threshold) with at most 20 ms between them.
BURST_DRIVER_ARGS = ("--min-ms", 45, "--max-ms", 80, "--min-gap", 0, "--max-gap", 0.02)


def pctl(values, q):
    """Nearest-rank percentile (q in 0..100); None for no values."""
    if not values:
        return None
    v = sorted(values)
    return v[min(len(v) - 1, max(0, math.ceil(q / 100 * len(v)) - 1))]


# ---- servers -------------------------------------------------------------------------------

class StallServers:
    """A slow upstream (not tracked) and n stall servers of each kind in APP_KINDS."""

    def __init__(self, per_kind):
        self.upstream = Proc("acc-upstream", [PY, STALLKIT, "upstream", "0"])
        wait_for(lambda: "READY" in self.upstream.out(), 20, "the slow upstream",
                 [self.upstream])
        up_port = self.upstream.out().split()[1]
        env = dict(os.environ, STALL_LOG=str(TRUTH), UPSTREAM_PORT=up_port,
                   FSYNC_DIR=str(OUT / "runs"))
        self.servers = []   # (kind, port, Proc)
        for kind in APP_KINDS:
            for i in range(per_kind):
                port = free_port()
                p = Proc(f"acc-{kind}-{i}", [PY, APPS / "stall_server.py", kind, port], env=env)
                self.servers.append((kind, port, p))
        for kind, port, p in self.servers:
            wait_for(lambda: _answers(port), 30, f"the {kind} stall server on {port}", [p])
        self.pids = [p.pid for _, _, p in self.servers]
        self.ports = [port for _, port, _ in self.servers]
        self.kind_of = {p.pid: kind for kind, _, p in self.servers}

    def check_alive(self):
        for kind, port, p in self.servers:
            if not p.alive():
                die(f"the {kind} stall server on {port} died:\n{p.tail()}")

    def stop(self):
        for _, _, p in self.servers:
            p.stop(signal.SIGTERM, timeout=10)
        self.upstream.stop(signal.SIGTERM, timeout=5)


def _answers(port):
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/fast", timeout=2) as r:
            return r.status == 200
    except OSError:
        return False


# ---- reports -------------------------------------------------------------------------------

def stallscope_reports(lines):
    """One entry per stall stallscope reported: its in-progress and final lines share seq."""
    by_key, stats = {}, None
    for arrival, line in lines:
        try:
            msg = json.loads(line)
        except ValueError:
            continue
        if "agentStats" in msg:
            stats = msg["agentStats"]
        lb = msg.get("loopBlock")
        if not lb:
            continue
        key = (int(lb["pid"]), int(lb["tid"]), int(lb.get("seq", 0)))
        r = by_key.setdefault(key, {"pid": key[0], "tid": key[1], "first_arrival": arrival,
                                    "lines": 0, "final": False})
        r["lines"] += 1
        if r["final"]:
            continue   # a stray line after the final one changes nothing
        r["start"] = int(lb["startTimeUnixNano"])
        r["dur"] = int(lb["durationNs"])
        r["final"] = not lb.get("inProgress", False)
        r["on_cpu"] = int(lb.get("onCpuNs", 0))
        r["runq"] = int(lb.get("runqueueNs", 0))
        r["final_arrival"] = arrival
    return list(by_key.values()), stats


_BT_LINE = re.compile(r"^stall pid (\d+) tid (\d+) start_ns (\d+) dur_ns (\d+)")


def bpftrace_reports(lines, mono_to_unix):
    out = []
    for arrival, line in lines:
        m = _BT_LINE.match(line)
        if m:
            pid, tid, start, dur = (int(x) for x in m.groups())
            out.append({"pid": pid, "tid": tid, "start": start + mono_to_unix, "dur": dur,
                        "first_arrival": arrival, "final_arrival": arrival, "final": True,
                        "lines": 1})
    return out


def read_truth(t0, t1):
    out = []
    try:
        text = TRUTH.read_text()
    except OSError:
        return out
    for line in text.splitlines():
        try:
            s = json.loads(line)
        except ValueError:
            continue
        if t0 <= s["start_unix_ns"] < t1:
            # servers without the selector stamps (gevent): the blocking work is the only truth
            s["busy_truth"] = "busy_start_unix_ns" in s
            s.setdefault("busy_start_unix_ns", s["start_unix_ns"])
            s.setdefault("busy_end_unix_ns", s["end_unix_ns"])
            out.append(s)
    return out


def match(truth, reports):
    """Pairs each true stall with the report on its thread that overlaps it most (one to one).
    Returns [(truth, report or None)] and the reports left over."""
    by_thread = {}
    for r in reports:
        by_thread.setdefault((r["pid"], r["tid"]), []).append(r)
    used = set()
    pairs = []
    for t in sorted(truth, key=lambda s: s["busy_start_unix_ns"]):
        best, best_ov = None, 0
        for r in by_thread.get((t["pid"], t["tid"]), []):
            if id(r) in used:
                continue
            ov = (min(r["start"] + r["dur"], t["busy_end_unix_ns"]) -
                  max(r["start"], t["busy_start_unix_ns"]))
            if ov > best_ov:
                best, best_ov = r, ov
        if best is not None:
            used.add(id(best))
        pairs.append((t, best))
    return pairs, [r for r in reports if id(r) not in used]


# ---- one pass ------------------------------------------------------------------------------

def one_pass(tool, servers, P, idx, seed, seconds=None, driver_args=(), kind="accuracy"):
    tag = f"acc-{tool}-{idx}" if kind == "accuracy" else f"{kind}-{tool}-{idx}"
    seconds = seconds or P["acc_s"]
    servers.check_alive()
    t0 = time.time_ns()
    if tool == "stallscope":
        agent = Stallscope(servers.pids, tag, threshold_ms=THRESHOLD_MS, live=True)
        tool_pids = [agent.pid]
    else:
        agent = Bpftrace(servers.pids, tag, threshold_ms=THRESHOLD_MS, live=True)
        tool_pids = [agent.proc.pid]
    try:
        c0, m0 = sum(cpu_ticks(p) for p in tool_pids), time.monotonic()
        rc, out, err = run_child(f"driver-{tag}",
                                 [PY, DRIVER, "--seconds", seconds, "--seed", seed,
                                  *driver_args, *servers.ports], seconds + 60)
        if rc != 0:
            die(f"the stall driver failed ({tag}, exit {rc}): {out}{err}")
        time.sleep(1.0)   # the last stall's final report
        c1, m1 = sum(cpu_ticks(p) for p in tool_pids), time.monotonic()
        if tool == "stallscope":
            agent.poll_hwm()
        t1 = time.time_ns()
        mono_to_unix = time.time_ns() - time.monotonic_ns()
    finally:
        agent.stop()
    res = {"tool": tool, "pass": idx, "kind": kind, "seconds": (t1 - t0) / 1e9,
           "tool_cpu_pct": pct_of_core(c1 - c0, m1 - m0), "driver": out.strip()}
    if tool == "stallscope":
        reports, stats = stallscope_reports(agent.proc.lines)
        res["agent_stats"] = stats
        res["hwm_kb"] = agent.hwm_kb
    else:
        reports = bpftrace_reports(agent.proc.lines, mono_to_unix)
    truth = read_truth(t0, t1)
    # Every stall the driver got an answer for must be in the servers' log; fewer means a
    # server is not logging (e.g. its loop is not on the stamping selector) and recall lies.
    res["driver_stalls"] = sum(int(m) for m in re.findall(r" stalls (\d+)", out))
    if res["driver_stalls"] != len(truth):
        log(f"warning: {tag}: the driver completed {res['driver_stalls']} stalls, the servers "
            f"logged {len(truth)}")
    reports = [r for r in reports if r["start"] >= t0]
    pairs, extra = match(truth, reports)
    res["stalls"] = [_pair_row(t, r, servers) for t, r in pairs]
    res["unmatched_reports"] = [{k: r.get(k) for k in ("pid", "tid", "start", "dur", "final",
                                                        "on_cpu", "runq")} for r in extra]
    res["report_count"] = len(reports)
    s = summarize_pass(res)
    log(f"{tag}: {len(truth)} stalls, recall {fmt(s['recall'], 3)}, precision "
        f"{fmt(s['precision'], 3)}, abs. error p50 {fmt(s['err_p50_ms'], 2)} p99 "
        f"{fmt(s['err_p99_ms'], 2)} ms, first report p50 {fmt(s['ttfr_p50_ms'], 0)} p99 "
        f"{fmt(s['ttfr_p99_ms'], 0)} ms; tool {res['tool_cpu_pct']:.2f}% cpu")
    return res


def _pair_row(t, r, servers):
    start = t["busy_start_unix_ns"]
    row = {"app": servers.kind_of.get(t["pid"], t.get("app")), "cause": t["kind"],
           "ms": t["ms"], "pid": t["pid"], "tid": t["tid"], "start": start,
           "true_ns": t["busy_end_unix_ns"] - start,
           "work_ns": t["end_unix_ns"] - t["start_unix_ns"], "cpu_ns": t.get("cpu_ns"),
           "busy_truth": t.get("busy_truth", True)}
    if r is not None:
        row.update(reported_ns=r["dur"], start_offset_ns=r["start"] - start,
                   ttfr_ns=r["first_arrival"] - start, final=r["final"],
                   lines=r["lines"], runq_ns=r.get("runq"))
    return row


# ---- figures -------------------------------------------------------------------------------

def summarize_pass(res):
    return figures(res["stalls"], res["report_count"], len(res["unmatched_reports"]))


def cpu_waits(extra):
    """Unmatched reports that are mostly run-queue time: a loop that genuinely waited for a CPU
    past the threshold (a shared host), not a wrong report."""
    return [r for r in extra if r.get("runq") and r["runq"] >= 0.5 * r["dur"]]


def figures(stalls, n_reports, n_extra):
    found = [s for s in stalls if "reported_ns" in s]
    work = [(s["reported_ns"] - s["work_ns"]) / 1e6 for s in found if s["final"]]
    # Duration errors against the busy period; stalls with only the blocking-work truth
    # (gevent) count only where nothing else is there to judge (their own split row).
    judged = [s for s in found if s["final"] and s.get("busy_truth", True)]
    if not judged:
        judged = [s for s in found if s["final"]]
    errs = [abs(s["reported_ns"] - s["true_ns"]) / 1e6 for s in judged]
    signed = [(s["reported_ns"] - s["true_ns"]) / 1e6 for s in judged]
    ttfr = [s["ttfr_ns"] / 1e6 for s in found]
    return {
        "stalls": len(stalls), "found": len(found), "reports": n_reports, "extra": n_extra,
        "recall": len(found) / len(stalls) if stalls else None,
        "precision": (n_reports - n_extra) / n_reports if n_reports else None,
        "err_p50_ms": pctl(errs, 50), "err_p99_ms": pctl(errs, 99),
        "err_max_ms": max(errs) if errs else None,
        "signed_err_p50_ms": pctl(signed, 50),
        "over_work_p50_ms": pctl(work, 50), "over_work_p99_ms": pctl(work, 99),
        "ttfr_p50_ms": pctl(ttfr, 50), "ttfr_p99_ms": pctl(ttfr, 99),
        "ttfr_max_ms": max(ttfr) if ttfr else None,
    }


def summarize(A):
    """Per tool over all its passes, and stallscope's split by cause, app and length."""
    out = {}
    for tool in ("stallscope", "bpftrace", "burst"):
        if tool == "burst":
            passes = [p for p in A["passes"] if p.get("kind") == "burst"]
        else:
            passes = [p for p in A["passes"] if p["tool"] == tool and
                      p.get("kind", "accuracy") == "accuracy"]
        if not passes:
            continue
        stalls = [s for p in passes for s in p["stalls"]]
        extra = sum(len(p["unmatched_reports"]) for p in passes)
        f = figures(stalls, sum(p["report_count"] for p in passes), extra)
        f["extra_cpu_wait"] = sum(len(cpu_waits(p["unmatched_reports"])) for p in passes)
        f["tool_cpu_pct"] = statistics.median(p["tool_cpu_pct"] for p in passes)
        f["seconds"] = sum(p["seconds"] for p in passes)
        f["stalls_per_min"] = 60 * len(stalls) / f["seconds"] if f["seconds"] else None
        if tool != "bpftrace":
            f["hwm_kb"] = max(p.get("hwm_kb") or 0 for p in passes)
        if tool == "stallscope":
            split = {}
            for key, name in (("cause", "cause"), ("app", "app")):
                for v in sorted({s[key] for s in stalls}):
                    ss = [s for s in stalls if s[key] == v]
                    work_only = not any(s.get("busy_truth", True) for s in ss)
                    label = f"{name} {v}" + (" (error vs blocking work)" if work_only else "")
                    split[label] = figures(ss, 0, 0)
            for lo, hi in LENGTH_BUCKETS:
                ss = [s for s in stalls if lo <= s["ms"] < hi]
                split[f"{lo}-{min(hi, 2000)} ms"] = figures(ss, 0, 0)
            f["split"] = split
        out[tool] = f
    return out


def checks(AS):
    f = AS.get("stallscope")
    if not f:
        return []
    return [
        ("accuracy: recall", fmt(f["recall"], 3), f"{f['found']}/{f['stalls']}",
         f">= {TARGET_RECALL}", f["recall"] is not None and f["recall"] >= TARGET_RECALL, None),
        ("accuracy: precision", fmt(f["precision"], 3),
         f"{f['reports'] - f['extra']}/{f['reports']}" +
         (f"; {f['extra_cpu_wait']} of the others waited for a CPU" if f["extra_cpu_wait"]
          else ""), f">= {TARGET_PRECISION}",
         f["precision"] is not None and f["precision"] >= TARGET_PRECISION, None),
        ("accuracy: duration error p99 (ms)", fmt(f["err_p99_ms"], 2), "",
         f"<= {TARGET_P99_ERR_MS:g}",
         f["err_p99_ms"] is not None and f["err_p99_ms"] <= TARGET_P99_ERR_MS, None),
        # issue 2: a stall is visible within the threshold plus one second
        ("accuracy: first report, max (ms)", fmt(f["ttfr_max_ms"], 0),
         f"p99 {fmt(f['ttfr_p99_ms'], 0)}", f"<= {THRESHOLD_MS + 1000}",
         f["ttfr_max_ms"] is not None and f["ttfr_max_ms"] <= THRESHOLD_MS + 1000, None),
    ]


def run(P):
    TRUTH.unlink(missing_ok=True)
    servers = StallServers(P["acc_per_kind"])
    log(f"accuracy: {len(servers.pids)} stall servers up (pids {servers.pids}), "
        f"{P['acc_passes']} pass(es) per tool of {P['acc_s']} s, threshold {THRESHOLD_MS} ms")
    passes = []
    try:
        for i in range(P["acc_passes"]):
            order = ("stallscope", "bpftrace") if i % 2 == 0 else ("bpftrace", "stallscope")
            for tool in order:   # the same seed: both tools see the same stall sequence
                passes.append(one_pass(tool, servers, P, len(passes) + 1, seed=i + 1))
        # The agent's footprint at a high event rate: back-to-back short stalls on every server.
        passes.append(one_pass("stallscope", servers, P, len(passes) + 1, seed=100,
                               seconds=P["burst_s"], driver_args=BURST_DRIVER_ARGS,
                               kind="burst"))
    finally:
        servers.stop()
    return {"threshold_ms": THRESHOLD_MS, "servers": len(servers.pids), "kinds": APP_KINDS,
            "per_kind": P["acc_per_kind"], "passes": passes}


# ---- report --------------------------------------------------------------------------------

def _row(label, f, extra=(), precision=True):
    return (label, f["stalls"], fmt(f["recall"], 3),
            *([fmt(f["precision"], 3)] if precision else []),
            fmt(f["err_p50_ms"], 2), fmt(f["err_p99_ms"], 2), fmt(f["err_max_ms"], 1),
            fmt(f["signed_err_p50_ms"], 2),
            fmt(f["ttfr_p50_ms"], 0), fmt(f["ttfr_p99_ms"], 0),
            f"{fmt(f['over_work_p50_ms'], 2)} / {fmt(f['over_work_p99_ms'], 2)}", *extra)


def render(A, AS, P):
    out = []
    w = out.append
    n = A["servers"]
    w(f"## Accuracy (injected stalls, threshold {A['threshold_ms']} ms)\n")
    kinds = " + ".join(f"{A['per_kind']} {k}" for k in A.get("kinds", ("tornado", "aiohttp")))
    w(f"{n} servers side by side ({kinds}, "
      f"`tests/bench-apps/stall_server.py`), each asked for one stall at a time by "
      f"`scripts/bench/stall_driver.py`: 50 ms - 2 s log-uniform, cause drawn from sleep / "
      f"CPU loop / blocking call to a slow upstream / fsync / lock wait, 0.1-0.4 s and 1-3 fast "
      f"requests between stalls. The apps log each stall's true busy period (stamped by the "
      f"asyncio loop's own selector; gevent's libev loop cannot be stamped, so gevent stalls "
      f"are judged for recall and precision and their error shown against the blocking work "
      f"alone) and the blocking work inside it; the tools run with "
      f"{A['threshold_ms']} ms thresholds in alternating passes of {P['acc_s']} s against the "
      f"same servers.\n")
    rows = []
    for tool, label in (("stallscope", "stallscope"), ("bpftrace", "bpftrace busy periods")):
        f = AS.get(tool)
        if f:
            rows.append(_row(label, f, (fmt(f["tool_cpu_pct"], 2), fmt(f["stalls_per_min"], 0))))
    w(md_table(["tool", "true stalls", "recall", "precision", "abs. error p50 ms",
                "abs. error p99 ms", "abs. error max ms", "signed error p50 ms",
                "first report p50 ms", "first report p99 ms",
                "reported - blocking work p50 / p99 ms", "tool CPU %", "stalls/min"],
               rows))
    w("")
    f = AS.get("stallscope")
    if f:
        w("stallscope by cause, app and injected length:\n")
        w(md_table(["stalls", "n", "recall", "abs. error p50 ms", "abs. error p99 ms",
                    "abs. error max ms", "signed error p50 ms", "first report p50 ms",
                    "first report p99 ms", "reported - blocking work p50 / p99 ms"],
                   [_row(k, v, precision=False) for k, v in f["split"].items()]))
        w("")
    w("- error = reported duration (final report) - the true busy period: from the return of "
      "the loop's epoll wait before the stall to the entry of the next, stamped by the app's "
      "own selector. *reported - blocking work*: the same report against the app's stamps "
      "around the blocking call alone; the difference is the request's parsing and the "
      "response's write (and any wait for a CPU there), which belong to the stall. First "
      "report = arrival of the stall's first line (in progress or final) at the reader minus "
      "the busy period's true start. bpftrace prints a period only when it ends, so its first "
      "report comes after the whole stall.")
    b = AS.get("burst")
    if b:
        w(f"- burst pass ({b['seconds']:.0f} s, stallscope only, for the footprint at a high "
          f"event rate): 45-80 ms stalls with 0-20 ms between them, {b['stalls_per_min']:.0f} "
          f"stalls/min: recall {fmt(b['recall'], 3)}, precision {fmt(b['precision'], 3)} "
          f"({b['extra']} extra, {b['extra_cpu_wait']} of them waits for a CPU), "
          f"abs. error p99 {fmt(b['err_p99_ms'], 2)} ms, agent {fmt(b['tool_cpu_pct'], 2)}% of a "
          f"core, peak RSS {fmt(b['hwm_kb'] / 1024)} MB.")
    w("- precision counts every report in the window that matches no injected stall as false, "
      "whatever its cause (on a shared host a loop can genuinely wait 40 ms for a CPU).")
    ours = [p for p in A["passes"] if p["tool"] == "stallscope" and
            p.get("kind", "accuracy") == "accuracy"]
    misses = [s for p in ours for s in p["stalls"] if "reported_ns" not in s]
    worst = sorted((s for p in ours for s in p["stalls"]
                    if "reported_ns" in s and s.get("busy_truth", True)),
                   key=lambda s: -abs(s["reported_ns"] - s["true_ns"]))[:5]
    extra = [r for p in ours for r in p["unmatched_reports"]]
    if misses:
        w(f"- stallscope missed {len(misses)}: " + "; ".join(
            f"{s['app']} {s['cause']} {s['true_ns'] / 1e6:.0f} ms" for s in misses[:8]) +
            ("; ..." if len(misses) > 8 else ""))
    if worst:
        w("- largest errors: " + "; ".join(
            f"{s['app']} {s['cause']} {s['true_ns'] / 1e6:.1f} ms reported "
            f"{s['reported_ns'] / 1e6:.1f} ms (run queue {(s.get('runq_ns') or 0) / 1e6:.0f} ms)"
            for s in worst))
    if extra:
        w(f"- {len(extra)} report(s) matching no injected stall ({len(cpu_waits(extra))} mostly "
          f"run-queue time: the loop waited for a CPU): " + "; ".join(
            f"{r['dur'] / 1e6:.0f} ms (run queue {(r.get('runq') or 0) / 1e6:.0f} ms)"
            for r in extra[:8]))
    return "\n".join(out)
