#!/usr/bin/python3
"""stallscope's performance benchmark (run it through scripts/bench.sh, which builds first).

Three parts, all in one session so the figures are ratios taken side by side:

1. Overhead on real servers (gunicorn gthread, Tornado) under wrk, 127.0.0.1 only. Per round
   one bare run and one run with each agent, the agents in a rotating order so none always
   follows the bare run; each run is a warm-up followed by a measured wrk --latency run.
   Agents: stallscope (attached to the server's master pid, follows its workers), libbpf-tools
   offcputime + syscount (one pair per process that serves requests: they take a single pid and
   do not follow children) and a bpftrace script measuring the same busy periods (epoll_wait
   return -> next epoll_wait entry, per thread, for the server's whole process tree).
2. In-kernel cost of stallscope's programs from bpf_stats (run_time_ns / run_cnt deltas over a
   window): (a) under wrk load on the tracked server, with syscount -P counting which syscalls
   came from tracked processes so the cost on tracked threads can be separated from the cost
   everyone else (wrk included) pays; (b) a getppid() storm from an untracked process while the
   agent watches an idle server: the cost every other process on the host pays.
3. Agent footprint: CPU (% of one core, utime+stime) and peak RSS (VmHWM), idle and under load.

Writes bench-out/ (results.json, logs/, runs/) and rewrites BENCHMARKS.md; with --quick (short
runs, to try it out) bench-out/results.quick.json and bench-out/BENCHMARKS.quick.md instead.
Everything it starts runs in its own process group and is killed on exit; bpf_stats and tracefs
are put back the way they were.
"""

import argparse
import datetime
import json
import os
import re
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
OUT = ROOT / "bench-out"
LOGS = OUT / "logs"
AGENT_BUILT = Path(os.environ.get("STALLSCOPE_BIN") or ROOT / "build" / "bin" / "stallscope")
AGENT = OUT / "stallscope"   # a copy, so that every run uses the same binary
APPS = ROOT / "tests" / "bench-apps"
PY = "/usr/bin/python3"       # Debian's, with tornado (the pyenv python3 on PATH has none)
GUNICORN = "/usr/bin/gunicorn"
WRK = "/usr/bin/wrk"
OFFCPUTIME = "/usr/sbin/offcputime"
SYSCOUNT = "/usr/sbin/syscount"
BPFTRACE = "/usr/bin/bpftrace"
BPFTOOL = shutil.which("bpftool") or "/usr/sbin/bpftool"
STDBUF = shutil.which("stdbuf") or "/usr/bin/stdbuf"
STATS_SYSCTL = Path("/proc/sys/kernel/bpf_stats_enabled")
TRACEFS = Path("/sys/kernel/tracing")
CLK_TCK = os.sysconf("SC_CLK_TCK")
WRK_ARGS = ["-t2", "-c32"]

FLOOR_OK = False   # set by preflight once floor.bpf.c has been built
QUIET_OTHER_PCT = 25.0
TARGET_RPS_RATIO = 0.97
TARGET_RSS_MB = 64
TARGET_SYS_TRACKED_NS = 150
TARGET_SYS_UNTRACKED_NS = 50
TARGET_SWITCH_NS = 300
SYSCALL_PROGS = ("ss_sys_enter", "ss_sys_exit")

CONFIGS = ["bare", "stallscope", "libbpf-tools", "bpftrace"]
CONFIG_LABEL = {
    "bare": "bare",
    "stallscope": "stallscope",
    "libbpf-tools": "offcputime+syscount",
    "bpftrace": "bpftrace busy periods",
}


def log(msg):
    print(f"[bench {time.strftime('%H:%M:%S')}] {msg}", flush=True)


class BenchError(Exception):
    pass


def die(msg):
    raise BenchError(msg)


# ---- processes -----------------------------------------------------------------------------

LIVE = []   # Procs not yet reaped; each leads its own process group


def _write_pidfile():
    # scripts/bench.sh kills what is listed here if this script dies without cleaning up.
    try:
        (OUT / "live-pgids").write_text("".join(f"{p.pid}\n" for p in LIVE))
    except OSError:
        pass


class Proc:
    """A child in its own session/process group, stdout and stderr to bench-out/logs/."""

    def __init__(self, name, argv, cwd=ROOT):
        self.name = name
        self.argv = [str(a) for a in argv]
        self.out_path = LOGS / f"{name}.out"
        self.err_path = LOGS / f"{name}.err"
        with open(self.out_path, "wb") as out, open(self.err_path, "wb") as err:
            self.p = subprocess.Popen(self.argv, stdout=out, stderr=err, stdin=subprocess.DEVNULL,
                                      cwd=cwd, start_new_session=True)
        self.pid = self.p.pid
        LIVE.append(self)
        _write_pidfile()

    def alive(self):
        return self.p.poll() is None

    def out(self):
        return self.out_path.read_text(errors="replace")

    def err(self):
        return self.err_path.read_text(errors="replace")

    def tail(self, n=15):
        text = (self.out() + self.err()).strip().splitlines()
        return "\n".join("    " + line for line in text[-n:])

    def _reaped(self):
        if self in LIVE:
            LIVE.remove(self)
            _write_pidfile()

    def stop(self, sig=signal.SIGINT, timeout=20.0, on_poll=None):
        """Sends `sig` to the process, waits for it (calling on_poll meanwhile), then kills
        whatever is left of its process group. Returns (exit code, seconds it took)."""
        t0 = time.monotonic()
        if self.alive():
            try:
                os.kill(self.pid, sig)
            except ProcessLookupError:
                pass
        deadline = t0 + timeout
        while self.alive() and time.monotonic() < deadline:
            if on_poll:
                on_poll()
            time.sleep(0.05)
        took = time.monotonic() - t0
        killed = self.alive()
        self.kill()
        rc = self.p.returncode
        return (None if killed else rc), took

    def kill(self):
        try:
            os.killpg(self.pid, signal.SIGKILL)
        except (ProcessLookupError, PermissionError):
            pass
        try:
            self.p.wait(timeout=10)
        except subprocess.TimeoutExpired:
            pass
        self._reaped()


