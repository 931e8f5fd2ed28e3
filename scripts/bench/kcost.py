"""In-kernel cost of stallscope's programs (bpf_stats) and the agent's idle footprint:
(a) under wrk load on a tracked server, (b) untracked getppid() and epoll_wait(0) storms,
(c) a tracked epoll_wait(0) storm. End-to-end storm costs (CPU per call, no agent against
each hook mode and the peers, many rounds) are storms.py's."""

import os
import re
import signal
import time
import urllib.request

from common import *  # noqa: F401,F403
from tools import Stallscope, start_floor


# ---- the phases ----------------------------------------------------------------------------

def storm(calls, tag, mode=None):
    """CPU ns per getppid() (mode "epoll": per empty epoll_wait) of an untracked process (wall
    time is kept in the logs)."""
    rc, out, err = run_child(f"storm-{tag}", [OUT / "storm", calls, *([mode] if mode else [])],
                             300)
    m = re.search(r"cpu_ns_per_call ([\d.]+)", out)
    if rc != 0 or not m:
        die(f"syscall storm failed ({tag}, exit {rc}): {out}{err}")
    return float(m.group(1))


def tracked_storm(calls, ids_of_agent):
    """Scenario (c): empty epoll_wait(0) calls from a process stallscope tracks: each runs the
    wait programs' tracked path (a busy period ends and one starts). Returns (CPU ns per call,
    stats_delta of the agent's programs plus the empty reference program)."""
    p = Proc("storm-tracked", [OUT / "storm", calls, "epoll", "hold"])
    wait_for(lambda: "ready" in p.out(), 30, "the tracked storm to start", [p])
    agent = ids_of_agent([p.pid])
    floor = start_floor("tracked-storm")
    ids = {**agent.prog_ids, **(floor.prog_ids if floor else {})}
    set_bpf_stats(True)
    try:
        s0, t0 = prog_stats(ids), time.monotonic()
        os.kill(p.pid, signal.SIGUSR1)
        p.p.wait(timeout=300)
        s1, t1 = prog_stats(ids), time.monotonic()
    finally:
        set_bpf_stats(False)
        if floor:
            floor.stop()
        agent.stop()
    m = re.search(r"cpu_ns_per_call ([\d.]+)", p.out())
    if p.p.returncode != 0 or not m:
        die(f"tracked storm failed (exit {p.p.returncode}): {p.out()}{p.err()}")
    return float(m.group(1)), stats_delta(s0, s1, t1 - t0)


def phase_idle_and_storm(server, P):
    """Agent footprint while idle, then the program costs (bpf_stats) of scenario (b), untracked
    syscall storms, and (c), a tracked epoll_wait storm: one storm each with bpf_stats on.
    What the storms cost end to end is measured by storms.py (no bpf_stats, many rounds)."""
    res = {"storm_calls": P["storm_calls"]}
    agent = Stallscope(server, "idle")
    res["attach_cpu_s"] = cpu_ticks(agent.pid) / CLK_TCK
    time.sleep(1.0)
    t0, c0 = time.monotonic(), cpu_ticks(agent.pid)
    time.sleep(P["idle_s"])
    c1, t1 = cpu_ticks(agent.pid), time.monotonic()
    agent.poll_hwm()
    res["idle_agent_cpu_pct"] = pct_of_core(c1 - c0, t1 - t0)
    res["idle_agent_hwm_kb"] = agent.hwm_kb
    res["idle_seconds"] = t1 - t0
    # the same, once the server has served one request since the agent attached
    with urllib.request.urlopen(server.url, timeout=5) as r:
        r.read()
    time.sleep(1.0)
    t0, c0 = time.monotonic(), cpu_ticks(agent.pid)
    time.sleep(P["idle2_s"])
    c1, t1 = cpu_ticks(agent.pid), time.monotonic()
    agent.poll_hwm()
    res["idle2_agent_cpu_pct"] = pct_of_core(c1 - c0, t1 - t0)
    res["idle2_seconds"] = t1 - t0
    log(f"idle agent: {res['idle_agent_cpu_pct']:.2f}% of a core before any request, "
        f"{res['idle2_agent_cpu_pct']:.2f}% after one; VmHWM {agent.hwm_kb} kB "
        f"(attach took {res['attach_cpu_s']:.2f} s of CPU)")

    floor = start_floor("storm")
    ids = {**agent.prog_ids, **(floor.prog_ids if floor else {})}
    set_bpf_stats(True)
    try:
        s0, ts0 = prog_stats(ids), time.monotonic()
        res["storm_agent_stats_ns"] = storm(P["storm_calls"], "agent-stats")
        s1, ts1 = prog_stats(ids), time.monotonic()
        # the same for a syscall the agent hooks on its own (per-syscall wait tracepoints run
        # for every process making it, tracked or not)
        w0, tw0 = prog_stats(ids), time.monotonic()
        res["storm_wait_agent_stats_ns"] = storm(P["storm_calls"], "agent-stats-epoll", "epoll")
        w1, tw1 = prog_stats(ids), time.monotonic()
    finally:
        set_bpf_stats(False)
        if floor:
            floor.stop()
    res["storm_progs"] = stats_delta(s0, s1, ts1 - ts0)
    res["storm_wait_progs"] = stats_delta(w0, w1, tw1 - tw0)
    agent.stop()
    res["idle_agent_hwm_kb_at_stop"] = agent.hwm_kb
    res["storm_tracked_ns"], res["storm_tracked_progs"] = tracked_storm(
        P["storm_calls"], lambda pids: Stallscope(pids, "tracked-storm"))
    p = res["storm_progs"]
    log("storm programs (bpf_stats): %s; empty program %s ns/run"
        % (", ".join(f"{n} {fmt(p[n]['ns_per_run'])} ns/run x {p[n]['run_cnt']}"
                     for n in syscall_progs(p)) or "no syscall program",
           fmt(p.get("bench_empty", {}).get("ns_per_run"))))
    return res


