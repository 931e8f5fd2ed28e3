"""The report: medians, ratios and target checks (summarize), the markdown (render,
write_markdown) and the machine it ran on."""

import datetime
import os
import re
import statistics
import subprocess
from pathlib import Path

import accuracy
import storms
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
                "cpu_runs": [r["cpu_us_per_req"] for r in rr],
                "errors": sum(r["errors"] + r["non_2xx"] for r in rr),
            }
            quiet = [r for r in rr if r["other_cpu_pct"] <= QUIET_OTHER_PCT]
            rows[config]["quiet_n"] = len(quiet)
            rows[config]["quiet_rps"] = (statistics.median(r["rps"] for r in quiet)
                                         if quiet else None)
            if any("agent_cpu_pct" in r for r in rr):
                rows[config]["agent_cpu_pct"] = statistics.median(
                    r["agent_cpu_pct"] for r in rr if "agent_cpu_pct" in r)
            ns = [r["agent_cpu_ns_per_req"] for r in rr if "agent_cpu_ns_per_req" in r]
            rows[config]["agent_cpu_ns_per_req"] = statistics.median(ns) if ns else None
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
            paired, cpu_paired, cpu_delta = [], [], []
            for r in (r for r in runs if r["config"] == config):
                b = [x for x in runs if x["config"] == "bare" and x["round"] == r["round"]]
                if b:
                    paired.append(r["rps"] / b[0]["rps"])
                    cpu_paired.append(r["cpu_us_per_req"] / b[0]["cpu_us_per_req"])
                    cpu_delta.append(1000 * (r["cpu_us_per_req"] - b[0]["cpu_us_per_req"]))
            row["rps_ratio_paired_median"] = statistics.median(paired) if paired else None
            row["rps_ratio_paired_ci"] = ratio_ci95(paired)
            # the headline (issue 17): CPU per request, which host noise moves less than req/s
            row["cpu_ratio_paired_median"] = statistics.median(cpu_paired) if cpu_paired else None
            row["cpu_ratio_paired_ci"] = ratio_ci95(cpu_paired)
            row["cpu_delta_ns_paired_median"] = statistics.median(cpu_delta) if cpu_delta else None
            row["cpu_delta_ns_ci"] = mean_ci95(cpu_delta)
        S["servers"][kind] = rows

    storm = R["storm"]
    sp = storm["storm_progs"]
    swp = storm.get("storm_wait_progs", {})   # empty epoll_wait storm (older results: none)
    S["syscall_progs"] = syscall_progs(sp, swp, *(kc["progs"] for kc in R["kcost"].values()))
    stp = storm.get("storm_tracked_progs", {})  # (c) tracked epoll_wait storm
    S["untracked_ns"] = {n: sp.get(n, {}).get("ns_per_run") for n in S["syscall_progs"]}
    if R.get("storms"):
        S["storms"] = storms.summarize(R["storms"])

    # (figure, measured, measured minus the empty reference program, target, ok, net ok)
    checks = []
    for kind, rows in S["servers"].items():
        r = rows["stallscope"]
        ratio, ci = r["cpu_ratio_paired_median"], r["cpu_ratio_paired_ci"]
        half = ci_half(ci)
        note = (f"95% CI {ci[0]:.3f}-{ci[1]:.3f} (+-{100 * half:.1f}%)" if ci
                else "no interval (1 round)")
        if half is None or half > TARGET_CI_HALF:
            note += "; too wide to judge"
        checks.append((f"{kind}: CPU per request ratio with stallscope (paired)", fmt(ratio, 3),
                       note, f"<= {TARGET_CPU_RATIO}, CI within +-{100 * TARGET_CI_HALF:g}%",
                       ratio is not None and ratio <= TARGET_CPU_RATIO and half is not None
                       and half <= TARGET_CI_HALF, None))
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
    def sys_check(label, v, floor, target, note):
        if v is None:
            # No syscall program ran in the storm: the default mode (--syscall-hooks sched)
            # hooks no syscall (section 5 measures what the storms pay end to end).
            checks.append((label, "none ran", "no syscall program runs in the default mode",
                           f"<= {target}", True, True))
            return
        ns_check(label, v, floor, target, note)

    sys_check("syscall programs, tracked threads: ns/run in (c) tracked epoll_wait storm",
              S["tracked_storm_ns_per_run"], empty(stp), TARGET_SYS_TRACKED_NS,
              call_note(S["tracked_storm_per_call"]))
    sys_check("syscall programs, untracked: ns/run in (b) untracked epoll_wait storm",
              S["untracked_storm_ns_per_run"], empty(swp), TARGET_SYS_UNTRACKED_NS,
              call_note(S["untracked_storm_per_call"]))
    for kind, kc in R["kcost"].items():
        for name, v in sorted(kc["progs"].items()):
            if v.get("attach") == "sched_switch" and not name.startswith("bench_"):
                ns_check(f"{kind} load: {name} ns/run", v.get("ns_per_run"),
                         floor_of(kc["progs"], name), TARGET_SWITCH_NS)
    if S.get("storms"):
        checks += S["storms"]["checks"]
    checks += accuracy.checks(S["accuracy"])
    S["checks"] = checks
    S["account"] = {kind: cost_account(R, S, kind) for kind in R["kcost"]}
    return S


