"""The report: medians, ratios and target checks (summarize), the markdown (render,
write_markdown) and the machine it ran on."""

import datetime
import os
import re
import statistics
import subprocess
from pathlib import Path

import accuracy
from common import *  # noqa: F401,F403


def machine_info():
    def sh(*argv):
        try:
            return subprocess.run(argv, capture_output=True, text=True, cwd=ROOT,
                                  timeout=10).stdout.strip()
        except (OSError, subprocess.TimeoutExpired):
            return ""
    model = ""
    for line in Path("/proc/cpuinfo").read_text().splitlines():
        if line.startswith("model name"):
            model = line.split(":", 1)[1].strip()
            break
    mem_kb = int(re.search(r"MemTotal:\s+(\d+)", Path("/proc/meminfo").read_text()).group(1))
    commit = sh("git", "rev-parse", "--short=12", "HEAD")
    dirty = bool(sh("git", "status", "--porcelain", "--untracked-files=no"))

    def pkg(name):
        return sh("dpkg-query", "-W", "-f=${Version}", name) or "?"
    return {
        "nproc": os.cpu_count(), "mem_gib": mem_kb / 1024 / 1024, "cpu_model": model,
        "kernel": os.uname().release, "arch": os.uname().machine,
        "date": datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M UTC"),
        "commit": commit + (" (with uncommitted changes)" if dirty else ""),
        "versions": {"python3": pkg("python3"), "python3-tornado": pkg("python3-tornado"),
                     "gunicorn": pkg("gunicorn"), "wrk": pkg("wrk"),
                     "libbpf-tools": pkg("libbpf-tools"), "bpftrace": pkg("bpftrace"),
                     "bpftool": pkg("bpftool")},
    }


