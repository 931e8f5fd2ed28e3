"""Files a root agent writes, attacked by a real unprivileged user (docs/security.md, "The demo"
and "Files the agent writes").

- The demo: `nobody` plants /tmp/tornado/__init__.py and, for the next PIDs, directories named
  like the demo's old script (/tmp/stallscope-demo-app-PID.py/ holding a __main__.py) and
  symlinks at those names to a root-only file. `stallscope demo` runs as root in a private mount
  namespace with its own tmpfs /tmp (the machine's /tmp is not touched): nothing planted runs,
  the root-only file is unchanged, the demo still reports its stalls, and leaves nothing behind.
- --output, --flamegraph and the daemon's output named as a symlink `nobody` planted to a
  root-only file, in a world-writable non-sticky directory and in a sticky /tmp with
  fs.protected_symlinks=0 (also through a directory symlink planted in /tmp): exit 6 with one
  line, the file unchanged. A new output is 0600; a
  failing write (/dev/full, ENOSPC) is exit 6 with one line.
- The collector's SQLite database, -wal and -shm are 0600; a symlink or a world-writable
  directory for --db is refused.

The scenarios in a private /tmp run in a child (`unshare -m`) of this script, which prints its
findings as one JSON line.
"""

import json
import os
import shutil
import signal
import stat
import subprocess
import sys
import tempfile
import unittest
from pathlib import Path

import harness

sys.path.insert(0, str(harness.ROOT / "collector" / "tools"))
import collector_harness as ch  # noqa: E402

NOBODY = 65534
SECRET = "root only: must never change\n"
AS_NOBODY = ["setpriv", "--reuid=%d" % NOBODY, "--regid=%d" % NOBODY, "--clear-groups"]
AGENT_TIMEOUT_S = 20
DEMO_TIMEOUT_S = 90
PLANTED_PIDS = 400  # the demo's PID is among the next few; other builds on the machine use some


def run(argv, timeout=AGENT_TIMEOUT_S, **kwargs):
    """-> CompletedProcess; returncode None when it was still running at TIMEOUT (then killed)."""
    try:
        return subprocess.run([str(a) for a in argv], capture_output=True, text=True, timeout=timeout, **kwargs)
    except subprocess.TimeoutExpired as e:
        err = e.stderr.decode(errors="replace") if isinstance(e.stderr, bytes) else (e.stderr or "")
        return subprocess.CompletedProcess(e.cmd, None, "", err + "\n(still running after %d s)" % timeout)


def plant_as_nobody(code, *args):
    """Runs Python CODE (with ARGS in sys.argv[1:]) as the unprivileged user (setpriv: no
    capabilities, no groups)."""
    p = run(AS_NOBODY + [harness.PYTHON, "-c", code] + list(args))
    if p.returncode != 0:
        raise AssertionError("planting as nobody failed: %s" % p.stderr)


def make_secret(path):
    Path(path).write_text(SECRET)
    os.chown(path, 0, 0)
    os.chmod(path, 0o600)


def symlink_as_nobody(target, link):
    plant_as_nobody("import os, sys; os.symlink(sys.argv[1], sys.argv[2])", target, link)


def agent_writers(pid, directory, stem):
    """Each way the agent names a file it writes -> (argv, the path it names in DIRECTORY)."""
    argvs = {
        "attach --output": [harness.STALLSCOPE_BIN, "attach", "--pid", pid, "--duration", 1, "--output"],
        "attach --flamegraph": [harness.STALLSCOPE_BIN, "attach", "--pid", pid, "--duration", 1, "--flamegraph"],
        "daemon --output": [harness.STALLSCOPE_BIN, "daemon", "--listen", "off", "--output"],
    }
    writers = {}
    for i, (what, argv) in enumerate(argvs.items()):
        path = Path(directory) / ("%s-%d" % (stem, i))
        writers[what] = (argv + [path], path)
    return writers