def run_child(name, argv, timeout):
    """Runs a short-lived child to completion (registered like the others, so it is killed if
    the benchmark stops meanwhile). Returns (exit code or None on timeout, stdout, stderr)."""
    p = Proc(name, argv)
    try:
        p.p.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        pass
    rc = p.p.poll()
    p.kill()
    return rc, p.out(), p.err()


def kill_all():
    for p in list(LIVE):
        p.kill()


def wait_for(pred, timeout, what, procs=()):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if pred():
            return
        for p in procs:
            if not p.alive():
                die(f"{p.name} exited (code {p.p.returncode}) while waiting for {what}:\n{p.tail()}")
        time.sleep(0.05)
    detail = "".join(f"\n  {p.name}:\n{p.tail()}" for p in procs)
    die(f"timed out after {timeout:.0f} s waiting for {what}{detail}")


# ---- /proc ---------------------------------------------------------------------------------

def proc_stat_fields(pid):
    """Fields of /proc/PID/stat after the comm, or None."""
    try:
        data = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    return data[data.rindex(")") + 2:].split()


def cpu_ticks(pid, children=False):
    f = proc_stat_fields(pid)
    if not f:
        return 0
    # after the comm: state=0 ppid=1 ... utime=11 stime=12 cutime=13 cstime=14
    ticks = int(f[11]) + int(f[12])
    if children:
        ticks += int(f[13]) + int(f[14])
    return ticks


def vm_hwm_kb(pid):
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1])
    except OSError:
        pass
    return None


def all_ppids():
    out = {}
    for d in os.listdir("/proc"):
        if d.isdigit():
            f = proc_stat_fields(d)
            if f:
                out[int(d)] = int(f[1])
    return out


def tree_pids(root):
    ppids = all_ppids()
    tree, todo = {root}, [root]
    while todo:
        parent = todo.pop()
        for pid, ppid in ppids.items():
            if ppid == parent and pid not in tree:
                tree.add(pid)
                todo.append(pid)
    return tree if root in ppids else set()


def host_busy_ticks():
    # user nice system (no idle/iowait; irq/softirq time is not charged to any task)
    fields = Path("/proc/stat").read_text().splitlines()[0].split()[1:]
    return int(fields[0]) + int(fields[1]) + int(fields[2])


class CpuWindow:
    """CPU of the given processes over a window, and of everything else on the host (noise:
    the machine is shared, and other work skews throughput figures)."""

    def __init__(self, pids_fn):
        self.pids_fn = pids_fn

    def start(self):
        self.t0 = time.monotonic()
        self.pids0 = self.pids_fn()
        self.mine0 = {p: cpu_ticks(p) for p in self.pids0}
        self.self0 = cpu_ticks(os.getpid(), children=True)
        self.host0 = host_busy_ticks()
        return self

    def stop(self):
        dt = time.monotonic() - self.t0
        mine = sum(cpu_ticks(p) - t for p, t in self.mine0.items())
        own = cpu_ticks(os.getpid(), children=True) - self.self0  # wrk, reaped, lands here
        host = host_busy_ticks() - self.host0
        other = max(0, host - mine - own)
        return {"seconds": dt, "other_cpu_pct": 100.0 * other / CLK_TCK / dt,
                "bench_cpu_s": (mine + own) / CLK_TCK}


def pct_of_core(ticks, seconds):
    return 100.0 * ticks / CLK_TCK / seconds if seconds > 0 else 0.0


# ---- wrk -----------------------------------------------------------------------------------

_UNIT_MS = {"us": 0.001, "ms": 1.0, "s": 1000.0, "m": 60000.0}


def parse_wrk(text):
    res = {"rps": None, "p99_ms": None, "requests": None, "errors": 0, "non_2xx": 0}
    m = re.search(r"Requests/sec:\s*([\d.]+)", text)
    if m:
        res["rps"] = float(m.group(1))
    m = re.search(r"^\s*99%\s+([\d.]+)(us|ms|s|m)\s*$", text, re.M)
    if m:
        res["p99_ms"] = float(m.group(1)) * _UNIT_MS[m.group(2)]
    m = re.search(r"(\d+) requests in", text)
    if m:
        res["requests"] = int(m.group(1))
    m = re.search(r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)", text)
    if m:
        res["errors"] = sum(int(x) for x in m.groups())
    m = re.search(r"Non-2xx or 3xx responses: (\d+)", text)
    if m:
        res["non_2xx"] = int(m.group(1))
    return res