def summarize(R):
    """Medians, ratios and target checks from the raw runs."""
    S = {"servers": {}, "accuracy": accuracy.summarize(R["accuracy"]) if R.get("accuracy")
         else {}}
    for kind in R["servers"]:
        runs = [r for r in R["runs"] if r["server"] == kind]
        rows = {}
        for config in CONFIGS:
            rr = [r for r in runs if r["config"] == config]
            if not rr:
                continue
            rows[config] = {
                "rps": statistics.median(r["rps"] for r in rr),
                "p99_ms": statistics.median(r["p99_ms"] for r in rr),
                "rps_runs": [r["rps"] for r in rr],
                "p99_runs": [r["p99_ms"] for r in rr],
                "other_cpu_pct": statistics.median(r["other_cpu_pct"] for r in rr),
                "cpu_us_per_req": statistics.median(r["cpu_us_per_req"] for r in rr),
                "errors": sum(r["errors"] + r["non_2xx"] for r in rr),
            }
            quiet = [r for r in rr if r["other_cpu_pct"] <= QUIET_OTHER_PCT]
            rows[config]["quiet_n"] = len(quiet)
            rows[config]["quiet_rps"] = (statistics.median(r["rps"] for r in quiet)
                                         if quiet else None)
            if any("agent_cpu_pct" in r for r in rr):
                rows[config]["agent_cpu_pct"] = statistics.median(
                    r["agent_cpu_pct"] for r in rr if "agent_cpu_pct" in r)
            if config == "stallscope":
                rows[config]["agent_hwm_kb"] = max(r["agent_hwm_kb"] for r in rr)
                rows[config]["agent_reports"] = sum(r.get("agent_reports") or 0 for r in rr)
        bare = rows["bare"]
        for config, row in rows.items():
            row["rps_ratio"] = row["rps"] / bare["rps"]
            row["p99_ratio"] = row["p99_ms"] / bare["p99_ms"]
            row["cpu_ratio"] = row["cpu_us_per_req"] / bare["cpu_us_per_req"]
            row["quiet_ratio"] = (row["quiet_rps"] / bare["quiet_rps"]
                                  if row["quiet_rps"] and bare["quiet_rps"] else None)
            # paired: each agent run against the bare run of its own round
            paired = []
            for r in (r for r in runs if r["config"] == config):
                b = [x for x in runs if x["config"] == "bare" and x["round"] == r["round"]]
                if b:
                    paired.append(r["rps"] / b[0]["rps"])
            row["rps_ratio_paired_median"] = statistics.median(paired) if paired else None
            row["rps_ratio_paired_ci"] = ratio_ci95(paired)
        S["servers"][kind] = rows

    storm = R["storm"]
    sp = storm["storm_progs"]
    swp = storm.get("storm_wait_progs", {})   # empty epoll_wait storm (older results: none)
    S["syscall_progs"] = syscall_progs(sp, swp, *(kc["progs"] for kc in R["kcost"].values()))
    stp = storm.get("storm_tracked_progs", {})  # (c) tracked epoll_wait storm
    S["untracked_ns"] = {n: sp.get(n, {}).get("ns_per_run") for n in S["syscall_progs"]}
    S["storm_added_ns"] = storm["storm_agent_ns"] - storm["storm_bare_ns"]

    # (figure, measured, measured minus the empty reference program, target, ok, net ok)
    checks = []
    for kind, rows in S["servers"].items():
        ratio = rows["stallscope"]["rps_ratio"]
        q = rows["stallscope"]["quiet_ratio"]
        qtext = (f"{q:.3f} quiet runs ({rows['stallscope']['quiet_n']}/"
                 f"{rows['bare']['quiet_n']})" if q is not None else "no quiet runs")
        ci = rows["stallscope"].get("rps_ratio_paired_ci")
        if ci:
            qtext += f"; 95% CI {ci[0]:.3f}-{ci[1]:.3f}"
        checks.append((f"{kind}: throughput ratio with stallscope", fmt(ratio, 3), qtext,
                       f">= {TARGET_RPS_RATIO}", ratio >= TARGET_RPS_RATIO,
                       None if q is None else q >= TARGET_RPS_RATIO))
    acc = S["accuracy"].get("stallscope", {})
    peak = max([R["storm"]["idle_agent_hwm_kb_at_stop"], acc.get("hwm_kb") or 0,
                (S["accuracy"].get("burst") or {}).get("hwm_kb") or 0] +
               [rows["stallscope"]["agent_hwm_kb"] for rows in S["servers"].values()]) / 1024
    S["peak_rss_mb"] = peak
    checks.append(("agent peak RSS (VmHWM, MB)", fmt(peak), "", f"<= {TARGET_RSS_MB}",
                   peak <= TARGET_RSS_MB, None))
    # agent CPU: the worst of idle, under wrk load and under many stalls (accuracy)
    cpu = [("idle", storm["idle_agent_cpu_pct"]), ("idle after a request",
                                                    storm["idle2_agent_cpu_pct"])]
    cpu += [(f"{k} load", rows["stallscope"].get("agent_cpu_pct") or 0)
            for k, rows in S["servers"].items()]
    for f in (acc, S["accuracy"].get("burst") or {}):
        if f:
            cpu.append((f"{f['stalls_per_min']:.0f} stalls/min", f["tool_cpu_pct"]))
    worst = max(cpu, key=lambda c: c[1])
    S["agent_cpu_worst"] = worst
    checks.append(("agent CPU, % of one core (worst state)", fmt(worst[1], 2), worst[0],
                   f"< {TARGET_AGENT_CPU_PCT:g}", worst[1] < TARGET_AGENT_CPU_PCT, None))

    def floor_of(progs, name):
        ref = "bench_empty" if progs.get(name, {}).get("syscall") else "bench_sw_empty"
        return progs.get(ref, {}).get("ns_per_run")

    def ns_check(label, v, floor, target, note=""):
        net = v - floor if (v is not None and floor is not None) else None
        checks.append((label, fmt(v), fmt(net) + note, f"<= {target}",
                       v is not None and v <= target, net is not None and net <= target))

    # Syscall programs are judged where every run is of one kind: the storms. Under wrk load
    # the per-syscall wait programs also run for wrk's own epoll_wait calls (untracked), and no
    # per-syscall split of who made them is available, so those figures are shown, not judged.
    def weighted(progs):
        names = [n for n in syscall_progs(progs) if progs[n]["run_cnt"]]
        runs = sum(progs[n]["run_cnt"] for n in names)
        return sum(progs[n]["run_time_ns"] for n in names) / runs if runs else None

    # Per wait syscall: what all the programs that run for one call cost together (one entry
    # program since the exits went; an entry and an exit program before).
    def per_call(progs, calls):
        names = [n for n in syscall_progs(progs) if progs[n]["run_cnt"]]
        if not calls or not names:
            return None, None
        return (sum(progs[n]["run_time_ns"] for n in names) / calls,
                sum(progs[n]["run_cnt"] for n in names) / calls)

    def call_note(pc):
        return (f"; per wait call {pc[0]:.0f} ns in {pc[1]:.1f} program runs"
                if pc[0] is not None else "")

    empty = lambda progs: progs.get("bench_empty", {}).get("ns_per_run")
    S["tracked_storm_ns_per_run"] = weighted(stp)
    S["untracked_storm_ns_per_run"] = weighted(swp)
    S["tracked_storm_per_call"] = per_call(stp, storm["storm_calls"])
    S["untracked_storm_per_call"] = per_call(swp, storm["storm_calls"])
    ns_check("syscall programs, tracked threads: ns/run in (c) tracked epoll_wait storm",
             S["tracked_storm_ns_per_run"], empty(stp), TARGET_SYS_TRACKED_NS,
             call_note(S["tracked_storm_per_call"]))
    ns_check("syscall programs, untracked: ns/run in (b) untracked epoll_wait storm",
             S["untracked_storm_ns_per_run"], empty(swp), TARGET_SYS_UNTRACKED_NS,
             call_note(S["untracked_storm_per_call"]))
    for kind, kc in R["kcost"].items():
        for name, v in sorted(kc["progs"].items()):
            if v.get("attach") == "sched_switch" and not name.startswith("bench_"):
                ns_check(f"{kind} load: {name} ns/run", v.get("ns_per_run"),
                         floor_of(kc["progs"], name), TARGET_SWITCH_NS)
    checks += accuracy.checks(S["accuracy"])
    S["checks"] = checks
    return S


