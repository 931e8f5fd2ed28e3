#!/usr/bin/python3
"""stallscope's performance benchmark (run it through scripts/bench.sh, which builds first).

All in one session, so the figures are ratios taken side by side:

1. Overhead on real servers (gunicorn gthread, gunicorn sync, Tornado) under wrk, 127.0.0.1
   only: per round one bare run and one run with each tool, the tools in a rotating order
   (overhead.py). Tools (tools.py): stallscope (attached to the master pid, follows its
   workers), libbpf-tools offcputime + syscount (one pair per serving process) and a bpftrace
   script measuring the same busy periods.
   The headline is CPU per request (server + wrk + tool), paired per round, with its 95%
   interval.
2. In-kernel cost of stallscope's programs from bpf_stats (kcost.py): (a) under wrk load,
   (b) untracked getppid() and epoll_wait(0) storms, (c) a tracked epoll_wait(0) storm.
3. Agent footprint: CPU (% of one core) and peak RSS, idle, under load and under many stalls.
4. Accuracy (accuracy.py): injected stalls in Tornado, aiohttp and gevent servers: recall,
   precision, duration error and time to first report, stallscope and the bpftrace script in
   alternating passes.
5. Syscall storms (storms.py): CPU per call of getppid, epoll_wait(0), a pipe write+read and a
   futex wake, in an untracked process and in a tracked one, with no agent, stallscope in each
   --syscall-hooks mode the agent offers, each mode's kernel mechanism alone (an empty
   program) and (untracked) the peers, in many short rounds.
6. A per-request cost account per server kind (report.py): programs x runs per request, the
   syscall slow path, the agent's CPU, against the measured CPU-per-request delta.

report.py turns the raw results into the tables. Writes bench-out/ (results.json, logs/,
runs/) and rewrites BENCHMARKS.md; with --quick (short runs, to try it out)
bench-out/results.quick.json and bench-out/BENCHMARKS.quick.md instead. Everything it starts
runs in its own process group and is killed on exit; bpf_stats and tracefs are put back.
"""

import argparse
import json
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import accuracy
import storms
from common import *  # noqa: F401,F403
from kcost import kernel_cost_under_load, phase_idle_and_storm
from overhead import overhead_run
from report import machine_info, render, summarize, write_markdown
from tools import ensure_tracefs, restore_tracefs


# ---- main ----------------------------------------------------------------------------------

def preflight():
    if os.geteuid() != 0:
        die("must run as root (BPF, bpf_stats, tracefs)")
    for tool in (AGENT_BUILT, PY, GUNICORN, WRK, OFFCPUTIME, SYSCOUNT, BPFTRACE, BPFTOOL, STDBUF):
        if not Path(tool).exists():
            die(f"missing {tool} (scripts/bench.sh installs the packages and builds the agent)")
    cp = subprocess.run([PY, "-c", "import tornado"], capture_output=True)
    if cp.returncode != 0:
        die(f"{PY} cannot import tornado (apt-get install python3-tornado)")
    if not STATS_SYSCTL.exists():
        die(f"{STATS_SYSCTL} missing: the kernel cannot report BPF program stats")
    shutil.copy2(AGENT_BUILT, AGENT)
    cc = shutil.which("cc") or shutil.which("gcc")
    if not cc:
        die("no C compiler (cc) for scripts/bench/storm.c")
    cp = subprocess.run([cc, "-O2", "-o", str(OUT / "storm"), str(ROOT / "scripts/bench/storm.c")],
                        capture_output=True, text=True)
    if cp.returncode != 0:
        die(f"cannot compile storm.c: {cp.stderr}")
    bench = ROOT / "scripts" / "bench"
    arch_inc = f"/usr/include/{os.uname().machine}-linux-gnu"
    for argv in (["clang", "-O2", "-g", "-target", "bpf", f"-I{arch_inc}", "-c",
                  bench / "floor.bpf.c", "-o", OUT / "floor.bpf.o"],
                 ["clang", "-O2", "-g", "-target", "bpf", f"-I{arch_inc}", "-c",
                  bench / "storm_ref.bpf.c", "-o", OUT / "storm_ref.bpf.o"],
                 [cc, "-O2", "-o", OUT / "floor_loader", bench / "floor_loader.c", "-lbpf"]):
        cp = subprocess.run([str(a) for a in argv], capture_output=True, text=True)
        if cp.returncode != 0:
            log(f"warning: cannot build the reference BPF programs, going on without: "
                f"{cp.stderr.strip()[:300]}")
            break
    else:
        STATE["floor_ok"] = True
    others = [p for p in os.listdir("/proc") if p.isdigit() and
              Path(f"/proc/{p}/comm").exists() and
              _comm(p) in ("stallscope", "wrk", "bpftrace", "offcputime", "syscount")]
    return others


