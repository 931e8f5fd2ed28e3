"""Syscall storms (issue 17): what one cheap syscall costs a process the agent does not track
(a bystander) and one it tracks, per syscall kind, with no agent, with stallscope in each
--syscall-hooks mode the agent offers, with each mode's kernel mechanism alone (an empty
program: storm_ref.bpf.c) and (untracked getppid / epoll_wait only) with the peer tools. Many
short rounds in one run, the configurations in a rotating order each round; CPU ns per call
from scripts/bench/storm.c (CLOCK_PROCESS_CPUTIME_ID).

One slot = one configuration in one round: a held storm process (the tracked one) is started;
a storm with nothing attached runs (baseline); the tool attaches to one idle asyncio process
(stallscope also to the held storm; the uprobe reference to the held storm only); an untracked
storm runs every kind, then the held storm is released and runs them tracked; the tool stops;
a second baseline storm runs. Each run is compared with the mean of its two baselines, a
second or two away, so the host's drift cancels; the no-agent slot is an A/A test. Each tool
starts once per round."""

import os
import re
import signal
import statistics
import subprocess
import time
from pathlib import Path

from common import *  # noqa: F401,F403
from tools import AGENTS, Stallscope

KINDS = ["epoll", "getppid", "pipe", "futex"]   # storm.c runs them in this order
KIND_LABEL = {
    "epoll": "epoll_wait(timeout 0), empty set",
    "getppid": "getppid()",
    "pipe": "pipe: write 1 byte + read it back",
    "futex": "futex wake, no waiter",
}
TOOL_KINDS = ["epoll", "getppid"]                # the peers run on these (untracked) only
MODES = ["tracepoints", "raw", "sched"]           # --syscall-hooks values, in report order
PEERS = ["libbpf-tools", "bpftrace"]
# What each hooking mechanism costs on its own: scripts/bench/storm_ref.bpf.c's empty programs
# (config -> floor_loader program argument; "{pid}" and "{libc}": the tracked storm's).
REFS = {
    "ref-tracepoint": "ref_tp_epoll_wait",
    "ref-raw": "ref_raw_sys_enter",
    "ref-uprobe": "ref_uprobe@{pid}:{libc}:epoll_wait",
}
REF_LABEL = {
    "ref-tracepoint": "kernel alone: empty program on syscalls:sys_enter_epoll_wait",
    "ref-raw": "kernel alone: empty tp_btf program on raw sys_enter",
    "ref-uprobe": "kernel alone: empty uprobe on libc epoll_wait, tracked process only",
}
# A uprobe trap costs microseconds here: the tracked storm under ref-uprobe makes fewer calls
# (ns per call is what is compared).
UPROBE_CALLS_DIVISOR = 20


def config_label(config):
    if config == "none":
        return "no agent"
    if config.startswith("stallscope-"):
        return f"stallscope --syscall-hooks {config.split('-', 1)[1]}"
    return REF_LABEL.get(config) or CONFIG_LABEL[config]


# ---- what the agent offers -----------------------------------------------------------------

def hook_modes():
    """The --syscall-hooks values `stallscope attach --help` lists (of MODES, in that order)."""
    cp = subprocess.run([str(AGENT), "attach", "--help"], capture_output=True, text=True,
                        timeout=30)
    text = cp.stdout + cp.stderr
    m = re.search(r"--syscall-hooks[ =]+(\S+)", text)
    offered = set(m.group(1).split("|")) if m and "|" in m.group(1) else set()
    if not offered:   # not a value list: the option's paragraph names the modes
        para = re.search(r"--syscall-hooks.*?(?=\n  -|\Z)", text, re.S)
        offered = {w for w in MODES if para and re.search(rf"\b{w}\b", para.group(0))}
    return [mode for mode in MODES if mode in offered]


