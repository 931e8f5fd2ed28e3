"""Python frames on other CPython versions, each in the two container layouts users run:
Debian bullseye's python3.9 (layout from a table), trixie's python3.13 and sid's python3.14 and python3.14-dbg (a Py_DEBUG build whose
object sizes differ), and a free-threaded 3.13 (trixie's python3.13 source built with
--disable-gil into the trixie root: no GIL, a bigger object header) in roots built by
scripts/python-roots.sh (debootstrap, cached under /var/cache/stallscope/roots), each run under
a plain chroot (maps then show the host's view of the paths) and in a private mount and pid
namespace after pivot_root (the container view); 3.13 also on an overlayfs root and from an
interpreter file deleted and replaced while it runs. A
Tornado app in the root stalls its loop with a sleep and a CPU burn; every stall must carry the
handler's frame and line. Skips, saying why, when the roots cannot be built (no mirror)."""

import os
import shutil
import subprocess
import unittest
from pathlib import Path

import harness

ROOTS_SCRIPT = harness.ROOT / "scripts" / "python-roots.sh"
# (suite, interpreter inside the root, what it is); 3.14+ also name the running asyncio Task.
INTERPRETERS = [
    ("bullseye", "/usr/bin/python3.9", "3.9"),
    ("trixie", "/usr/bin/python3.13", "3.13"),
    ("sid", "/usr/bin/python3.14", "3.14"),
    ("sid", "/usr/bin/python3.14d", "3.14-dbg"),
    ("trixie-ft", "/opt/python3.13t/bin/python3.13t", "3.13t"),
]
FREE_THREADED = {"/opt/python3.13t/bin/python3.13t"}
# Tornado from the root's Debian package. Its C speedups (speedups.abi3.so, built for the GIL
# ABI) would load into 3.13t, which still accepts .abi3.so, and crash it: tornado's own switch
# keeps it on its pure-Python fallback.
FREE_THREADED_ENV = {"TORNADO_NO_EXTENSION": "1"}
# Runs argv[3:] in ROOT ($1) as its root after pivot_root, in the mount and pid namespaces
# `unshare -m -p -f` made; /proc is the namespace's own.
PIVOT_SCRIPT = r"""
set -e
mount --make-rprivate /
mount --bind "$1" "$1"
cd "$1"
mkdir -p .stallscope-oldroot
pivot_root . .stallscope-oldroot
cd /
mount -t proc proc /proc
umount -l /.stallscope-oldroot
shift
exec "$@"
"""

# The same after pivot_root into an overlayfs whose lower layer is ROOT ($1) and whose upper layer
# and work dir are under $2, mounted on $3 (as container runtimes assemble image layers).
OVERLAY_SCRIPT = r"""
set -e
mount --make-rprivate /
mkdir -p "$2/upper" "$2/work" "$3"
mount -t overlay overlay -o lowerdir="$1",upperdir="$2/upper",workdir="$2/work" "$3"
cd "$3"
mkdir -p .stallscope-oldroot
pivot_root . .stallscope-oldroot
cd /
mount -t proc proc /proc
umount -l /.stallscope-oldroot
shift 3
exec "$@"
"""
# Layouts every interpreter runs in; the extra ones run with trixie's 3.13 (a container's usual
# Python): an overlayfs root, and an interpreter file deleted and replaced after it started
# (maps then say "(deleted)"; an image update or a package upgrade under a running server).
LAYOUTS = ("chroot", "pivot_root")
EXTRA_LAYOUTS = {"3.13": ("overlay", "deleted")}

_roots = None


def roots():
    """suite -> root dir; builds missing roots once per test run (minutes, cached after)."""
    global _roots
    if _roots is None:
        suites = sorted({suite for suite, _, _ in INTERPRETERS})
        proc = subprocess.run([str(ROOTS_SCRIPT)] + suites, capture_output=True, text=True,
                              timeout=1800)
        _roots = {}
        for line in proc.stdout.splitlines():
            suite, _, path = line.partition(" ")
            _roots[suite] = Path(path)
        if proc.returncode != 0:
            _roots["error"] = proc.stderr.strip()[-500:]
    return _roots


def host_tids(pid):
    """namespace tid -> host tid for the threads of host process `pid`."""
    mapping = {}
    for task in os.listdir("/proc/%d/task" % pid):
        with open("/proc/%d/task/%s/status" % (pid, task)) as f:
            for line in f:
                if line.startswith("NSpid:"):
                    ids = [int(x) for x in line.split()[1:]]
                    mapping[ids[-1]] = ids[0]
    return mapping