def attack_outputs(directory, secret):
    """For each writer: nobody plants its name in DIRECTORY as a symlink to SECRET, the agent runs."""
    results = {}
    for what, (argv, path) in agent_writers(os.getpid(), directory, "out").items():
        symlink_as_nobody(secret, path)
        p = run(argv)
        results[what] = {"rc": p.returncode, "stderr": p.stderr, "secret": Path(secret).read_text()}
    return results


# ---- scenarios run inside `unshare -m` with a fresh tmpfs on /tmp ----------------------------

def inner_outputs_in_tmp():
    secret = "/tmp/root-secret"
    make_secret(secret)
    results = attack_outputs("/tmp", secret)
    # A directory symlink on the way: /tmp/reports -> a root-only directory holding a root file
    # named like the output (with protected_symlinks=0 the kernel follows it).
    os.makedirs("/tmp/root-only", mode=0o700)
    make_secret("/tmp/root-only/out.json")
    symlink_as_nobody("/tmp/root-only", "/tmp/reports")
    p = run([harness.STALLSCOPE_BIN, "attach", "--pid", os.getpid(), "--duration", 1,
             "--output", "/tmp/reports/out.json"])
    results["attach --output through a planted directory symlink"] = {
        "rc": p.returncode, "stderr": p.stderr, "secret": Path("/tmp/root-only/out.json").read_text()}
    return results


def inner_demo(port):
    secret = "/tmp/root-secret"
    make_secret(secret)
    last_pid = int(Path("/proc/sys/kernel/ns_last_pid").read_text())
    plant_as_nobody("""
import os, sys
first, count, secret = int(sys.argv[1]), int(sys.argv[2]), sys.argv[3]
os.makedirs("/tmp/tornado")
open("/tmp/tornado/__init__.py", "w").write("open('/tmp/pwned-by-tornado', 'w').write('ran')\\n")
for pid in range(first, first + count):
    name = "/tmp/stallscope-demo-app-" + str(pid) + ".py"
    if pid % 2:
        os.mkdir(name)
        open(name + "/__main__.py", "w").write("open('/tmp/pwned-by-main', 'w').write('ran')\\n")
    else:
        os.symlink(secret, name)
""", last_pid + 1, PLANTED_PIDS, secret)
    p = run([harness.STALLSCOPE_BIN, "demo", "--port", port], timeout=DEMO_TIMEOUT_S)
    left = sorted(n for n in os.listdir("/tmp") if n.startswith("stallscope-demo-") and
                  not n.startswith("stallscope-demo-app-"))
    return {"rc": p.returncode, "stdout": p.stdout, "stderr": p.stderr,
            "markers": [m for m in ("/tmp/pwned-by-tornado", "/tmp/pwned-by-main") if os.path.exists(m)],
            "secret": Path(secret).read_text(), "left": left}


INNER = {"outputs_in_tmp": inner_outputs_in_tmp, "demo": inner_demo}


def in_private_tmp(scenario, *args):
    """Runs INNER[scenario] in a private mount namespace whose /tmp is a new tmpfs (1777)."""
    script = 'mount -t tmpfs -o mode=1777 stallscope-test /tmp && exec "$@"'
    p = run(["unshare", "-m", "--propagation", "private", "sh", "-c", script, "sh", harness.PYTHON,
             os.path.abspath(__file__), "--inner", scenario] + list(args), timeout=DEMO_TIMEOUT_S + 30,
            cwd="/")
    lines = p.stdout.strip().splitlines()
    if p.returncode != 0 or not lines:
        raise AssertionError("scenario %s failed (exit %d):\n%s\n%s" % (scenario, p.returncode, p.stdout, p.stderr))
    return json.loads(lines[-1])


class ProtectedSymlinksOff:
    """fs.protected_symlinks=0 for the block (it is global): restored whatever happens."""
    PATH = Path("/proc/sys/fs/protected_symlinks")

    def __enter__(self):
        self.old = self.PATH.read_text().strip()
        self.PATH.write_text("0")
        return self

    def __exit__(self, *exc):
        self.PATH.write_text(self.old)