def run_wrk(url, seconds, tag, latency=True):
    argv = [WRK, *WRK_ARGS, f"-d{seconds}s", *(["--latency"] if latency else []), url]
    rc, out, err = run_child(f"wrk-{tag}", argv, seconds + 30)
    if rc is None:
        die(f"wrk did not finish within {seconds + 30} s ({tag})")
    res = parse_wrk(out)
    if rc != 0 or res["rps"] is None or (latency and res["p99_ms"] is None):
        die(f"wrk failed ({tag}, exit {rc}):\n{out}{err}")
    if not res["requests"]:
        die(f"wrk completed no request against {url} ({tag})")
    return res


# ---- servers -------------------------------------------------------------------------------

def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Server:
    def __init__(self, kind):
        self.kind = kind
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}/"
        if kind == "gunicorn":
            argv = [GUNICORN, "-k", "gthread", "--threads", "8", "-w", "2",
                    "-b", f"127.0.0.1:{self.port}", "--chdir", APPS, "hello_wsgi:app"]
            self.workers_expected = 2
        else:
            argv = [PY, APPS / "hello_tornado.py", str(self.port)]
            self.workers_expected = 0
        self.proc = Proc(f"server-{kind}", argv)
        self.pid = self.proc.pid

    def _answers(self):
        try:
            with urllib.request.urlopen(self.url, timeout=2) as r:
                return r.status == 200 and r.read().startswith(b"hello")
        except OSError:
            return False

    def wait_ready(self, timeout=30):
        try:
            wait_for(lambda: len(self.children()) >= self.workers_expected and self._answers(),
                     timeout, f"the {self.kind} server to answer on {self.url}", [self.proc])
        except BenchError as e:
            die(f"the {self.kind} server did not start: {e}")
        time.sleep(0.3)

    def children(self):
        return sorted(tree_pids(self.pid) - {self.pid})

    def pids(self):
        return sorted(tree_pids(self.pid))

    def serving_pids(self):
        """The processes that handle requests: gunicorn's workers, or the Tornado process."""
        return self.children() if self.kind == "gunicorn" else [self.pid]

    def check_alive(self):
        if not self.proc.alive():
            die(f"the {self.kind} server died:\n{self.proc.tail()}")
        if len(self.children()) < self.workers_expected:
            die(f"the {self.kind} server lost workers: {self.children()}")

    def stop(self):
        self.proc.stop(signal.SIGTERM, timeout=10)


# ---- BPF stats -----------------------------------------------------------------------------

def set_bpf_stats(on):
    STATS_SYSCTL.write_text("1\n" if on else "0\n")


def owned_prog_ids(pid):
    """BPF program ids held by a process (its prog and link fds), from /proc/PID/fdinfo."""
    ids = set()
    try:
        fds = os.listdir(f"/proc/{pid}/fdinfo")
    except OSError:
        return ids
    for fd in fds:
        try:
            text = Path(f"/proc/{pid}/fdinfo/{fd}").read_text()
        except OSError:
            continue
        m = re.search(r"^prog_id:\s*(\d+)", text, re.M)
        if m:
            ids.add(int(m.group(1)))
    return ids


def count_links(pid):
    n = 0
    try:
        for fd in os.listdir(f"/proc/{pid}/fd"):
            try:
                if os.readlink(f"/proc/{pid}/fd/{fd}") == "anon_inode:bpf_link":
                    n += 1
            except OSError:
                pass
    except OSError:
        pass
    return n


def prog_stats(ids):
    """{name: (run_time_ns, run_cnt)} for the given program ids, from bpftool prog show -j."""
    cp = subprocess.run([BPFTOOL, "prog", "show", "-j"], capture_output=True, text=True,
                        timeout=30)
    if cp.returncode != 0:
        die(f"bpftool prog show failed: {cp.stderr.strip()}")
    out = {}
    for prog in json.loads(cp.stdout or "[]"):
        if prog.get("id") in ids:
            name = prog.get("name", str(prog["id"]))
            rt, rc = out.get(name, (0, 0))
            out[name] = (rt + prog.get("run_time_ns", 0), rc + prog.get("run_cnt", 0))
    return out


def stats_delta(before, after, seconds):
    out = {}
    for name, (rt1, rc1) in after.items():
        rt0, rc0 = before.get(name, (0, 0))
        drt, drc = rt1 - rt0, rc1 - rc0
        out[name] = {"run_time_ns": drt, "run_cnt": drc,
                     "ns_per_run": drt / drc if drc else None,
                     "runs_per_s": drc / seconds if seconds else None}
    return out


# ---- agents --------------------------------------------------------------------------------