def render(R, S, P):
    out = []
    w = out.append
    w("## Targets\n")
    w(md_table(["figure", "measured", "corrected", "target", "result"],
               [(name, val, net, tgt,
                 verdict(ok) + ("" if net_ok is None or net_ok == ok
                                else f" ({verdict(net_ok)} corrected)"))
                for name, val, net, tgt, ok, net_ok in S["checks"]]))
    w("")
    w("The result is for *measured*. *corrected*: for throughput, the ratio over the runs "
      "during which other processes on the host stayed under "
      f"{QUIET_OTHER_PCT:.0f}% of a core (runs kept, stallscope/bare); for ns/run figures "
      "(bpf_stats' `run_time_ns / run_cnt`), minus what an empty program attached to the same "
      "tracepoint measured in the same window - that floor is large on this machine "
      "(section 2).\n")
    w(f"## 1. Overhead on real servers (wrk {' '.join(WRK_ARGS)}, {P['run_s']} s measured after "
      f"a {P['warmup_s']} s warm-up, median of {P['rounds']} alternating rounds)\n")
    for kind, rows in S["servers"].items():
        table = []
        for config in CONFIGS:
            if config not in rows:
                continue
            r = rows[config]
            is_ss = config == "stallscope"
            mark = f" {verdict(r['rps_ratio'] >= TARGET_RPS_RATIO)}" if is_ss else ""
            table.append((
                CONFIG_LABEL[config], f"{r['rps']:.0f}",
                "1" if config == "bare" else f"{r['rps_ratio']:.3f}{mark}",
                "" if config == "bare" else fmt(r["rps_ratio_paired_median"], 3) + (
                    f" ({r['rps_ratio_paired_ci'][0]:.2f}-{r['rps_ratio_paired_ci'][1]:.2f})"
                    if r.get("rps_ratio_paired_ci") else ""),
                f"{r['p99_ms']:.2f}", "1" if config == "bare" else f"{r['p99_ratio']:.2f}",
                "" if config == "bare" else
                (f"{r['quiet_ratio']:.3f} ({r['quiet_n']}/{rows['bare']['quiet_n']})"
                 if r["quiet_ratio"] is not None else "n/a"),
                f"{r['cpu_us_per_req']:.0f}", "1" if config == "bare" else f"{r['cpu_ratio']:.3f}",
                fmt(r.get("agent_cpu_pct")) if config != "bare" else "",
                " / ".join(f"{x:.0f}" for x in r["rps_runs"]),
                f"{r['other_cpu_pct']:.0f}",
            ))
        desc = SERVERS[kind][2] if kind in SERVERS else kind
        w(f"**{kind}**: {desc}\n")
        w(md_table(["config", "req/s", "req/s ratio", "paired ratio", "p99 ms", "p99 ratio",
                    "quiet-run ratio (n)", "CPU us/req", "CPU/req ratio", "tool CPU %", "req/s per round",
                    "other CPU %"], table))
        w("")
    w("req/s ratio = median(config) / median(bare); paired ratio = median over rounds of "
      "config / bare of the same round, with the 95% confidence interval of the mean paired "
      "ratio in brackets (t on the logs): a target inside it is neither shown met nor missed "
      "by this run. CPU us/req = CPU (user + system) of the server, wrk "
      "and the tool per request: less sensitive than req/s to other load on the host, and it "
      "includes the BPF programs, which run in the server's and wrk's context. tool CPU % = "
      "the tool's own processes, % of one core. other CPU % = host CPU used during the run by "
      "processes that are not part of the benchmark (noise).\n")
    reports = {k: rows["stallscope"].get("agent_reports") for k, rows in S["servers"].items()}
    w("Stall reports stallscope emitted during its measured runs (hello apps never block for "
      "100 ms, so any would be false positives or genuine scheduling delays on a busy host): "
      + ", ".join(f"{k} {v}" for k, v in reports.items()) + ".\n")
    noisy = max(r["other_cpu_pct"] for rows in S["servers"].values() for r in rows.values())
    if noisy > 15:
        w(f"**Warning: the host was shared during this run** (other processes used up to "
          f"{noisy:.0f}% of a core during a run); throughput ratios carry that noise, the "
          f"CPU-per-request ratios less so.\n")

    w("## 2. In-kernel cost of stallscope's programs (bpf_stats deltas)\n")
    sysnames = set(S["syscall_progs"])
    attach = {n: v.get("attach") for kc in R["kcost"].values() for n, v in kc["progs"].items()}
    storms = [("(b) untracked getppid", R["storm"]["storm_progs"]),
              ("(b) untracked epoll_wait(0)", R["storm"].get("storm_wait_progs") or {}),
              ("(c) tracked epoll_wait(0)", R["storm"].get("storm_tracked_progs") or {})]
    storms = [(label, progs) for label, progs in storms if progs]
    for _, progs in storms:
        attach.update({n: v.get("attach") for n, v in progs.items()})
    ran = lambda progs: {n for n, v in progs.items() if v.get("run_cnt")}
    names = sorted(set().union(*(ran(kc["progs"]) for kc in R["kcost"].values()),
                               *(ran(progs) for _, progs in storms)),
                   key=lambda n: (n.startswith("bench_"), n not in sysnames, n))
    header = ["program"]
    for kind in R["kcost"]:
        header += [f"(a) {kind} load ns/run", "runs/s"]
    for label, _ in storms:
        header += [f"{label} storm ns/run", "runs/s"]
    rows = []
    for n in names:
        row = [f"(reference) {n}" if n.startswith("bench_") else
               f"{n} ({attach[n]})" if attach.get(n) else n]
        for kind, kc in R["kcost"].items():
            p = kc["progs"].get(n, {})
            pmark = ""
            if attach.get(n) == "sched_switch" and p.get("ns_per_run") is not None:
                pmark = f" {verdict(p['ns_per_run'] <= TARGET_SWITCH_NS)}"
            row += [fmt(p.get("ns_per_run")) + pmark, fmt(p.get("runs_per_s"), 0)]
        for _, progs in storms:
            p = progs.get(n, {})
            row += [fmt(p.get("ns_per_run")), fmt(p.get("runs_per_s"), 0)]
        rows.append(row)
    w(md_table(header, rows))
    w("")
    for kind, kc in R["kcost"].items():
        progs = kc["progs"]
        ss_runs = sum(v["run_cnt"] for n, v in progs.items() if not n.startswith("bench_"))
        empty = progs.get("bench_empty", {}).get("ns_per_run")
        net = (kc["bpf_ns_per_request"] - ss_runs / kc["requests"] * empty
               if empty is not None and kc["requests"] else None)
        bare_cpu = S["servers"][kind]["bare"]["cpu_us_per_req"] * 1000
        net_text = (f" ({net:.0f} ns minus the empty-program floor, "
                    f"{100 * net / bare_cpu:.1f}%)" if net is not None else "")
        w(f"- (a) {kind}: {kc['rps']:.0f} req/s over {kc['seconds']:.1f} s; the tracked "
          f"server made {fmt(100 * (kc['tracked_share'] or 0), 0)}% of the host's syscalls "
          f"(syscount -P); stallscope's programs ran {ss_runs / kc['requests']:.0f} times per "
          f"request, {fmt(kc['bpf_ns_per_request'], 0)} ns per request in all "
          f"({kc['bpf_cpu_pct']:.2f}% of one core) = "
          f"{100 * kc['bpf_ns_per_request'] / bare_cpu:.1f}% of the CPU a request costs bare "
          f"(section 1){net_text}; tracepoint dispatch comes on top, see (b).")
    st = R["storm"]
    w(f"- (b) {st['storm_calls']:,} getppid() calls from an untracked process while stallscope "
      f"watches an idle gunicorn. CPU time per syscall (min of {len(st['storm_agent_runs_ns'])} "
      f"alternating runs, bpf_stats off): {st['storm_bare_ns']:.1f} ns without the agent, "
      f"{st['storm_agent_ns']:.1f} ns with it: **+{S['storm_added_ns']:.1f} ns per syscall** "
      f"end to end (the syscall programs plus the tracepoint dispatch). Runs: without "
      f"{' / '.join(f'{x:.0f}' for x in st['storm_bare_runs_ns'])}, with "
      f"{' / '.join(f'{x:.0f}' for x in st['storm_agent_runs_ns'])} ns.")
    if st.get("wait_storm_agent_ns") is not None:
        wb, wa = st["wait_storm_bare_ns"], st["wait_storm_agent_ns"]
        wtools = st.get("wait_storm_tools_ns", {})
        w(f"- (b) the same for an untracked event loop: {st['storm_calls']:,} empty "
          f"epoll_wait(timeout 0) calls, a syscall stallscope hooks for every process. "
          f"{wb:.1f} ns without the agent, {wa:.1f} ns with it: **+{wa - wb:.1f} ns per call** "
          f"end to end, of which stallscope's programs measure "
          f"{S['untracked_storm_per_call'][0] or 0:.0f} ns per call with bpf_stats on (table "
          f"above) and the rest is the kernel's dispatch of the per-syscall tracepoint to BPF (a "
          f"perf record built and copied each time) and its slow syscall path. Other tools: "
          + "; ".join(
              f"{CONFIG_LABEL[c]} {v:.1f} ns (+{v - wb:.1f})" for c, v in wtools.items()) +
          f". Runs: without {' / '.join(f'{x:.0f}' for x in st['wait_storm_bare_runs_ns'])}, "
          f"with {' / '.join(f'{x:.0f}' for x in st['wait_storm_agent_runs_ns'])} ns.")
    tools = st.get("storm_tools_ns", {})
    if tools:
        w("- (b) the same storm with the other tools attached to the idle gunicorn (min of "
          f"{P['storm_tool_runs']}): " + "; ".join(
              f"{CONFIG_LABEL[c]} {v:.1f} ns (+{v - st['storm_bare_ns']:.1f})"
              for c, v in tools.items()) +
          f"; stallscope {st['storm_agent_ns']:.1f} ns (+{S['storm_added_ns']:.1f}).")
    w("- (reference) rows: `scripts/bench/floor.bpf.c`, attached in the same windows: an empty "
      "tp_btf program (the floor on this kernel and CPU: bpf_stats' clock reads, the call, "
      "retpolines / return thunks; stallscope's own work is its figure minus this one) and "
      "one looking the tgid up in a hash map (a typical pid filter).")
    w("")

    w("## 3. Agent footprint\n")
    frows = [(f"idle gunicorn, no request since attach ({st['idle_seconds']:.0f} s)",
              fmt(st["idle_agent_cpu_pct"], 2), fmt(st["idle_agent_hwm_kb"] / 1024)),
             (f"idle gunicorn, after one request ({st['idle2_seconds']:.0f} s)",
              fmt(st["idle2_agent_cpu_pct"], 2), "")]
    for kind, rows_ in S["servers"].items():
        r = rows_["stallscope"]
        frows.append((f"under load ({kind}, median CPU, max RSS)", fmt(r["agent_cpu_pct"], 2),
                      fmt(r["agent_hwm_kb"] / 1024)))
    acc = S["accuracy"].get("stallscope")
    if acc:
        frows.append((f"stalling servers: {R['accuracy']['servers']} servers, "
                      f"{acc['stalls_per_min']:.0f} stalls/min (accuracy passes, median CPU, "
                      f"max RSS)", fmt(acc["tool_cpu_pct"], 2), fmt(acc["hwm_kb"] / 1024)))
    burst = S["accuracy"].get("burst")
    if burst:
        frows.append((f"many short stalls: {burst['stalls_per_min']:.0f} stalls/min of 45-80 ms "
                      f"(burst pass, section 4)", fmt(burst["tool_cpu_pct"], 2),
                      fmt(burst["hwm_kb"] / 1024)))
    w(md_table(["state", "CPU % of one core", "peak RSS MB (VmHWM)"], frows))
    w("")
    w(f"Peak RSS over all runs, including shutdown: {S['peak_rss_mb']:.1f} MB "
      f"({verdict(S['peak_rss_mb'] <= TARGET_RSS_MB)}, target <= {TARGET_RSS_MB} MB). "
      f"CPU to attach (load and verify the programs, scan the processes): "
      f"{st['attach_cpu_s']:.2f} s.")
    if R.get("accuracy"):
        w("")
        w(accuracy.render(R["accuracy"], S["accuracy"], P).replace("## Accuracy",
                                                                    "## 4. Accuracy", 1))
    return "\n".join(out)