def _storm_delta(S, case, kind, config):
    f = (S.get("storms") or {}).get("figures", {}).get(case, {}).get(kind, {}).get(config)
    return f["delta_ns"] if f else None


def cost_account(R, S, kind):
    """What one request of `kind` pays for stallscope, part by part (ns per request), against
    the CPU-per-request delta section 1 measured (stallscope minus bare, paired per round).
    Parts: each program's runs per request x its ns per run (bpf_stats under load, (a)); the
    slow syscall path every task takes while any syscall tracepoint has a program (the untracked
    getppid storm's added ns, tracepoints mode: no program runs for getppid there) x the
    server's and wrk's syscalls per request (syscount -P); the per-syscall tracepoints'
    dispatch to BPF beyond the program's own run time (the untracked epoll_wait storm's added ns
    minus that slow path minus the wait program's ns per call in (b)) x those programs' runs;
    uprobe hits x the trap an empty uprobe costs (tracked epoll_wait storm); the agent
    process's CPU per request (schedstat, section 1's runs)."""
    kc = R["kcost"].get(kind)
    rows = S["servers"].get(kind, {})
    if not kc or not kc.get("requests") or "stallscope" not in rows:
        return None
    reqs = kc["requests"]
    ours = {n: v for n, v in kc["progs"].items() if not n.startswith("bench_")}
    parts = []   # (part, basis, ns per request or None)
    for name, v in sorted(ours.items(), key=lambda kv: -kv[1]["run_time_ns"]):
        if v["run_cnt"]:
            parts.append((f"program {name} ({v.get('attach') or '?'})",
                          f"{v['run_cnt'] / reqs:.2f} runs/req x {v['ns_per_run']:.0f} ns/run",
                          v["run_time_ns"] / reqs))
    uprobe_runs = sum(v["run_cnt"] for v in ours.values()
                      if (v.get("attach") or "").startswith("/"))
    if uprobe_runs:
        trap = _storm_delta(S, "tracked", "epoll", "ref-uprobe")
        parts.append(("uprobe traps (a breakpoint exception per hit, beyond run time)",
                      f"{uprobe_runs / reqs:.3f} hits/req x " +
                      (f"{trap:.0f} ns (tracked epoll_wait storm, empty uprobe)"
                       if trap is not None else "? (storms part not run)"),
                      uprobe_runs / reqs * trap if trap is not None else None))
    hooked = [v for v in ours.values() if v.get("syscall")]
    slow = _storm_delta(S, "untracked", "getppid", "stallscope-tracepoints")
    spr = (kc["syscalls_server_wrk"] / reqs) if kc.get("syscalls_server_wrk") else None
    if not hooked:
        parts.append(("syscall slow path", "no program on a syscall tracepoint", 0.0))
    elif slow is None or spr is None:
        parts.append(("syscall slow path", "not measured in this run (needs the storms part "
                      "and syscount -P)", None))
    else:
        parts.append(("syscall slow path (every syscall of server and wrk)",
                      f"{spr:.1f} syscalls/req x {slow:.1f} ns (untracked getppid storm, "
                      f"tracepoints mode)", spr * slow))
    per_syscall = [v for v in hooked if re.match(r"sys_(enter|exit)_", v.get("attach") or "")]
    wait = (R["storm"].get("storm_wait_progs") or {}) if R.get("storm") else {}
    wait_ns = sum(v["run_time_ns"] for n, v in wait.items() if v.get("syscall"))
    epoll = _storm_delta(S, "untracked", "epoll", "stallscope-tracepoints")
    calls = R["storm"].get("storm_calls") if R.get("storm") else None
    if per_syscall and slow is not None and epoll is not None and calls:
        dispatch = max(0.0, epoll - slow - wait_ns / calls)
        runs = sum(v["run_cnt"] for v in per_syscall) / reqs
        parts.append(("per-syscall tracepoint dispatch to BPF (perf record, beyond run time)",
                      f"{runs:.2f} runs/req x {dispatch:.0f} ns (untracked epoll_wait storm: "
                      f"added {epoll:.0f} - slow path {slow:.0f} - program "
                      f"{wait_ns / calls:.0f})", runs * dispatch))
    agent = rows["stallscope"].get("agent_cpu_ns_per_req")
    parts.append(("agent process (user + kernel CPU)", "schedstat over section 1's runs",
                  agent))
    known = [p[2] for p in parts if p[2] is not None]
    total = sum(known) if known else None
    measured = rows["stallscope"].get("cpu_delta_ns_paired_median")
    return {"parts": parts, "total_ns": total, "measured_ns": measured,
            "measured_ci": rows["stallscope"].get("cpu_delta_ns_ci"),
            "bare_ns": rows["bare"]["cpu_us_per_req"] * 1000 if "bare" in rows else None,
            "remainder_ns": (measured - total) if measured is not None and total is not None
            else None,
            "incomplete": len(known) < len(parts)}