class Stallscope:
    def __init__(self, server, tag):
        self.tag = tag
        self.report_path = OUT / "runs" / f"{tag}.jsonl"
        self.proc = Proc(f"stallscope-{tag}", [AGENT, "attach", "--pid", server.pid,
                                               "--format", "json", "--output", self.report_path])
        self.pid = self.proc.pid
        self.hwm_kb = 0
        wait_for(lambda: "stallscope: attached" in self.proc.err(), 30,
                 "stallscope to attach", [self.proc])
        self.prog_ids = owned_prog_ids(self.pid)
        if not self.prog_ids:
            die("stallscope attached but holds no BPF program fds (cannot read its stats)")

    def pids(self):
        return [self.pid]

    def poll_hwm(self):
        kb = vm_hwm_kb(self.pid)
        if kb:
            self.hwm_kb = max(self.hwm_kb, kb)

    def stop(self):
        self.poll_hwm()
        rc, took = self.proc.stop(signal.SIGINT, timeout=20, on_poll=self.poll_hwm)
        if rc != 0:
            die(f"stallscope did not exit cleanly (exit {rc}, after {took:.1f} s):\n"
                f"{self.proc.tail()}")
        self.stop_s = took
        try:
            self.reports = sum(1 for line in self.report_path.open() if '"loopBlock"' in line)
        except OSError:
            self.reports = None


class LibbpfTools:
    """offcputime -p PID + syscount -p PID, one pair per process serving requests."""

    def __init__(self, server, tag):
        self.procs = []
        for pid in server.serving_pids():
            oc = Proc(f"offcputime-{tag}-{pid}", [STDBUF, "-oL", OFFCPUTIME, "-p", pid])
            sc = Proc(f"syscount-{tag}-{pid}", [STDBUF, "-oL", SYSCOUNT, "-p", pid])
            self.procs += [oc, sc]
            wait_for(lambda: count_links(oc.pid) >= 1, 30, "offcputime to attach", [oc])
            wait_for(lambda: "Tracing syscalls" in sc.out(), 30, "syscount to attach", [sc])
        self.targets = server.serving_pids()

    def pids(self):
        return [p.pid for p in self.procs]

    def stop(self):
        for p in self.procs:  # all at once: each prints its summary on the way out
            if p.alive():
                os.kill(p.pid, signal.SIGINT)
        for p in self.procs:
            p.stop(signal.SIGINT, timeout=20)


BPFTRACE_SCRIPT = r"""// Written by scripts/bench/bench.py: stallscope's busy periods, the bpftrace way.
// Per thread of the tracked process tree: time from an epoll_wait return to the next
// epoll_wait entry (x86_64: epoll_wait 232, epoll_pwait 281, epoll_pwait2 441).
BEGIN {
%(seed)s
  printf("READY\n");
}
tracepoint:sched:sched_process_fork /@tracked[args->parent_pid]/ {
  @tracked[args->child_pid] = 1;
}
tracepoint:raw_syscalls:sys_exit /@tracked[pid]/ {
  if (args->id == 232 || args->id == 281 || args->id == 441) {
    @busy_start[tid] = nsecs;
  }
}
tracepoint:raw_syscalls:sys_enter /@tracked[pid]/ {
  if (args->id == 232 || args->id == 281 || args->id == 441) {
    $s = @busy_start[tid];
    if ($s) {
      $d = nsecs - $s;
      @busy_us = hist($d / 1000);
      if ($d >= %(threshold_ns)d) {
        printf("stall pid %%d tid %%d %%d ms\n", pid, tid, $d / 1000000);
      }
      delete(@busy_start[tid]);
    }
  }
}
END {
  clear(@tracked);
  clear(@busy_start);
}
"""


class Bpftrace:
    def __init__(self, server, tag):
        seed = "\n".join(f"  @tracked[{pid}] = 1;" for pid in server.pids())
        script = OUT / "runs" / f"busy_periods-{tag}.bt"
        script.write_text(BPFTRACE_SCRIPT % {"seed": seed, "threshold_ns": 100_000_000})
        self.proc = Proc(f"bpftrace-{tag}", [BPFTRACE, "-B", "line", script])
        wait_for(lambda: "READY" in self.proc.out(), 60, "bpftrace to attach", [self.proc])

    def pids(self):
        return [self.proc.pid]

    def stop(self):
        self.proc.stop(signal.SIGINT, timeout=20)


AGENTS = {"stallscope": Stallscope, "libbpf-tools": LibbpfTools, "bpftrace": Bpftrace}


class Floor:
    """scripts/bench/floor.bpf.c's reference programs (empty / one lookup), held by a loader."""

    def __init__(self, tag):
        self.proc = Proc(f"floor-{tag}", [OUT / "floor_loader", OUT / "floor.bpf.o"])
        wait_for(lambda: "attached" in self.proc.out(), 30, "the reference programs to attach",
                 [self.proc])
        self.prog_ids = owned_prog_ids(self.proc.pid)

    def stop(self):
        self.proc.stop(signal.SIGINT, timeout=10)


def start_floor(tag):
    if not FLOOR_OK:
        return None
    return Floor(tag)


# ---- tracefs (bpftrace and libbpf-tools' tracepoints need it; stallscope does not) ----------