def require_root_tools():
    if os.geteuid() != 0:
        raise harness.EnvironmentSkip(harness.ENV_SKIP + "needs root to act as another user")
    for tool in ("setpriv", "unshare"):
        if not shutil.which(tool):
            raise unittest.SkipTest("%s not installed" % tool)


class OutputsThroughPlantedSymlinks(unittest.TestCase):
    def setUp(self):
        harness.require_agent_binary()
        require_root_tools()
        self.dir = tempfile.mkdtemp(prefix="stallscope-outputs-")
        self.addCleanup(shutil.rmtree, self.dir, ignore_errors=True)
        os.chmod(self.dir, 0o755)  # nobody reaches the shared directory inside

    def assert_refused(self, results, why):
        for what, r in results.items():
            with self.subTest(what):
                self.assertEqual(r["rc"], harness.EXIT_OUTPUT, "%s: %s" % (what, r["stderr"]))
                lines = r["stderr"].strip().splitlines()
                self.assertEqual(len(lines), 1, "%s: not one line:\n%s" % (what, r["stderr"]))
                self.assertRegex(lines[0], why)
                self.assertEqual(r["secret"], SECRET, "%s wrote through the symlink" % what)

    def test_symlink_in_a_world_writable_directory_without_sticky_bit(self):
        secret = os.path.join(self.dir, "secret")
        make_secret(secret)
        shared = os.path.join(self.dir, "shared")
        os.mkdir(shared)
        os.chmod(shared, 0o777)
        # The old agent followed the link (protected_symlinks does not cover non-sticky dirs).
        self.assert_refused(attack_outputs(shared, secret), "cannot write")
        # The directory itself is refused, even for a name no one planted.
        for what, (argv, path) in agent_writers(os.getpid(), shared, "fresh").items():
            p = run(argv)
            self.assertEqual(p.returncode, harness.EXIT_OUTPUT, "%s: %s" % (what, p.stderr))
            self.assertIn("writable by every user and not sticky", p.stderr)
            self.assertFalse(os.path.exists(path))

    def test_symlink_in_tmp_with_protected_symlinks_off(self):
        with ProtectedSymlinksOff():
            results = in_private_tmp("outputs_in_tmp")
        self.assert_refused(results, "symbolic link|symlink .* on the way")


class OutputsAreWrittenSafely(unittest.TestCase):
    def setUp(self):
        harness.require_agent_binary()
        harness.require_bpf()
        self.s = harness.Session("outputs")
        self.addCleanup(self.s.close)

    def test_new_outputs_are_0600_and_failed_writes_exit_6(self):
        out, svg = self.s.dir / "reports.json", self.s.dir / "stalls.svg"
        p = run([harness.STALLSCOPE_BIN, "attach", "--pid", os.getpid(), "--duration", "1", "--format", "json",
                 "--output", out, "--flamegraph", svg], preexec_fn=lambda: os.umask(0o022))
        if p.returncode in (harness.EXIT_PRIVILEGES, harness.EXIT_KERNEL):
            raise harness.EnvironmentSkip(harness.ENV_SKIP + p.stderr.strip())
        self.assertEqual(p.returncode, harness.EXIT_OK, p.stderr)
        for path in (out, svg):
            self.assertEqual(stat.S_IMODE(os.stat(path).st_mode), 0o600, path)
        self.assertIn("agentStats", out.read_text())
        # A full disk: every write to /dev/full fails with ENOSPC. The old agent exited 1.
        p = run([harness.STALLSCOPE_BIN, "attach", "--pid", os.getpid(), "--duration", "1", "--format", "json",
                 "--output", "/dev/full"])
        self.assertEqual(p.returncode, harness.EXIT_OUTPUT, p.stderr)
        errors = [line for line in p.stderr.splitlines() if "cannot write" in line]
        self.assertEqual(errors, [p.stderr.strip().splitlines()[-1]], p.stderr)
        self.assertIn("cannot write /dev/full", errors[0])

    def test_daemon_output_is_0600(self):
        out = self.s.dir / "daemon.jsonl"
        proc = self.s.spawn("daemon", [harness.STALLSCOPE_BIN, "daemon", "--listen", "off", "--output", str(out)])
        self.assertTrue(harness.wait_until(lambda: out.exists() and out.stat().st_size > 0, 30),
                        proc.output_tail())
        self.assertEqual(stat.S_IMODE(out.stat().st_mode), 0o600)
        proc.signal(signal.SIGTERM)
        self.assertEqual(proc.wait(harness.STOP_TIMEOUT_S), harness.EXIT_OK, proc.output_tail())