def render_account(R, S):
    out = ["## 6. What a request pays for stallscope: the cost account\n"]
    w = out.append
    for kind, A in (S.get("account") or {}).items():
        if not A:
            continue
        bare = A["bare_ns"]
        pct = lambda ns: f"{100 * ns / bare:.2f}%" if ns is not None and bare else ""
        rows = [(part, basis, fmt(ns, 0), pct(ns)) for part, basis, ns in A["parts"]]
        rows.append(("**sum of the parts**" + (" (some parts unknown)" if A["incomplete"]
                                               else ""), "", fmt(A["total_ns"], 0),
                     pct(A["total_ns"])))
        ci = A["measured_ci"]
        rows.append(("**measured CPU/req delta** (stallscope - bare, paired median)",
                     f"95% CI {ci[0]:+.0f} to {ci[1]:+.0f} ns" if ci else "no interval",
                     fmt(A["measured_ns"], 0), pct(A["measured_ns"])))
        rows.append(("unexplained remainder (measured - sum)", "", fmt(A["remainder_ns"], 0),
                     pct(A["remainder_ns"])))
        w(f"**{kind}** (bare: {fmt(bare, 0)} ns of CPU per request)\n")
        w(md_table(["part", "basis", "ns/request", "% of a bare request"], rows))
        w("")
    w("Programs: bpf_stats under wrk load (section 2 (a), its own run), which adds two clock "
      "reads to every run, so these figures are upper bounds; runs of programs on the wait "
      "tracepoints include wrk's own epoll_wait calls, which a request also causes. The slow "
      "path and the dispatch come from section 5's untracked storms (tracepoints mode) and "
      "apply only while a program sits on a syscall tracepoint; syscalls per request from "
      "`syscount -P` in (a) (server processes and wrk). The agent's CPU per request is "
      "measured in section 1's runs (schedstat, ns resolution). The measured delta is section "
      "1's CPU us/req (server + wrk + agent) with stallscope minus bare, per round; its "
      "interval is wide on a shared host, so a remainder inside it is noise, not a missing "
      "part.")
    return "\n".join(out)


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
    w("The result is for *measured*. *corrected*: for ratios, the 95% interval of the paired "
      "ratio (and whether it is narrow enough to judge); for ns/run figures "
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
            base = config == "bare"
            ci = r.get("cpu_ratio_paired_ci")
            mark = ""
            if config == "stallscope" and r.get("cpu_ratio_paired_median") is not None:
                mark = " " + verdict(r["cpu_ratio_paired_median"] <= TARGET_CPU_RATIO and
                                     (ci_half(ci) or 1) <= TARGET_CI_HALF)
            rci = r.get("rps_ratio_paired_ci")
            table.append((
                CONFIG_LABEL[config], f"{r['cpu_us_per_req']:.1f}",
                "1" if base else fmt(r.get("cpu_ratio_paired_median"), 3) + mark,
                "" if base or not ci else f"{ci[0]:.3f}-{ci[1]:.3f} (+-{100 * ci_half(ci):.1f}%)",
                " / ".join(f"{x:.0f}" for x in r["cpu_runs"]) if r.get("cpu_runs") else "",
                f"{r['rps']:.0f}",
                "1" if base else fmt(r["rps_ratio_paired_median"], 3) + (
                    f" ({rci[0]:.2f}-{rci[1]:.2f})" if rci else ""),
                f"{r['p99_ms']:.2f}", "1" if base else f"{r['p99_ratio']:.2f}",
                "" if base else
                (f"{r['quiet_ratio']:.3f} ({r['quiet_n']}/{rows['bare']['quiet_n']})"
                 if r["quiet_ratio"] is not None else "n/a"),
                fmt(r.get("agent_cpu_pct")) if not base else "",
                f"{r['other_cpu_pct']:.0f}",
            ))
        desc = SERVERS[kind][2] if kind in SERVERS else kind
        w(f"**{kind}**: {desc}\n")
        w(md_table(["config", "CPU us/req", "CPU/req ratio (paired)", "its 95% CI",
                    "CPU us/req per round", "req/s", "req/s ratio (paired, 95% CI)", "p99 ms",
                    "p99 ratio", "quiet-run req/s ratio (n)", "tool CPU %", "other CPU %"],
                   table))
        w("")
    w("The headline is CPU per request (target: ratio <= "
      f"{TARGET_CPU_RATIO} with a 95% interval within +-{100 * TARGET_CI_HALF:g}%): CPU (user + "
      "system) of the server, wrk and the tool per request, less sensitive than req/s to other "
      "load on the host; it includes the BPF programs, which run in the server's and wrk's "
      "context. CPU/req ratio = median over rounds of config / bare of the same round, with "
      "the 95% interval of the mean paired ratio (t on the logs): a target inside it is "
      "neither shown met nor missed by this run. req/s: the same pairing, secondary (issue 7's "
      f"{TARGET_RPS_RATIO} is no longer a target: throughput moves with whatever else the "
      "host runs). tool CPU % = the tool's own processes, % of one core. other CPU % = host "
      "CPU used during the run by processes that are not part of the benchmark (noise).\n")
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
    bpf_storms = [("(b) untracked getppid", R["storm"]["storm_progs"]),
              ("(b) untracked epoll_wait(0)", R["storm"].get("storm_wait_progs") or {}),
              ("(c) tracked epoll_wait(0)", R["storm"].get("storm_tracked_progs") or {})]
    bpf_storms = [(label, progs) for label, progs in bpf_storms if progs]
    for _, progs in bpf_storms:
        attach.update({n: v.get("attach") for n, v in progs.items()})
    ran = lambda progs: {n for n, v in progs.items() if v.get("run_cnt")}
    names = sorted(set().union(*(ran(kc["progs"]) for kc in R["kcost"].values()),
                               *(ran(progs) for _, progs in bpf_storms)),
                   key=lambda n: (n.startswith("bench_"), n not in sysnames, n))
    header = ["program"]
    for kind in R["kcost"]:
        header += [f"(a) {kind} load ns/run", "runs/s"]
    for label, _ in bpf_storms:
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
        for _, progs in bpf_storms:
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
    per_call = lambda progs: sum(v["run_time_ns"] for v in progs.values()
                                 if v.get("syscall")) / st["storm_calls"]
    w(f"- (b), (c): one storm of {st['storm_calls']:,} calls each with bpf_stats on, the agent "
      f"watching an idle gunicorn ((b), untracked storm process) or the storm process itself "
      f"((c)). stallscope's syscall programs took, per call: "
      f"{per_call(st['storm_progs']):.0f} ns for an untracked getppid, "
      f"{per_call(st.get('storm_wait_progs') or {}):.0f} ns for an untracked epoll_wait(0), "
      f"{per_call(st.get('storm_tracked_progs') or {}):.0f} ns for a tracked one. What the "
      f"storms cost end to end (bpf_stats off: programs, tracepoint dispatch and the slow "
      f"syscall path), against no agent and the other tools, is section 5.")
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
    if R.get("storms"):
        w("")
        w(storms.render(R["storms"], S["storms"], P))
    if any(S.get("account", {}).values()):
        w("")
        w(render_account(R, S))
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
  - (b) a C loop (`scripts/bench/storm.c`) making getppid(), then empty `epoll_wait(timeout
    0)`, {P['storm_calls']:,} times each, not tracked, while the agent is attached to an idle
    gunicorn (bpf_stats on: the programs' cost; end to end, bpf_stats off, see section 5).
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
- **Syscall storms** (section 5, `scripts/bench/storms.py`): {P.get('storms_rounds', 0)} rounds;
  each round runs every configuration once, in an order rotated by one each round: no agent,
  `stallscope attach --syscall-hooks MODE` for each mode the agent's `attach --help` lists
  (tracepoints, raw, sched), each mechanism alone with an empty program
  (`scripts/bench/storm_ref.bpf.c`: a `syscalls:sys_enter_epoll_wait` tracepoint, a tp_btf
  program on raw `sys_enter`, a uprobe on libc's `epoll_wait` in the tracked storm process
  only), offcputime+syscount and the bpftrace script. Per configuration:
  the tool attaches to one idle asyncio process (stallscope also to a storm process held
  before its loop); a storm process it does not track runs
  {(R.get('storms') or {}).get('calls', 0):,} calls of each kind (up to {P.get('storms_calls', 0):,}: fewer where a short calibration storm
  finds syscalls slow, so that one storm takes about {P.get('storms_budget_s', 0):g} s), then
  the held one is released and runs them tracked; the tool stops. CPU ns
  per call (`CLOCK_PROCESS_CPUTIME_ID`, user + system of the storm process, which the BPF
  programs and uprobe traps are charged to). Each run is paired with its own baseline, the
  mean of two storms with nothing attached just before the tool attaches and just after it
  stops (for *no agent* an A/A test of the method); figures are medians over rounds of the
  paired ratio and added ns, with the 95% percentile-bootstrap interval of the median. The default mode is the one the agent reports in its startup line
  when started without `--syscall-hooks`.
- **Cost account** (section 6): see the note under its tables.

Targets: CPU per request with stallscope <= {TARGET_CPU_RATIO} of bare, paired per round, with
a 95% interval within +-{100 * TARGET_CI_HALF:g}% (issue 17; the throughput ratio >=
{TARGET_RPS_RATIO} of issue 7 is shown, not judged); untracked syscall storms <=
{TARGET_STORM_UNTRACKED_RATIO} of no agent for every kind in the default hook mode and a tracked
epoll_wait round trip <= +{TARGET_STORM_TRACKED_EPOLL_NS} ns in every mode (issue 17);
agent < {TARGET_AGENT_CPU_PCT:g}% of one core;
agent RSS <= {TARGET_RSS_MB} MB; syscall programs <= {TARGET_SYS_TRACKED_NS} ns per run on
tracked threads and <= {TARGET_SYS_UNTRACKED_NS} ns on untracked ones; sched_switch <=
{TARGET_SWITCH_NS} ns (issue 2); recall >= {TARGET_RECALL}, precision >= {TARGET_PRECISION},
p99 duration error <= {TARGET_P99_ERR_MS:g} ms.
"""
    path.write_text(head + body + "\n" + notes)


