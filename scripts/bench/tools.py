"""The tools measured side by side (stallscope, libbpf-tools offcputime + syscount, a bpftrace
script), the reference BPF programs (floor.bpf.c) and tracefs for the tools that need it."""

import os
import signal
import subprocess
import sys

from common import *  # noqa: F401,F403 (paths, Proc, wait_for, /proc and bpf_stats helpers)


# ---- agents --------------------------------------------------------------------------------

class Stallscope:
    """`stallscope attach` on a server's master pid (or a list of pids). live=True: its JSON
    lines come through a pipe, stamped on arrival (accuracy); else --output to a file.
    hooks: its --syscall-hooks value (None: the agent's default)."""

    def __init__(self, server, tag, threshold_ms=None, live=False, hooks=None):
        self.tag = tag
        self.report_path = OUT / "runs" / f"{tag}.jsonl"
        pids = server if isinstance(server, (list, tuple)) else [server.pid]
        argv = [AGENT, "attach", "--format", "json"]
        for pid in pids:
            argv += ["--pid", pid]
        if threshold_ms is not None:
            argv += ["--block-threshold-ms", threshold_ms]
        if hooks:
            argv += ["--syscall-hooks", hooks]
        if not live:
            argv += ["--output", self.report_path]
        self.proc = Proc(f"stallscope-{tag}", argv, live_stdout=live)
        self.live = live
        self.pid = self.proc.pid
        self.hwm_kb = 0
        wait_for(lambda: "stallscope: attached" in self.proc.err(), 30,
                 "stallscope to attach", [self.proc])
        self.startup = next((line for line in self.proc.err().splitlines()
                             if "stallscope: attached" in line), "")
        self.prog_ids = attach_points(self.pid)   # {id: attach point}
        for pid_ in owned_prog_ids(self.pid):
            self.prog_ids.setdefault(pid_, "")
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
        if self.live:
            self.proc.reader.join(timeout=10)
            self.reports = sum(1 for _, line in self.proc.lines if '"loopBlock"' in line)
            return
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
// epoll_wait entry (x86_64: epoll_wait 232, epoll_pwait 281, epoll_pwait2 441). Periods at or
// over the threshold are printed when they end, with their start (bpf_ktime_get_ns, i.e.
// CLOCK_MONOTONIC) and length; all go into a histogram.
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
        printf("stall pid %%d tid %%d start_ns %%lld dur_ns %%lld\n", pid, tid, $s, $d);
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
    """The busy-period script on a server's process tree (or a list of pids); live=True: its
    lines stamped on arrival, as for Stallscope."""

    def __init__(self, server, tag, threshold_ms=100, live=False):
        pids = server if isinstance(server, (list, tuple)) else server.pids()
        seed = "\n".join(f"  @tracked[{pid}] = 1;" for pid in pids)
        script = OUT / "runs" / f"busy_periods-{tag}.bt"
        script.write_text(BPFTRACE_SCRIPT % {"seed": seed,
                                             "threshold_ns": int(threshold_ms * 1_000_000)})
        self.proc = Proc(f"bpftrace-{tag}", [BPFTRACE, "-B", "line", script], live_stdout=live)
        self.live = live
        wait_for(lambda: "READY" in self.proc.out(), 60, "bpftrace to attach", [self.proc])

    def pids(self):
        return [self.proc.pid]

    def stop(self):
        self.proc.stop(signal.SIGINT, timeout=20)
        if self.live:
            self.proc.reader.join(timeout=10)


AGENTS = {"stallscope": Stallscope, "libbpf-tools": LibbpfTools, "bpftrace": Bpftrace}


class Floor:
    """scripts/bench/floor.bpf.c's reference programs (empty / one lookup), held by a loader."""

    def __init__(self, tag):
        self.proc = Proc(f"floor-{tag}", [OUT / "floor_loader", OUT / "floor.bpf.o"])
        wait_for(lambda: "attached" in self.proc.out(), 30, "the reference programs to attach",
                 [self.proc])
        self.prog_ids = {i: "" for i in owned_prog_ids(self.proc.pid)}

    def stop(self):
        self.proc.stop(signal.SIGINT, timeout=10)


def start_floor(tag):
    if not STATE["floor_ok"]:
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