class CollectorDatabase(unittest.TestCase):
    def setUp(self):
        if not ch.COLLECTOR_BIN.exists():
            self.fail("%s not built" % ch.COLLECTOR_BIN)
        self.dir = Path(tempfile.mkdtemp(prefix="stallscope-db-"))
        self.addCleanup(shutil.rmtree, self.dir, ignore_errors=True)
        os.chmod(self.dir, 0o755)  # nobody reaches the sticky directory inside

    def test_database_wal_and_shm_are_0600(self):
        old = os.umask(0o022)
        try:
            c = ch.Collector(self.dir, db=str(self.dir / "fleet.db")).start()
        finally:
            os.umask(old)
        try:
            ch.get_json(c.http_port, "/api/v1/kinds")
            for name in ("fleet.db", "fleet.db-wal", "fleet.db-shm"):
                path = self.dir / name
                self.assertTrue(path.exists(), name)
                self.assertEqual(stat.S_IMODE(path.stat().st_mode), 0o600, name)
        finally:
            self.assertEqual(c.stop(), 0, c.stderr())

    def assert_db_refused(self, db, why):
        p = run([ch.COLLECTOR_BIN, "--db", db, "--grpc-listen", "127.0.0.1:0", "--http-listen", "127.0.0.1:0"])
        self.assertEqual(p.returncode, 1, p.stderr)
        lines = p.stderr.strip().splitlines()
        self.assertEqual(len(lines), 1, p.stderr)
        self.assertIn(why, lines[0])

    def test_symlink_or_world_writable_directory_refused(self):
        require_root_tools()
        secret = self.dir / "secret"
        make_secret(secret)
        sticky = self.dir / "sticky"
        sticky.mkdir()
        os.chmod(sticky, 0o1777)
        symlink_as_nobody(secret, sticky / "link.db")
        self.assert_db_refused(sticky / "fleet.db", "writable by every user")
        os.chmod(sticky, 0o755)
        self.assert_db_refused(sticky / "link.db", "symbolic link")
        self.assertEqual(secret.read_text(), SECRET)


class DemoAgainstPlantedFiles(unittest.TestCase):
    def setUp(self):
        harness.require_agent_binary()
        harness.require_bpf()
        require_root_tools()

    def test_planted_modules_scripts_and_symlinks_never_run_or_change(self):
        r = in_private_tmp("demo", harness.free_port())
        self.assertEqual(r["markers"], [], "code planted by nobody ran as root:\n%s" % r["stderr"])
        self.assertEqual(r["secret"], SECRET, "the demo wrote through a planted symlink")
        self.assertEqual(r["rc"], harness.EXIT_OK, r["stderr"])
        self.assertGreaterEqual(r["stdout"].count("LOOP BLOCKED"), 3, r["stdout"][-3000:])
        self.assertEqual(r["left"], [], "the demo left its directory behind")


if __name__ == "__main__":
    if len(sys.argv) > 2 and sys.argv[1] == "--inner":
        print(json.dumps(INNER[sys.argv[2]](*sys.argv[3:])))
        sys.exit(0)
    harness.main()