def write_markdown(R, S, P, body, path):
    M = R["machine"]
    v = M["versions"]
    head = f"""# Benchmarks

Produced by `scripts/bench.sh` (rewrites this file; raw numbers and logs in `bench-out/`).
All figures come from one run, as ratios against the bare server measured in the same session.

| | |
|---|---|
| date | {M['date']} |
| commit | {M['commit']} |
| machine | {M['nproc']} CPUs ({M['cpu_model']}), {M['mem_gib']:.1f} GiB RAM, {M['arch']} |
| kernel | {M['kernel']} |
| mode | {'--quick (short runs, not representative)' if P['quick'] else 'full'} |
| bench wall time | {R['wall_s']:.0f} s |
| software | python3 {v['python3']}, tornado {v['python3-tornado']}, gunicorn {v['gunicorn']}, wrk {v['wrk']}, libbpf-tools {v['libbpf-tools']}, bpftrace {v['bpftrace']}, bpftool {v['bpftool']} |

"""
    notes = f"""

## Method

- **Servers**: `gunicorn -k gthread --threads 8 -w 2` and `gunicorn -k sync -w 2` serving a
  13-byte WSGI hello, and a single-process Tornado hello app (`tests/bench-apps/`), all on
  127.0.0.1, run with
  Debian's `/usr/bin/python3`. Load: `wrk {' '.join(WRK_ARGS)} --latency`. The machine has
  {M['nproc']} cores and nothing is pinned: wrk, the server, the tool under test and anything
  else running on the host share them, so a tool's user-space CPU is taken straight from the
  server's throughput.
- **Order**: each round runs bare and then every tool, the tools in a rotating order; every run
  (bare included) starts with a {P['warmup_s']} s wrk warm-up after the tool has attached, then
  {P['run_s']} s are measured. Figures are medians over {P['rounds']} rounds. The tools are
  started for each run and stopped (SIGINT) after it.
- **stallscope**: `stallscope attach --pid <master> --format json --output bench-out/runs/...`,
  load starts once it prints `stallscope: attached`; it follows gunicorn's workers itself.
- **offcputime+syscount** (libbpf-tools, what one runs by hand today): `offcputime -p PID` and
  `syscount -p PID`, both running for the whole run. They take one pid and do not follow
  children, so they run once per process that serves requests: one pair per gunicorn worker
  (2 pairs, the idle master is left out), one pair for Tornado.
- **bpftrace**: a script (written to `bench-out/runs/busy_periods-*.bt`) that measures the same
  busy periods as stallscope - per thread, from an epoll_wait return to the next epoll_wait
  entry, with `tracepoint:raw_syscalls:sys_enter/sys_exit` filtered on a map of the server's
  pids (seeded with its process tree, extended on fork) - into a histogram, printing periods
  >= 100 ms.
- **bpf_stats** (`kernel.bpf_stats_enabled`) is turned on only around the windows where
  stallscope's program costs are read, never during the throughput runs (it adds two clock
  reads per program run), and restored afterwards. Deltas of `run_time_ns` / `run_cnt` from
  `bpftool prog show -j`, for the programs held by the agent's own fds (other stallscope
  instances on the host are ignored); each program's attach point comes from `bpftool perf
  show` (so whatever program set the agent loads is measured), and the *syscall programs* are
  those on `sys_enter`/`sys_exit` or on a per-syscall `sys_enter_*`/`sys_exit_*` tracepoint.
  The syscall-program targets are judged on storms, where every run is of one kind (the
  run-weighted mean over the syscall programs that ran): tracked threads on (c), untracked
  processes on the empty `epoll_wait(timeout 0)` storm of (b) (what an untracked event loop on
  the host pays for the wait tracepoints; getppid never enters one).
  - (a) a separate stallscope run under the same wrk load ({P['kcost_s']} s). The wait
    programs also run for wrk's own epoll_wait calls (untracked), so their per-run figures
    here are a blend, shown but not judged; `syscount -P` (system wide, same window) gives the
    share of all syscalls made by the tracked server.
  - (b) a C loop (`scripts/bench/storm.c`) making getppid() {P['storm_calls']:,} times, not
    tracked, while the agent is attached to an idle gunicorn. The same loop's CPU time per
    syscall (`CLOCK_PROCESS_CPUTIME_ID`; wall time is in the logs) is also measured without
    the agent and with it, alternately ({P['storm_rounds']} round(s), the agent attached afresh
    each time, bpf_stats off); the minimum of each is reported, as other load only adds.
  - (c) the same C loop making empty `epoll_wait(timeout 0)` calls {P['storm_calls']:,} times
    as a process stallscope is attached to: every call ends one busy period and starts the
    next, the tracked path of the wait programs.
  - (reference) `scripts/bench/floor.bpf.c`, built and attached by the benchmark in the same
    windows as (a), (b) and (c): an empty tp_btf program on sys_enter and on sched_switch, and one
    that looks the current tgid up in a hash map (what filtering on a set of pids usually
    costs). bpf_stats' own clock reads and the cost of calling a
    program (retpolines and return thunks, where the CPU needs them) land in every ns/run
    figure; these rows show how much.
- **Footprint**: agent utime+stime from `/proc/PID/stat` over the measured window, % of one
  core; peak RSS = `VmHWM` from `/proc/PID/status`, polled until the agent exits. Idle = attached
  to the idle gunicorn for {P['idle_s']} s with no request since the agent attached, then
  {P['idle2_s']} s after a single request.
- **Noise**: *other CPU %* is the CPU used during each run by processes that are not part of
  the benchmark (user + system, from /proc/stat minus the benchmark's own processes). When it
  is not near 0, the machine was shared and the ratios are noisier than they look. *quiet-run
  ratio* uses only the runs during which other processes took at most {QUIET_OTHER_PCT:.0f}% of
  a core (the same rule for every configuration; n = runs kept, config/bare).

- **Accuracy**: see section 4; stallscope and the bpftrace script each attach to all the
  stall servers' pids with a {accuracy.THRESHOLD_MS} ms threshold, in alternating passes
  ({P.get('acc_passes', 0)} each) against the same servers; the stall driver is a separate
  process, and both tools' passes of one round use the same seed (the same stall sequence).
  The bpftrace script is the one from section 1, printing each period's start (`nsecs`,
  CLOCK_MONOTONIC, converted to wall clock by the benchmark) and length when it ends.
  stallscope's footprint under many stalls comes from these passes and the burst pass.

Targets: throughput ratio >= {TARGET_RPS_RATIO}; agent < {TARGET_AGENT_CPU_PCT:g}% of one core;
agent RSS <= {TARGET_RSS_MB} MB; syscall programs <= {TARGET_SYS_TRACKED_NS} ns per run on
tracked threads and <= {TARGET_SYS_UNTRACKED_NS} ns on untracked ones; sched_switch <=
{TARGET_SWITCH_NS} ns (issue 2); recall >= {TARGET_RECALL}, precision >= {TARGET_PRECISION},
p99 duration error <= {TARGET_P99_ERR_MS:g} ms.
"""
    path.write_text(head + body + "\n" + notes)