def ensure_tracefs(state):
    if TRACEFS.is_dir() and any(TRACEFS.iterdir()):
        return
    cp = subprocess.run(["mount", "-t", "tracefs", "nodev", str(TRACEFS)],
                        capture_output=True, text=True)
    if cp.returncode != 0:
        die(f"cannot mount tracefs on {TRACEFS} (bpftrace and syscount need it): {cp.stderr}")
    state["mounted_tracefs"] = True
    (OUT / "mounted-tracefs").write_text(str(TRACEFS) + "\n")
    log(f"mounted tracefs on {TRACEFS} (unmounted at the end)")


def restore_tracefs(state):
    if state.pop("mounted_tracefs", False):
        cp = subprocess.run(["umount", str(TRACEFS)], capture_output=True, text=True)
        if cp.returncode != 0:
            print(f"warning: could not unmount {TRACEFS}: {cp.stderr.strip()}", file=sys.stderr)
        else:
            (OUT / "mounted-tracefs").unlink(missing_ok=True)


# ---- the phases ----------------------------------------------------------------------------

def storm(calls, tag):
    """CPU ns per getppid() of an untracked process (wall time is kept in the logs)."""
    rc, out, err = run_child(f"storm-{tag}", [OUT / "storm", calls], 300)
    m = re.search(r"cpu_ns_per_call ([\d.]+)", out)
    if rc != 0 or not m:
        die(f"syscall storm failed ({tag}, exit {rc}): {out}{err}")
    return float(m.group(1))


def phase_idle_and_storm(server, P):
    """Agent footprint while idle, then scenario (b): an untracked syscall storm. The storm's
    CPU time per syscall is measured alternately without and with the agent (attached afresh
    each round); the program costs come from one storm with bpf_stats on."""
    res = {"storm_calls": P["storm_calls"], "storm_bare_runs_ns": [], "storm_agent_runs_ns": []}
    bare, with_agent = res["storm_bare_runs_ns"], res["storm_agent_runs_ns"]
    bare.append(storm(P["storm_calls"], "bare-0"))

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
    ids = agent.prog_ids | (floor.prog_ids if floor else set())
    set_bpf_stats(True)
    try:
        s0, ts0 = prog_stats(ids), time.monotonic()
        res["storm_agent_stats_ns"] = storm(P["storm_calls"], "agent-stats")
        s1, ts1 = prog_stats(ids), time.monotonic()
    finally:
        set_bpf_stats(False)
        if floor:
            floor.stop()
    res["storm_progs"] = stats_delta(s0, s1, ts1 - ts0)

    idle_agent = agent
    for rnd in range(1, P["storm_rounds"] + 1):
        if rnd > 1:
            agent = Stallscope(server, f"storm-r{rnd}")
        with_agent.append(storm(P["storm_calls"], f"agent-r{rnd}"))
        agent.stop()
        bare.append(storm(P["storm_calls"], f"bare-r{rnd}"))
    res["idle_agent_hwm_kb_at_stop"] = idle_agent.hwm_kb
    res["storm_bare_ns"] = min(bare)
    res["storm_agent_ns"] = min(with_agent)
    # what the other tools cost the same untracked process, for comparison
    res["storm_tools_ns"] = {}
    for config in ("libbpf-tools", "bpftrace"):
        tool = AGENTS[config](server, f"storm-{config}")
        try:
            runs = [storm(P["storm_calls"], f"{config}-{i}") for i in range(P["storm_tool_runs"])]
        finally:
            tool.stop()
        res["storm_tools_ns"][config] = min(runs)
        bare.append(storm(P["storm_calls"], f"bare-after-{config}"))
    res["storm_bare_ns"] = min(bare)
    p = res["storm_progs"]
    log("storm: %.1f ns CPU/syscall bare, %.1f with the agent (min of %d); ss_sys_enter %s "
        "ns/run, ss_sys_exit %s ns/run, empty program %s ns/run"
        % (res["storm_bare_ns"], res["storm_agent_ns"], len(with_agent),
           fmt(p.get("ss_sys_enter", {}).get("ns_per_run")),
           fmt(p.get("ss_sys_exit", {}).get("ns_per_run")),
           fmt(p.get("bench_empty", {}).get("ns_per_run"))))
    return res


def overhead_run(server, config, rnd, P):
    tag = f"{server.kind}-{config}-r{rnd}"
    server.check_alive()
    agent = AGENTS[config](server, tag) if config != "bare" else None
    agent_pids = agent.pids() if agent else []
    try:
        run_wrk(server.url, P["warmup_s"], tag + "-warmup", latency=False)
        win = CpuWindow(lambda: server.pids() + agent_pids).start()
        ac0 = {p: cpu_ticks(p) for p in agent_pids}
        res = run_wrk(server.url, P["run_s"], tag)
        ac1 = {p: cpu_ticks(p) for p in agent_pids}
        res.update(win.stop())
    except BaseException:
        if agent:
            try:
                agent.stop()
            except BenchError:
                pass
        raise
    res.update(server=server.kind, config=config, round=rnd)
    res["cpu_us_per_req"] = res["bench_cpu_s"] * 1e6 / res["requests"]
    if agent_pids:
        res["agent_cpu_pct"] = pct_of_core(sum(ac1[p] - ac0[p] for p in agent_pids),
                                           res["seconds"])
    if agent:
        agent.stop()
    if config == "stallscope":
        res["agent_hwm_kb"] = agent.hwm_kb
        res["agent_stop_s"] = agent.stop_s
        res["agent_reports"] = agent.reports
    extra = ""
    if "agent_cpu_pct" in res:
        extra = f", agent {res['agent_cpu_pct']:.1f}% cpu"
    log(f"{tag}: {res['rps']:.0f} req/s, p99 {res['p99_ms']:.2f} ms{extra}, "
        f"other processes {res['other_cpu_pct']:.0f}% cpu")
    if res["errors"] or res["non_2xx"]:
        log(f"  warning: {res['errors']} socket errors, {res['non_2xx']} non-2xx responses")
    return res