def mode_of_startup(line):
    """The hook mode an agent's startup line names: "waits seen by ... (--syscall-hooks MODE..."
    (older agents: "waits hooked by syscall tracepoints|raw_syscalls"), or None."""
    m = re.search(r"\(--syscall-hooks (\w+)", line)
    if m:
        return m.group(1)
    m = re.search(r"waits hooked by ([^;]+)", line)
    what = m.group(1).lower() if m else ""
    if "raw" in what:
        return "raw"
    if "tracepoint" in what:
        return "tracepoints"
    return None


class IdleLoop:
    """One idle asyncio process: what the agent watches while a bystander storms."""

    def __init__(self):
        self.proc = Proc("storms-idle-asyncio",
                         [PY, "-c", "import asyncio; print('ready', flush=True); "
                                    "asyncio.new_event_loop().run_forever()"])
        self.pid = self.proc.pid
        wait_for(lambda: "ready" in self.proc.out(), 30, "the idle asyncio process",
                 [self.proc])
        time.sleep(0.2)   # into its epoll_wait

    def pids(self):
        return [self.pid]

    def serving_pids(self):
        return [self.pid]

    def stop(self):
        self.proc.kill()


# ---- running -------------------------------------------------------------------------------

def parse_storm(text, tag):
    out = {}
    for m in re.finditer(r"^kind (\w+) calls \d+ wall_ns_per_call ([\d.]+) "
                         r"cpu_ns_per_call ([\d.]+)", text, re.M):
        out[m.group(1)] = (float(m.group(3)), float(m.group(2)))
    if not out:
        die(f"syscall storm printed no figure ({tag}): {text[-300:]}")
    return out


class ModeUnavailable(Exception):
    pass


def libc_of(pid):
    """Path of the libc mapped by a process (where the uprobe reference goes)."""
    try:
        for line in Path(f"/proc/{pid}/maps").read_text().splitlines():
            path = line.split()[-1]
            if re.search(r"/libc[.-][^/]*so", path):
                return path
    except OSError:
        pass
    die(f"cannot find the libc of process {pid} (for the uprobe reference)")


class RefPrograms:
    """storm_ref.bpf.c's program for one reference config, held by floor_loader."""

    def __init__(self, config, held, tag):
        arg = REFS[config].format(pid=held.pid if held else 0,
                                  libc=libc_of(held.pid) if held else "")
        self.proc = Proc(f"ref-{tag}", [OUT / "floor_loader", OUT / "storm_ref.bpf.o", arg])
        wait_for(lambda: "attached" in self.proc.out(), 30, f"the {config} program to attach",
                 [self.proc])

    def stop(self):
        self.proc.stop(signal.SIGINT, timeout=10)


def start_tool(config, idle, held, tag, res):
    if config == "none":
        return None
    if config in REFS:
        return RefPrograms(config, held, tag)
    if config.startswith("stallscope-"):
        mode = config.split("-", 1)[1]
        pids = [idle.pid] + ([held.pid] if held else [])
        try:
            agent = Stallscope(pids, tag, hooks=mode)
        except BenchError as e:
            raise ModeUnavailable(f"stallscope --syscall-hooks {mode} did not attach, "
                                  f"dropped from the storms: {str(e).splitlines()[0]}") from e
        if config not in res["startup"]:
            res["startup"][config] = agent.startup
            got = mode_of_startup(agent.startup)
            if got != mode:
                res["notes"].append(f"stallscope --syscall-hooks {mode}: its startup line "
                                    f"names mode {got} (`{agent.startup.strip()}`)")
        time.sleep(0.2)   # past its first scans of the processes
        return agent
    return AGENTS[config](idle, tag)


def bare_storm(calls, kinds, tag):
    """{kind: CPU ns per call} of a storm process with no tool attached."""
    rc, out, err = run_child(tag, [OUT / "storm", calls, ",".join(kinds)], 300)
    if rc != 0:
        die(f"storm failed ({tag}, exit {rc}): {out}{err}")
    return parse_storm(out, tag)