class RootStalls:
    """One interpreter in one layout: the app in the root, the agent on it, two stalls."""

    def __init__(self, test, suite, python, layout):
        self.names_tasks = python.startswith("/usr/bin/python3.14")
        self.free_threaded = python in FREE_THREADED
        harness.require_bpf()
        if os.geteuid() != 0:
            test.skipTest("chroot and pivot_root need root")
        found = roots()
        if suite not in found:
            test.skipTest("no %s root: %s" % (suite, found.get("error", "python-roots.sh failed")))
        root = found[suite]
        if not (root / python.lstrip("/")).exists():
            test.skipTest("%s has no %s" % (root, python))
        self.s = s = harness.Session("root-%s-%s" % (suite, layout))
        test.addCleanup(s.close)
        # The apps, copied into the root (both layouts see it there); removed at the end.
        inside = "/srv/%s" % s.dir.name
        self.host_dir = root / inside.lstrip("/")
        shutil.copytree(harness.APPS, self.host_dir)
        test.addCleanup(shutil.rmtree, self.host_dir, True)
        up_port = s.start_upstream()
        port = harness.free_port()
        app_vars = dict(STALL_LOG=inside + "/stalls.jsonl", PYTHONPATH=inside,
                        READY_FILE=inside + "/ready", UPSTREAM_PORT=up_port)
        if self.free_threaded:
            # Its own prefix: Debian's packages are in dist-packages, named here.
            app_vars.update(FREE_THREADED_ENV,
                            PYTHONPATH=inside + ":/usr/lib/python3/dist-packages")
        if layout == "deleted":
            # A copy of the interpreter in the app's directory, deleted and replaced once running.
            shutil.copy2(root / python.lstrip("/"), self.host_dir / "python-copy")
            python = inside + "/python-copy"
            app_vars["PYTHONHOME"] = "/usr"
        env = s.app_env(**app_vars)
        argv = [python, inside + "/tornado_app.py", str(port)]
        log_dir = self.host_dir
        if layout in ("chroot", "deleted"):
            proc = s.spawn("app", ["chroot", str(root)] + argv, env=env)
        elif layout == "pivot_root":
            proc = s.spawn("app", ["unshare", "-m", "-p", "-f", "--", "/bin/sh", "-c",
                                   PIVOT_SCRIPT, "sh", str(root)] + argv, env=env)
        else:  # overlay: what the app writes lands in the upper layer
            layers = s.dir / "overlay"
            log_dir = layers / "upper" / inside.lstrip("/")
            proc = s.spawn("app", ["unshare", "-m", "-p", "-f", "--", "/bin/sh", "-c", OVERLAY_SCRIPT,
                                   "sh", str(root), str(layers), str(s.dir / "merged")] + argv, env=env)
        s.wait_port(port, proc, "%s %s app" % (python, layout))
        if layout == "deleted":
            os.unlink(self.host_dir / "python-copy")
            (self.host_dir / "python-copy").write_text("#!/bin/sh\necho not the interpreter\n")
            maps = Path("/proc/%d/maps" % proc.pid).read_text()  # chroot execs: proc is python
            test.assertIn("python-copy (deleted)", maps)
        harness.http_get_ok(port, "/fast")
        # The interpreter's host pid: chroot execs it; unshare -f forks it (sh execs it).
        self.pid = proc.pid if layout in ("chroot", "deleted") else harness.children(proc.pid)[0]
        agent = s.start_agent([self.pid])
        s.stall(port, "sleep", 300)
        s.stall(port, "cpu", 250)
        self.reports = agent.stop()
        tids = host_tids(self.pid)
        self.trues = [t._replace(tid=tids.get(t.tid, t.tid), pid=self.pid)
                      for t in harness.read_stall_log(log_dir / "stalls.jsonl")]

    def check(self, test):
        kinds = sorted(t.kind for t in self.trues)
        test.assertEqual(kinds, ["cpu", "sleep"], "the app's own stall log: %s" % self.trues)
        for true in self.trues:
            # The stall's report (durations are checked elsewhere; on a loaded machine a CPU
            # burn waits for a CPU, which is not what this test is about).
            found = harness.candidates(true, self.reports.finals())
            test.assertTrue(found, "no report overlaps the %s:\n%s" % (
                true.describe(self.s.origin_ns),
                harness.describe_reports(self.reports.finals(), self.s.origin_ns)))
            report = max(found, key=lambda b: b.overlap_ns(true.start_ns, true.end_ns))
            test.assertEqual(report.python_stack_reason, "", report.describe())
            test.assertEqual(report.python_free_threaded, self.free_threaded, report.describe())
            if self.free_threaded:
                test.assertEqual(report.gil_holder_tid, 0, report.describe())
            if self.names_tasks:
                # Tornado runs each request's handler in a task of its own (RequestHandler._execute).
                test.assertRegex(report.asyncio_task, r"^Task-\d+$", report.describe())
                test.assertEqual(report.asyncio_coro, "RequestHandler._execute", report.describe())
            else:
                test.assertEqual(report.asyncio_task, "")
            if true.kind == "sleep":
                # (3.9's time.sleep waits in select, later ones in clock_nanosleep.)
                harness.assert_python_frame(report, "run_stall", ["sleep(ms / 1000.0)"])
            else:
                harness.assert_python_frame(report, "busy_cpu",
                                            ["while time.perf_counter() < deadline", "n += 1"],
                                            caller="run_stall")


def _make_test(suite, python, layout):
    def test(self):
        RootStalls(self, suite, python, layout).check(self)
    return test


class PythonInRoots(unittest.TestCase):
    pass


for _suite, _python, _name in INTERPRETERS:
    for _layout in LAYOUTS + EXTRA_LAYOUTS.get(_name, ()):
        setattr(PythonInRoots, "test_%s_%s" % (_name.replace(".", "").replace("-", "_"), _layout),
                _make_test(_suite, _python, _layout))


if __name__ == "__main__":
    harness.main()