def parse_syscount_p(text):
    counts = {}
    for m in re.finditer(r"^(\d+)\s+\S.*?\s+(\d+)\s*$", text, re.M):
        counts[int(m.group(1))] = counts.get(int(m.group(1)), 0) + int(m.group(2))
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
        ids = agent.prog_ids | (floor.prog_ids if floor else set())
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
    total = sum(counts.values())
    mine = sum(c for pid, c in counts.items() if pid in tracked)
    res["syscalls_counted"] = total
    res["syscalls_tracked"] = mine
    res["tracked_share"] = mine / total if total else None
    bpf_ns = sum(v["run_time_ns"] for n, v in res["progs"].items() if n.startswith("ss_"))
    res["bpf_ns_per_request"] = bpf_ns / res["requests"] if res["requests"] else None
    res["bpf_cpu_pct"] = 100.0 * bpf_ns / 1e9 / res["seconds"]
    log(f"{tag}: {res['rps']:.0f} req/s; tracked share of syscalls "
        f"{fmt(100 * (res['tracked_share'] or 0), 0)}%; BPF {res['bpf_cpu_pct']:.2f}% of a core")
    return res


def tracked_estimate(kc, storm_progs):
    """Cost per run on tracked threads: total time minus the untracked runs, over the tracked
    runs. An untracked run costs what the program cost per run in the storm (b), where all runs
    are untracked; moved to this window's conditions by the difference between the empty
    reference program's cost here and there, when it ran in both."""
    share = kc.get("tracked_share")
    out = {}
    floor_here = kc["progs"].get("bench_empty", {}).get("ns_per_run")
    floor_storm = storm_progs.get("bench_empty", {}).get("ns_per_run")
    for name in SYSCALL_PROGS:
        p = kc["progs"].get(name)
        u = storm_progs.get(name, {}).get("ns_per_run")
        if u is not None and floor_here is not None and floor_storm is not None:
            u += floor_here - floor_storm
        if not p or not share or u is None or not p["run_cnt"]:
            out[name] = None
            continue
        n_tracked = share * p["run_cnt"]
        n_other = p["run_cnt"] - n_tracked
        est = (p["run_time_ns"] - n_other * u) / n_tracked if n_tracked else None
        out[name] = est
    return out


# ---- report --------------------------------------------------------------------------------

def fmt(x, nd=1):
    if x is None:
        return "n/a"
    return f"{x:.{nd}f}"


def verdict(ok):
    return "PASS" if ok else "FAIL"


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
    S = {"servers": {}}
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
        S["servers"][kind] = rows

    storm = R["storm"]
    sp = storm["storm_progs"]
    S["untracked_ns"] = {n: sp.get(n, {}).get("ns_per_run") for n in SYSCALL_PROGS}
    S["storm_added_ns"] = storm["storm_agent_ns"] - storm["storm_bare_ns"]
    S["tracked_est_ns"] = {k: tracked_estimate(kc, sp) for k, kc in R["kcost"].items()}

    # (figure, measured, measured minus the empty reference program, target, ok, net ok)
    checks = []
    for kind, rows in S["servers"].items():
        ratio = rows["stallscope"]["rps_ratio"]
        q = rows["stallscope"]["quiet_ratio"]
        qtext = (f"{q:.3f} quiet runs ({rows['stallscope']['quiet_n']}/"
                 f"{rows['bare']['quiet_n']})" if q is not None else "no quiet runs")
        checks.append((f"{kind}: throughput ratio with stallscope", fmt(ratio, 3), qtext,
                       f">= {TARGET_RPS_RATIO}", ratio >= TARGET_RPS_RATIO,
                       None if q is None else q >= TARGET_RPS_RATIO))
    peak = max([R["storm"]["idle_agent_hwm_kb_at_stop"]] +
               [rows["stallscope"]["agent_hwm_kb"] for rows in S["servers"].values()]) / 1024
    S["peak_rss_mb"] = peak
    checks.append(("agent peak RSS (VmHWM, MB)", fmt(peak), "", f"<= {TARGET_RSS_MB}",
                   peak <= TARGET_RSS_MB, None))

    def floor_of(progs, name):
        ref = "bench_sw_empty" if "sched" in name else "bench_empty"
        return progs.get(ref, {}).get("ns_per_run")

    def ns_check(label, v, floor, target):
        net = v - floor if (v is not None and floor is not None) else None
        checks.append((label, fmt(v), fmt(net), f"<= {target}",
                       v is not None and v <= target, net is not None and net <= target))

    for kind, est in S["tracked_est_ns"].items():
        progs = R["kcost"][kind]["progs"]
        for name in SYSCALL_PROGS:
            v = est.get(name)
            if v is None:  # no split available: judge the blended figure
                v = progs.get(name, {}).get("ns_per_run")
            ns_check(f"{kind} load: {name} ns/run, tracked threads (est.)", v,
                     floor_of(progs, name), TARGET_SYS_TRACKED_NS)
    for name in SYSCALL_PROGS:
        ns_check(f"untracked storm: {name} ns/run", S["untracked_ns"][name],
                 floor_of(sp, name), TARGET_SYS_UNTRACKED_NS)
    for kind, kc in R["kcost"].items():
        ns_check(f"{kind} load: ss_sched_switch ns/run",
                 kc["progs"].get("ss_sched_switch", {}).get("ns_per_run"),
                 floor_of(kc["progs"], "ss_sched_switch"), TARGET_SWITCH_NS)
    S["checks"] = checks
    return S