def parse_syscount_p(text):
    """{pid: (comm, syscalls)} summed over syscount -P's intervals."""
    counts = {}
    for m in re.finditer(r"^(\d+)\s+(\S.*?)\s+(\d+)\s*$", text, re.M):
        pid = int(m.group(1))
        counts[pid] = (m.group(2), counts.get(pid, ("", 0))[1] + int(m.group(3)))
    return counts


def kernel_cost_under_load(server, P):
    """Scenario (a): bpf_stats deltas under wrk, and which share of the syscalls were the
    tracked server's (syscount -P, system wide), to tell tracked from untracked cost."""
    tag = f"{server.kind}-kcost"
    server.check_alive()
    agent = Stallscope(server, tag)
    sc = None
    try:
        run_wrk(server.url, P["warmup_s"], tag + "-warmup", latency=False)
        sc = Proc(f"syscount-P-{tag}", [STDBUF, "-oL", SYSCOUNT, "-P", "-T", "1000"])
        wait_for(lambda: "Tracing syscalls" in sc.out(), 30, "syscount -P to attach", [sc])
        tracked = set(server.pids())
        floor = start_floor(tag)
        ids = {**agent.prog_ids, **(floor.prog_ids if floor else {})}
        set_bpf_stats(True)
        try:
            s0, t0 = prog_stats(ids), time.monotonic()
            res = run_wrk(server.url, P["kcost_s"], tag)
            s1, t1 = prog_stats(ids), time.monotonic()
        finally:
            set_bpf_stats(False)
            if floor:
                floor.stop()
        sc.stop(signal.SIGINT, timeout=20)
        counts = parse_syscount_p(sc.out())
    finally:
        if sc:
            sc.kill()
        agent.stop()
    res["progs"] = stats_delta(s0, s1, t1 - t0)
    res["seconds"] = t1 - t0
    total = sum(c for _, c in counts.values())
    mine = sum(c for pid, (_, c) in counts.items() if pid in tracked)
    res["syscalls_counted"] = total
    res["syscalls_tracked"] = mine
    # the syscalls of the processes whose CPU section 1 counts per request: server and wrk
    res["syscalls_server_wrk"] = mine + sum(c for pid, (comm, c) in counts.items()
                                            if comm == "wrk" and pid not in tracked)
    res["tracked_share"] = mine / total if total else None
    bpf_ns = sum(v["run_time_ns"] for n, v in res["progs"].items() if not n.startswith("bench_"))
    res["bpf_ns_per_request"] = bpf_ns / res["requests"] if res["requests"] else None
    res["bpf_cpu_pct"] = 100.0 * bpf_ns / 1e9 / res["seconds"]
    log(f"{tag}: {res['rps']:.0f} req/s; tracked share of syscalls "
        f"{fmt(100 * (res['tracked_share'] or 0), 0)}%; BPF {res['bpf_cpu_pct']:.2f}% of a core")
    return res