def run_slot(config, rnd, idle, P, res):
    """One configuration in one round, between two storms with no tool (its baseline: their
    mean, a second or two away, so that the host's drift cancels): the tool attaches, an
    untracked storm runs, then (no agent, stallscope, references) the held, tracked one; the
    tool stops. Returns rows {round, case, config, kind, cpu_ns, wall_ns, base_ns}. For
    config "none" this is an A/A test: what the method reads when nothing changes."""
    tag = f"storms-{config}-r{rnd}"
    peer = config in PEERS
    kinds = TOOL_KINDS if peer else KINDS
    calls = P["storms_calls"]
    held = None
    if not peer:
        held_calls = calls // UPROBE_CALLS_DIVISOR if config == "ref-uprobe" else calls
        held = Proc(f"{tag}-tracked", [OUT / "storm", held_calls, ",".join(kinds), "hold"])
        wait_for(lambda: "ready" in held.out(), 30, "the tracked storm to start", [held])
    tool = None
    measured = []   # (case, {kind: (cpu, wall)})
    try:
        before = bare_storm(calls, kinds, f"{tag}-before")
        tool = start_tool(config, idle, held, tag, res)
        rc, out, err = run_child(f"{tag}-untracked", [OUT / "storm", calls, ",".join(kinds)], 300)
        if rc != 0:
            die(f"untracked storm failed ({tag}, exit {rc}): {out}{err}")
        measured.append(("untracked", parse_storm(out, tag)))
        if held:
            os.kill(held.pid, signal.SIGUSR1)
            try:
                held.p.wait(timeout=300)
            except subprocess.TimeoutExpired:
                die(f"tracked storm did not finish ({tag})")
            if held.p.returncode != 0:
                die(f"tracked storm failed ({tag}, exit {held.p.returncode}): {held.tail()}")
            measured.append(("tracked", parse_storm(held.out(), tag)))
    finally:
        if tool:
            tool.stop()
        if held:
            held.kill()
    after = bare_storm(calls, kinds, f"{tag}-after")
    rows = []
    for case, figures in measured:
        for kind, (cpu, wall) in figures.items():
            rows.append(dict(round=rnd, case=case, config=config, kind=kind, cpu_ns=cpu,
                             wall_ns=wall, base_ns=(before[kind][0] + after[kind][0]) / 2))
    return rows