def md_table(header, rows):
    lines = ["| " + " | ".join(header) + " |",
             "|" + "|".join("---" if i == 0 else "--:" for i in range(len(header))) + "|"]
    lines += ["| " + " | ".join(str(c) for c in row) + " |" for row in rows]
    return "\n".join(lines)


def render(R, S, P):
    M = R["machine"]
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
                "" if config == "bare" else fmt(r["rps_ratio_paired_median"], 3),
                f"{r['p99_ms']:.2f}", "1" if config == "bare" else f"{r['p99_ratio']:.2f}",
                "" if config == "bare" else
                (f"{r['quiet_ratio']:.3f} ({r['quiet_n']}/{rows['bare']['quiet_n']})"
                 if r["quiet_ratio"] is not None else "n/a"),
                f"{r['cpu_us_per_req']:.0f}", "1" if config == "bare" else f"{r['cpu_ratio']:.3f}",
                fmt(r.get("agent_cpu_pct")) if config != "bare" else "",
                " / ".join(f"{x:.0f}" for x in r["rps_runs"]),
                f"{r['other_cpu_pct']:.0f}",
            ))
        desc = ("gunicorn -k gthread --threads 8 -w 2 (tests/bench-apps/hello_wsgi.py)"
                if kind == "gunicorn" else "Tornado, 1 process (tests/bench-apps/hello_tornado.py)")
        w(f"**{kind}**: {desc}\n")
        w(md_table(["config", "req/s", "req/s ratio", "paired ratio", "p99 ms", "p99 ratio",
                    "quiet-run ratio (n)", "CPU us/req", "CPU/req ratio", "tool CPU %", "req/s per round",
                    "other CPU %"], table))
        w("")
    w("req/s ratio = median(config) / median(bare); paired ratio = median over rounds of "
      "config / bare of the same round. CPU us/req = CPU (user + system) of the server, wrk "
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
    names = sorted({n for kc in R["kcost"].values() for n in kc["progs"]} |
                   set(R["storm"]["storm_progs"]),
                   key=lambda n: (n.startswith("bench_"), not n.startswith("ss_sys"),
                                  not n.startswith("ss_sched"), n))
    header = ["program"]
    for kind in R["kcost"]:
        header += [f"(a) {kind} load ns/run", "runs/s", "tracked est. ns/run"]
    header += ["(b) untracked storm ns/run", "runs/s"]
    rows = []
    for n in names:
        row = [f"(reference) {n}" if n.startswith("bench_") else n]
        for kind, kc in R["kcost"].items():
            p = kc["progs"].get(n, {})
            est = S["tracked_est_ns"][kind].get(n) if n in SYSCALL_PROGS else None
            tmark = (f" {verdict(est <= TARGET_SYS_TRACKED_NS)}" if est is not None else "")
            pmark = ""
            if n == "ss_sched_switch" and p.get("ns_per_run") is not None:
                pmark = f" {verdict(p['ns_per_run'] <= TARGET_SWITCH_NS)}"
            row += [fmt(p.get("ns_per_run")) + pmark, fmt(p.get("runs_per_s"), 0),
                    (fmt(est) + tmark) if n in SYSCALL_PROGS else ""]
        p = R["storm"]["storm_progs"].get(n, {})
        umark = ""
        if n in SYSCALL_PROGS and p.get("ns_per_run") is not None:
            umark = f" {verdict(p['ns_per_run'] <= TARGET_SYS_UNTRACKED_NS)}"
        row += [fmt(p.get("ns_per_run")) + umark, fmt(p.get("runs_per_s"), 0)]
        rows.append(row)
    w(md_table(header, rows))
    w("")
    for kind, kc in R["kcost"].items():
        progs = kc["progs"]
        ss_runs = sum(v["run_cnt"] for n, v in progs.items() if n.startswith("ss_"))
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
      f"end to end (both programs plus the tracepoint dispatch). Runs: without "
      f"{' / '.join(f'{x:.0f}' for x in st['storm_bare_runs_ns'])}, with "
      f"{' / '.join(f'{x:.0f}' for x in st['storm_agent_runs_ns'])} ns.")
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
    w(md_table(["state", "CPU % of one core", "peak RSS MB (VmHWM)"], frows))
    w("")
    w(f"Peak RSS over all runs, including shutdown: {S['peak_rss_mb']:.1f} MB "
      f"({verdict(S['peak_rss_mb'] <= TARGET_RSS_MB)}, target <= {TARGET_RSS_MB} MB). "
      f"CPU to attach (load and verify the programs, scan the processes): "
      f"{st['attach_cpu_s']:.2f} s.")
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