def _comm(pid):
    try:
        return Path(f"/proc/{pid}/comm").read_text().strip()
    except OSError:
        return ""


def accuracy_only(R, P):
    R["accuracy"] = A = accuracy.run(P)
    AS = accuracy.summarize(A)
    raw = OUT / "results.accuracy.json"
    raw.write_text(json.dumps({"params": P, "machine": R["machine"], "accuracy": A,
                               "summary": AS}, indent=2, default=str) + "\n")
    print()
    print(accuracy.render(A, AS, P))
    for c in accuracy.checks(AS):
        print(f"{c[0]}: {c[1]} ({c[2]}) target {c[3]}: {verdict(c[4])}")
    log(f"wrote {raw.relative_to(ROOT)}")
    return 0


def storms_only(R, P):
    R["storms"] = St = storms.run(P)
    SS = storms.summarize(St)
    raw = OUT / ("results.storms.quick.json" if P["quick_arg"] else "results.storms.json")
    raw.write_text(json.dumps({"params": P, "machine": R["machine"], "storms": St,
                               "summary": SS}, indent=2, default=str) + "\n")
    print()
    print(storms.render(St, SS, P))
    print()
    for c in SS["checks"]:
        print(f"{c[0]}: {c[1]} ({c[2]}) target {c[3]}: {verdict(c[4])}")
    log(f"wrote {raw.relative_to(ROOT)}")
    return 0


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--quick", action="store_true",
                    help="short runs to try the benchmark out (writes bench-out/ only)")
    ap.add_argument("--rounds", type=int, help="rounds per server (default 5, --quick 1)")
    ap.add_argument("--only", choices=["overhead", "accuracy", "storms"],
                    help="run one part (a try-out: writes bench-out/ only, not BENCHMARKS.md)")
    ap.add_argument("--render", metavar="RESULTS_JSON",
                    help="measure nothing: rewrite the report from a results.json of an "
                         "earlier run")
    args = ap.parse_args()
    if args.render:
        R = json.loads(Path(args.render).read_text())
        P = R["params"]
        S = summarize(R)
        body = render(R, S, P)
        md = OUT / "BENCHMARKS.quick.md" if P["quick"] else ROOT / "BENCHMARKS.md"
        write_markdown(R, S, P, body, md)
        print(body)
        log(f"rewrote {md.relative_to(ROOT)} from {args.render}")
        return 0
    P = dict(quick=args.quick, rounds=5, warmup_s=2, run_s=5, kcost_s=5, idle_s=8, idle2_s=4,
             storm_calls=3_000_000,
             storms_rounds=15, storms_calls=300_000, storms_budget_s=0.35,
             acc_per_kind=2, acc_passes=2, acc_s=30, burst_s=15)
    if args.quick:
        P.update(rounds=1, warmup_s=1, run_s=3, kcost_s=3, idle_s=3, idle2_s=2,
                 storm_calls=1_000_000,
                 storms_rounds=5, storms_calls=150_000, storms_budget_s=0.2,
                 acc_per_kind=1, acc_passes=1, acc_s=20, burst_s=8)
    P["quick_arg"] = bool(args.quick)
    P["quick"] = bool(args.quick or args.only)   # a partial run never rewrites BENCHMARKS.md
    P["only"] = args.only
    if args.rounds:
        P["rounds"] = args.rounds

    OUT.mkdir(exist_ok=True)
    if LOGS.exists():
        shutil.rmtree(LOGS)
    shutil.rmtree(OUT / "runs", ignore_errors=True)
    LOGS.mkdir()
    (OUT / "runs").mkdir()

    state = {}
    stats_orig = None
    t_start = time.monotonic()

    def on_signal(signum, frame):
        raise KeyboardInterrupt(f"signal {signum}")
    for sig in (signal.SIGTERM, signal.SIGHUP, signal.SIGINT):
        signal.signal(sig, on_signal)

    try:
        others = preflight()
        if others:
            log(f"warning: other tracing/load processes already running "
                f"({', '.join(_comm(p) + ' ' + p for p in others)}): figures will be noisier")
        stats_orig = STATS_SYSCTL.read_text().strip()
        set_bpf_stats(False)
        ensure_tracefs(state)
        R = {"params": P, "machine": machine_info(), "servers": list(SERVERS),
             "runs": [], "kcost": {}, "loadavg_start": Path("/proc/loadavg").read_text().strip()}
        if P["only"] == "accuracy":
            return accuracy_only(R, P)
        if P["only"] == "storms":
            return storms_only(R, P)
        log(f"{'quick' if P['quick'] else 'full'} run: {P['rounds']} round(s) x "
            f"{len(CONFIGS)} configs x {len(SERVERS)} servers, {P['warmup_s']}+{P['run_s']} s "
            f"each, then syscall storms and accuracy")
        for kind in R["servers"]:
            server = Server(kind)
            server.wait_ready()
            log(f"{kind} up on {server.url} (pids {server.pids()})")
            if kind == "gthread":
                R["storm"] = phase_idle_and_storm(server, P)
            agents = CONFIGS[1:]
            for rnd in range(1, P["rounds"] + 1):
                k = (rnd - 1) % len(agents)
                order = ["bare"] + agents[k:] + agents[:k]
                for config in order:
                    R["runs"].append(overhead_run(server, config, rnd, P))
            R["kcost"][kind] = kernel_cost_under_load(server, P)
            server.stop()
        if P["only"] != "overhead":
            R["storms"] = storms.run(P)
            R["accuracy"] = accuracy.run(P)
        R["loadavg_end"] = Path("/proc/loadavg").read_text().strip()
        R["wall_s"] = time.monotonic() - t_start
        S = summarize(R)
        R["summary"] = S
        raw = OUT / ("results.quick.json" if P["quick"] else "results.json")
        raw.write_text(json.dumps(R, indent=2, default=str) + "\n")
        body = render(R, S, P)
        print()
        print(body)
        print()
        md = OUT / "BENCHMARKS.quick.md" if P["quick"] else ROOT / "BENCHMARKS.md"
        write_markdown(R, S, P, body, md)
        log(f"wrote {md.relative_to(ROOT)} and {raw.relative_to(ROOT)} ({R['wall_s']:.0f} s)")
        fails = [c for c in S["checks"] if not c[4]]
        if fails:
            log(f"{len(fails)} target(s) FAIL: " + "; ".join(f"{c[0]} = {c[1]}" for c in fails))
        return 0
    except BenchError as e:
        print(f"\nbench: error: {e}", file=sys.stderr)
        return 1
    except KeyboardInterrupt as e:
        print(f"\nbench: interrupted ({e})", file=sys.stderr)
        return 130
    finally:
        kill_all()
        if stats_orig is not None:
            STATS_SYSCTL.write_text(stats_orig + "\n")
        restore_tracefs(state)
        (OUT / "live-pgids").unlink(missing_ok=True)


if __name__ == "__main__":
    sys.exit(main())