def calls_per_kind(P):
    """P["storms_calls"], or fewer where syscalls are slow (about 1 us per call on some VMs,
    0.2 us on others), so that one storm process of all kinds takes about
    P["storms_budget_s"] and the part keeps to its time budget. Returns (calls, ns per call of
    each kind in the calibration storm)."""
    rc, out, err = run_child("storms-calibration", [OUT / "storm", 20000, ",".join(KINDS)], 60)
    if rc != 0:
        die(f"calibration storm failed (exit {rc}): {out}{err}")
    ns = {k: cpu for k, (cpu, _) in parse_storm(out, "calibration").items()}
    fit = int(P["storms_budget_s"] * 1e9 / sum(ns.values()))
    return max(20000, min(P["storms_calls"], fit // 1000 * 1000)), ns


def run(P):
    """The storms part. Returns its raw results (R["storms"])."""
    t0 = time.monotonic()
    modes = hook_modes()
    calls, calib = calls_per_kind(P)
    P = {**P, "storms_calls": calls}
    log(f"storms: {calls:,} calls per kind and storm (calibration, CPU ns per call: "
        + ", ".join(f"{k} {v:.0f}" for k, v in calib.items()) + ")")
    res = {"calls": calls, "calibration_ns": calib, "rounds": P["storms_rounds"], "modes": modes,
           "kinds": KINDS, "tool_kinds": TOOL_KINDS, "notes": [], "runs": [], "startup": {}}
    for mode in MODES:
        if mode not in modes:
            note = (f"stallscope --syscall-hooks {mode}: not offered by this agent "
                    f"(attach --help), skipped")
            res["notes"].append(note)
            log(f"storms: {note}")
    idle = IdleLoop()
    try:
        # The mode the agent picks by itself (no --syscall-hooks): the one judged as default.
        probe = Stallscope([idle.pid], "storms-default-mode")
        probe.stop()
        res["default_startup"] = probe.startup
        res["default_mode"] = mode_of_startup(probe.startup)
        log(f"storms: default hook mode {res['default_mode']} ({probe.startup.strip()})")
        refs = list(REFS) if STATE["floor_ok"] else []
        if not refs:
            res["notes"].append("the reference programs (storm_ref.bpf.c) could not be built: "
                                "what the kernel costs alone is not shown")
        slots = ["none"] + [f"stallscope-{m}" for m in modes] + refs + PEERS
        for rnd in range(1, P["storms_rounds"] + 1):
            k = (rnd - 1) % len(slots)
            for config in slots[k:] + slots[:k]:
                if config not in slots:
                    continue
                try:
                    res["runs"] += run_slot(config, rnd, idle, P, res)
                except ModeUnavailable as e:
                    log(f"storms: {e}")
                    res["notes"].append(str(e))
                    slots.remove(config)
                    res["runs"] = [r for r in res["runs"] if r["config"] != config]
            done = [r for r in res["runs"] if r["round"] == rnd and r["kind"] == "epoll"
                    and r["case"] == "untracked"]
            log(f"storms round {rnd}/{P['storms_rounds']}: untracked epoll_wait CPU ns/call "
                + ", ".join(f"{r['config']} {r['cpu_ns']:.0f}" for r in done))
    finally:
        idle.stop()
    res["wall_s"] = time.monotonic() - t0
    log(f"storms: {len(res['runs'])} figures in {res['wall_s']:.0f} s")
    return res


# ---- summary, targets, report --------------------------------------------------------------

def _figure(runs):
    """Median ns/call of a config's runs, and its paired ratios / deltas against each run's
    own baseline (the mean of the no-tool storms just before and after it)."""
    ratios = [r["cpu_ns"] / r["base_ns"] for r in runs if r["base_ns"] > 0]
    deltas = [r["cpu_ns"] - r["base_ns"] for r in runs]
    return {
        "n": len(runs), "ns": statistics.median(r["cpu_ns"] for r in runs),
        "ns_runs": [r["cpu_ns"] for r in runs],
        "base_ns": statistics.median(r["base_ns"] for r in runs),
        "ratio": statistics.median(ratios) if ratios else None,
        "ratio_ci": median_ci95(ratios),
        "delta_ns": statistics.median(deltas) if deltas else None,
        "delta_ci": median_ci95(deltas),
    }


def summarize(St):
    """{case: {kind: {config: figure}}}, plus the checks."""
    out = {"figures": {}, "default_mode": St.get("default_mode")}
    for case in ("untracked", "tracked"):
        out["figures"][case] = {}
        for kind in St["kinds"]:
            rr = [r for r in St["runs"] if r["case"] == case and r["kind"] == kind]
            if not rr:
                continue
            figs = {}
            order = ["none"] + [f"stallscope-{m}" for m in MODES] + list(REFS) + PEERS
            present = {r["config"] for r in rr}
            for config in [c for c in order if c in present] + sorted(present - set(order)):
                figs[config] = _figure([r for r in rr if r["config"] == config])
            # the looser pairing, against the no-agent slot of the same round (results.json
            # only: the run's own baseline is nearer in time)
            none = {r["round"]: r["cpu_ns"] for r in rr if r["config"] == "none"}
            for config, f in figs.items():
                ratios = [r["cpu_ns"] / none[r["round"]] for r in rr
                          if r["config"] == config and none.get(r["round"])]
                f["ratio_vs_none_slot"] = statistics.median(ratios) if ratios else None
            out["figures"][case][kind] = figs
    out["checks"] = checks(out)
    return out


def _where(ci, target):
    """Where a 95% interval lies against an upper-bound target."""
    if not ci:
        return "no interval (too few rounds)"
    if ci[1] <= target:
        return "all of it within the target"
    if ci[0] > target:
        return "all of it over the target"
    return "it straddles the target: this run cannot tell"


def checks(SS):
    """(figure, measured, interval, target, ok, None) rows for the Targets table."""
    rows = []
    default = SS.get("default_mode")
    cfg = f"stallscope-{default}" if default else None
    for kind, figs in SS["figures"].get("untracked", {}).items():
        f = figs.get(cfg) if cfg else None
        if not f:
            continue
        ci = f["ratio_ci"]
        rows.append((f"untracked {kind} storm, default mode ({default}): CPU/call ratio",
                     fmt(f["ratio"], 3),
                     (f"95% CI {ci[0]:.3f}-{ci[1]:.3f}; " if ci else "") +
                     _where(ci, TARGET_STORM_UNTRACKED_RATIO),
                     f"<= {TARGET_STORM_UNTRACKED_RATIO}",
                     f["ratio"] is not None and f["ratio"] <= TARGET_STORM_UNTRACKED_RATIO, None))
    for config, f in SS["figures"].get("tracked", {}).get("epoll", {}).items():
        if not config.startswith("stallscope-"):
            continue
        ci = f["delta_ci"]
        rows.append((f"tracked epoll_wait round trip, {config.split('-', 1)[1]} mode: added ns",
                     fmt(f["delta_ns"]),
                     (f"95% CI {ci[0]:+.0f} to {ci[1]:+.0f} ns; " if ci else "") +
                     _where(ci, TARGET_STORM_TRACKED_EPOLL_NS),
                     f"<= +{TARGET_STORM_TRACKED_EPOLL_NS}",
                     f["delta_ns"] is not None and f["delta_ns"] <= TARGET_STORM_TRACKED_EPOLL_NS,
                     None))
    return rows


def render(St, SS, P):
    out = []
    w = out.append
    w("## 5. Syscall storms: what a syscall costs with the agent on the host\n")
    w(f"CPU ns per call of `scripts/bench/storm.c` ({St['calls']:,} calls per kind and run; "
      f"median of {St['rounds']} rounds, the configurations in a rotating order each round). "
      f"Each run is paired with its own baseline: the mean of two storms with no tool "
      f"attached, just before the tool attaches and just after it stops. *ratio* and *added* "
      f"are medians over rounds of run / baseline and run - baseline, each with the 95% "
      f"interval of that median (percentile bootstrap over the rounds, 2000 resamples). The *no agent* rows are an A/A test (nothing attached between the two "
      f"baselines): how far the method reads from 1 when nothing changes. Default hook mode "
      f"(the agent's choice without `--syscall-hooks`): "
      f"**{St.get('default_mode') or 'unknown'}** "
      f"(`{(St.get('default_startup') or '').strip()}`).\n")
    notes = list(St.get("notes", []))
    if not St.get("default_mode"):
        notes.append("the default mode could not be told from the startup line: no untracked "
                     "storm is judged against the target")
    elif f"stallscope-{St['default_mode']}" not in {r["config"] for r in St["runs"]}:
        notes.append(f"the default mode ({St['default_mode']}) was not measured: no untracked "
                     f"storm is judged against the target")
    for note in notes:
        w(f"- {note}")
    if notes:
        w("")
    for case, title in (("untracked", "Untracked process (a bystander: the agent watches one "
                                      "idle asyncio process)"),
                        ("tracked", "Tracked process (the agent attached to the storm "
                                    "process itself)")):
        figs = SS["figures"].get(case, {})
        if not figs:
            continue
        w(f"**{title}**\n")
        rows = []
        for kind, by_config in figs.items():
            for config, f in by_config.items():
                base = config == "none"
                mark = ""
                if (case == "untracked" and f["ratio"] is not None
                        and config == f"stallscope-{SS.get('default_mode')}"):
                    mark = " " + verdict(f["ratio"] <= TARGET_STORM_UNTRACKED_RATIO)
                if (case == "tracked" and kind == "epoll" and f["delta_ns"] is not None
                        and config.startswith("stallscope-")):
                    mark = " " + verdict(f["delta_ns"] <= TARGET_STORM_TRACKED_EPOLL_NS)
                rows.append((
                    KIND_LABEL[kind], config_label(config) + (" (A/A)" if base else ""),
                    fmt(f["ns"]), fmt(f["base_ns"]),
                    fmt(f["ratio"], 3) + (mark if case == "untracked" else ""),
                    f"{f['ratio_ci'][0]:.3f}-{f['ratio_ci'][1]:.3f}" if f["ratio_ci"] else "",
                    "" if f["delta_ns"] is None else
                    f"{f['delta_ns']:+.1f}" + (mark if case == "tracked" else ""),
                    " / ".join(f"{x:.0f}" for x in f["ns_runs"])))
        w(md_table(["syscall", "config", "CPU ns/call", "baseline ns/call", "ratio", "95% CI",
                    "added ns", "ns/call per round"], rows))
        w("")
    kernel = {"tracepoints": "ref-tracepoint", "raw": "ref-raw", "sched": "ref-uprobe"}
    modes = [m for m in MODES if any(f"stallscope-{m}" in figs_
                                     for c in SS["figures"].values() for figs_ in c.values())]
    if modes and any(kernel[m] in figs_ for c in SS["figures"].values() for figs_ in c.values()
                     for m in modes):
        rows = []
        for case, by_kind in SS["figures"].items():
            for kind, figs_ in by_kind.items():
                row = [KIND_LABEL[kind], case]
                for m in modes:
                    ours, ref = figs_.get(f"stallscope-{m}"), figs_.get(kernel[m])
                    row.append(f"{ours['delta_ns']:+.0f}" if ours else "")
                    row.append(f"{ref['delta_ns']:+.0f}" if ref else "")
                    # sched arms its uprobes only for suspect loops: no subtraction there
                    row.append(f"{ours['delta_ns'] - ref['delta_ns']:+.0f}"
                               if ours and ref and m != "sched" else "")
                rows.append(row)
        header = ["syscall", "case"]
        for m in modes:
            header += [f"{m}: stallscope added ns", f"kernel alone ({kernel[m]})",
                       "what stallscope adds"]
        w("**What the kernel charges on its own, and what stallscope adds** (median added ns "
          "per call against each run's baseline; *kernel alone* = the mode's mechanism with an "
          "empty program: a per-syscall tracepoint on epoll_wait entry for tracepoints, a "
          "tp_btf program on raw sys_enter for raw, a uprobe on the tracked process's libc "
          "epoll_wait for sched, i.e. the trap a pid-scoped uprobe costs each time it is "
          "armed and hit; sched mode arms them only while a loop is suspect, so nothing is "
          "subtracted there)\n")
        w(md_table(header, rows))
        w("")
    w(f"Targets (issue 17): untracked storms <= {TARGET_STORM_UNTRACKED_RATIO} of no agent for "
      f"every kind in the default mode; a tracked epoll_wait round trip <= "
      f"+{TARGET_STORM_TRACKED_EPOLL_NS} ns in every mode. The tracked storm runs the kinds in "
      f"the order {', '.join(St['kinds'])}: after its first epoll_wait the agent knows it as a "
      f"loop, so getppid, pipe and futex run inside one long busy period (a loop that never "
      f"waits). The peers run on untracked {' and '.join(St['tool_kinds'])} only. Under "
      f"the uprobe reference the tracked storm makes 1/{UPROBE_CALLS_DIVISOR} of the calls "
      f"(each epoll_wait traps).")
    return "\n".join(out)