- **Servers**: `gunicorn -k gthread --threads 8 -w 2` serving a 13-byte WSGI hello, and a
  single-process Tornado hello app (`tests/bench-apps/`), both on 127.0.0.1, run with
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
  instances on the host are ignored).
  - (a) a separate stallscope run under the same wrk load ({P['kcost_s']} s). Every program
    runs for every process on the host, wrk's syscalls included, so the per-run figure is a
    blend; `syscount -P` (system wide, same window) gives the share of syscalls made by the
    tracked server, and the **tracked est.** column takes the untracked runs out at what an
    untracked run cost in (b), adjusted by how much the empty reference program's cost moved
    between the two windows: (total time - untracked runs x untracked ns/run) / tracked runs.
  - (b) a C loop (`scripts/bench/storm.c`) making getppid() {P['storm_calls']:,} times, not
    tracked, while the agent is attached to an idle gunicorn. The same loop's CPU time per
    syscall (`CLOCK_PROCESS_CPUTIME_ID`; wall time is in the logs) is also measured without
    the agent and with it, alternately ({P['storm_rounds']} round(s), the agent attached afresh
    each time, bpf_stats off); the minimum of each is reported, as other load only adds.
  - (reference) `scripts/bench/floor.bpf.c`, built and attached by the benchmark in the same
    windows as (a) and (b): an empty tp_btf program on sys_enter and on sched_switch, and one
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

Targets: throughput ratio >= {TARGET_RPS_RATIO}; agent RSS <= {TARGET_RSS_MB} MB; syscall
programs <= {TARGET_SYS_TRACKED_NS} ns per run on tracked threads and <=
{TARGET_SYS_UNTRACKED_NS} ns on untracked ones; sched_switch <= {TARGET_SWITCH_NS} ns.
"""
    path.write_text(head + body + "\n" + notes)


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
    global FLOOR_OK
    bench = ROOT / "scripts" / "bench"
    arch_inc = f"/usr/include/{os.uname().machine}-linux-gnu"
    for argv in (["clang", "-O2", "-g", "-target", "bpf", f"-I{arch_inc}", "-c",
                  bench / "floor.bpf.c", "-o", OUT / "floor.bpf.o"],
                 [cc, "-O2", "-o", OUT / "floor_loader", bench / "floor_loader.c", "-lbpf"]):
        cp = subprocess.run([str(a) for a in argv], capture_output=True, text=True)
        if cp.returncode != 0:
            log(f"warning: cannot build the reference BPF programs, going on without: "
                f"{cp.stderr.strip()[:300]}")
            break
    else:
        FLOOR_OK = True
    others = [p for p in os.listdir("/proc") if p.isdigit() and
              Path(f"/proc/{p}/comm").exists() and
              _comm(p) in ("stallscope", "wrk", "bpftrace", "offcputime", "syscount")]
    return others


def _comm(pid):
    try:
        return Path(f"/proc/{pid}/comm").read_text().strip()
    except OSError:
        return ""


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--quick", action="store_true",
                    help="short runs to try the benchmark out (writes bench-out/ only)")
    ap.add_argument("--rounds", type=int, help="rounds per server (default 3, --quick 1)")
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
    P = dict(quick=args.quick, rounds=3, warmup_s=2, run_s=8, kcost_s=5, idle_s=8, idle2_s=4,
             storm_calls=3_000_000, storm_rounds=2, storm_tool_runs=2)
    if args.quick:
        P.update(rounds=1, warmup_s=1, run_s=3, kcost_s=3, idle_s=3, idle2_s=2,
                 storm_calls=1_000_000, storm_rounds=1, storm_tool_runs=1)
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
        R = {"params": P, "machine": machine_info(), "servers": ["gunicorn", "tornado"],
             "runs": [], "kcost": {}, "loadavg_start": Path("/proc/loadavg").read_text().strip()}
        log(f"{'quick' if P['quick'] else 'full'} run: {P['rounds']} round(s) x "
            f"{len(CONFIGS)} configs x 2 servers, {P['warmup_s']}+{P['run_s']} s each")
        for kind in R["servers"]:
            server = Server(kind)
            server.wait_ready()
            log(f"{kind} up on {server.url} (pids {server.pids()})")
            if kind == "gunicorn":
                R["storm"] = phase_idle_and_storm(server, P)
            agents = CONFIGS[1:]
            for rnd in range(1, P["rounds"] + 1):
                k = (rnd - 1) % len(agents)
                order = ["bare"] + agents[k:] + agents[:k]
                for config in order:
                    R["runs"].append(overhead_run(server, config, rnd, P))
            R["kcost"][kind] = kernel_cost_under_load(server, P)
            server.stop()
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
