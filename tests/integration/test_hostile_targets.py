"""Hostile targets (docs/security.md): everything a target controls is attacker-controlled.

Each case runs the real agent with real BPF against a hostile target next to an honest Python
server that stalls, and asserts that the honest one keeps being reported, that the agent stays
bounded (peak RSS from /proc/PID/status VmHWM), that nothing of a file outside the target's root
reaches any output, and that SIGTERM ends the agent within 2 s with its reports flushed:

- a perf map made a FIFO (the agent once blocked in open() forever);
- a perf map made a symlink out of a container-like root (private mount namespace, chroot,
  tmpfs /tmp, target running as root), pointing at a host file holding a secret marker;
- a 250 MB sparse perf map, and a binary with a 1.5 GB sparse .symtab;
- `attach --pid` of a zombie, and of a process that exits before the probes are attached
  (exit 8, one line); PID reuse (a new process under a tracked PID is not tracked).
- a target whose interpreter, app and /tmp live on a FUSE mount (bindfs) whose daemon is
  stopped (SIGSTOP): every request to it waits for ever, so the agent must touch none.
The honest JIT perf map (Node --perf-basic-prof, in the same container-like root) still names
its frames.
"""

import os
import shutil
import signal
import struct
import subprocess
import time
import unittest
import uuid

import harness

SIGTERM_LIMIT_S = 2.0
RSS_LIMIT_KB = 96 * 1024
EXIT_PROCESS_GONE = 8
NODE = shutil.which("node") or shutil.which("nodejs")


def vm_hwm_kb(pid):
    with open("/proc/%d/status" % pid) as f:
        for line in f:
            if line.startswith("VmHWM:"):
                return int(line.split()[1])
    raise AssertionError("no VmHWM for pid %d" % pid)


def loading_probes(pid):
    """Whether process `pid` holds a BPF object: the agent is past its PID checks and loading."""
    try:
        fds = os.listdir("/proc/%d/fd" % pid)
    except OSError:
        return False
    for fd in fds:
        try:
            if os.readlink("/proc/%d/fd/%s" % (pid, fd)).startswith("anon_inode:bpf"):
                return True
        except OSError:
            pass
    return False


def sigterm_and_time(test, agent):
    """SIGTERM; asserts the agent exits 0 within SIGTERM_LIMIT_S; returns (reports, seconds)."""
    start = time.monotonic()
    agent.proc.signal(signal.SIGTERM)
    rc = agent.proc.wait(10)
    took = time.monotonic() - start
    test.assertIsNotNone(rc, "agent ignored SIGTERM for 10 s\n%s" % agent.proc.output_tail())
    test.assertEqual(rc, 0, agent.proc.output_tail())
    test.assertLess(took, SIGTERM_LIMIT_S, "SIGTERM took %.2f s" % took)
    print("    SIGTERM -> exit in %.3f s" % took)
    reports = agent.final_reports()
    test.assertTrue(reports.of("agentStats"), "reports flushed, agentStats last")
    return reports, took


def assert_honest_stall_reported(test, s, port, reports_fn):
    """The honest server stalls (sleep 300 ms); the agent reports it."""
    s.stall(port, "sleep", 300)
    true = [t for t in s.true_stalls("sleep") if t.ms == 300][-1]
    got, _ = reports_fn(lambda r: [b for b in r.finals() if b.pid == true.pid and
                                   b.overlap_ns(true.start_ns, true.end_ns) > 0])
    test.assertTrue(got, "the honest server's stall was reported while a hostile target is tracked")


class NodeInRoot:
    """Node --perf-basic-prof inside a container-like root: its own mount namespace, a chroot
    made of read-only bind mounts of the host's /usr, /proc, /dev and a private tmpfs /tmp,
    running as root. Its perf map is at /proc/PID/root/tmp/perf-PID.map as seen from the host."""

    def __init__(self, s):
        self.root = s.dir / "ctr"
        for d in ("usr", "proc", "dev", "tmp", "app", "etc"):
            (self.root / d).mkdir(parents=True, exist_ok=True)
        for link in ("bin", "lib", "lib64", "sbin"):
            if os.path.islink("/" + link):
                os.symlink(os.readlink("/" + link), self.root / link)
        shutil.copy(harness.APPS / "node_app.js", self.root / "app" / "node_app.js")
        self.port = harness.free_port()
        r = str(self.root)
        script = ("set -e; mount --make-rprivate /; "
                  "mount --bind -o ro /usr {r}/usr; mount --rbind /proc {r}/proc; "
                  "mount --rbind /dev {r}/dev; mount -t tmpfs tmpfs {r}/tmp; "
                  "cp /etc/passwd /etc/group {r}/etc/ 2>/dev/null || true; "
                  "cd {r}/tmp; exec chroot {r} /usr/bin/node --perf-basic-prof "
                  "--interpreted-frames-native-stack /app/node_app.js {p}").format(r=r, p=self.port)
        self.proc = s.spawn("node-ctr", ["unshare", "-m", "sh", "-c", script],
                            env=s.app_env(STALL_LOG=""))
        s.wait_port(self.port, self.proc, "node in its root")
        self.pid = self.proc.pid
        self.map_path = "/proc/%d/root/tmp/perf-%d.map" % (self.pid, self.pid)
        for _ in range(3):
            harness.http_get_ok(self.port, "/cpu?ms=30")  # let V8 compile burnCpu
        harness.wait_until(lambda: os.path.exists(self.map_path), 10)

    def replace_map(self, make):
        """Replaces the map (as seen inside its root) by what make(path) creates."""
        os.unlink(self.map_path)
        make(self.map_path)

    def cpu_stall(self, ms=300):
        harness.http_get_ok(self.port, "/cpu?ms=%d" % ms)
        time.sleep(0.3)


def jit_named(reports, pid):
    return [f.get("function", "") for b in reports.finals() if b.pid == pid
            for f in b.stack if f.get("module") == "[jit]" and f.get("function")]


class HostilePerfMaps(unittest.TestCase):
    def setUp(self):
        harness.require_bpf()
        if not NODE:
            self.skipTest("node is not installed")
        if not shutil.which("unshare") or not shutil.which("chroot"):
            self.skipTest("unshare/chroot not installed")
        self.s = harness.Session("hostile-maps")
        self.addCleanup(self.s.close)
        self.app, self.port = self.s.start_app("asyncio_app.py")
        self.s.warm_up(self.port)
        self.node = NodeInRoot(self.s)

    def start_agent(self):
        self.agent = self.s.start_agent([self.app.pid, self.node.pid])
        return self.agent

    def test_honest_map_names_jit_frames_then_fifo_is_refused(self):
        agent = self.start_agent()
        self.node.cpu_stall()
        named, _ = agent.wait_for(lambda r: jit_named(r, self.node.pid), 10)
        self.assertTrue(named and any("burnCpu" in n for n in named),
                        "the honest perf map (owned by the target's uid, regular) names the "
                        "JIT frame: %s" % named)
        # Now a FIFO: opening it once blocked the agent forever.
        self.node.replace_map(lambda p: os.mkfifo(p, 0o600))
        time.sleep(1.2)  # past the map re-check interval
        self.node.cpu_stall()
        assert_honest_stall_reported(self, self.s, self.port, lambda f: agent.wait_for(f, 10))
        reports, _ = sigterm_and_time(self, agent)
        stats = reports.agent_stats()
        self.assertGreaterEqual(int(stats.get("refusedNotRegular", 0)), 1, stats)

    def test_symlink_out_of_the_container_never_leaks(self):
        marker = "SECRET-MARKER-%s" % uuid.uuid4().hex
        secret = self.s.dir / "host-secret.map"   # on the host, outside the target's root
        secret.write_text("0 7fffffffffff %s\n" % marker)
        os.chmod(secret, 0o600)
        self.node.replace_map(lambda p: os.symlink(str(secret), p))
        agent = self.start_agent()
        for _ in range(2):
            self.node.cpu_stall()
        assert_honest_stall_reported(self, self.s, self.port, lambda f: agent.wait_for(f, 10))
        reports, _ = sigterm_and_time(self, agent)
        everything = agent.output.read_text() + agent.proc.stdout() + agent.proc.stderr()
        self.assertFalse(marker in everything,
                         "a host file's content (%s) reached the agent's output" % marker)
        self.assertTrue([b for b in reports.finals() if b.pid == self.node.pid],
                        "the hostile target's stall is still reported (unnamed JIT frames)")
        stats = reports.agent_stats()
        self.assertGreaterEqual(int(stats.get("refusedSymlink", 0)), 1, stats)

    def test_sparse_250mb_map_keeps_memory_bounded(self):
        def sparse(p):
            with open(p, "wb") as f:
                f.truncate(250 << 20)
        self.node.replace_map(sparse)
        agent = self.start_agent()
        self.node.cpu_stall()
        assert_honest_stall_reported(self, self.s, self.port, lambda f: agent.wait_for(f, 10))
        hwm = vm_hwm_kb(agent.proc.pid)
        print("    agent VmHWM with a 250 MB sparse perf map: %d kB" % hwm)
        reports, _ = sigterm_and_time(self, agent)
        self.assertLess(hwm, RSS_LIMIT_KB)
        stats = reports.agent_stats()
        self.assertGreaterEqual(int(stats.get("refusedTooLarge", 0)), 1, stats)


class PythonOnStoppedFuse:
    """A Python server whose interpreter (a copy of python3.11), app and /tmp are on a bindfs
    mount, in its own mount namespace (the mount bound at /mnt, its tmp/ over /tmp, working
    directory on it). stop() SIGSTOPs the bindfs daemon: from then on any lookup, getattr, open
    or read that reaches the mount waits until the daemon runs again. cleanup() (registered
    first thing) resumes the daemon, kills the target and unmounts, whatever happened."""

    def __init__(self, test, s):
        self.s = s
        self.src = s.dir / "fuse-src"
        self.mnt = s.dir / "fuse-mnt"
        self.daemon = self.target = None
        self.stopped = False
        test.addCleanup(self.cleanup)
        for d in ("app", "tmp"):
            (self.src / d).mkdir(parents=True, exist_ok=True)
        self.mnt.mkdir()
        shutil.copy("/usr/bin/python3.11", self.src / "python3")
        for f in ("asyncio_app.py", "stallkit.py"):
            shutil.copy(harness.APPS / f, self.src / "app" / f)
        # -f: in the foreground, so its PID is the daemon's.
        self.daemon = s.spawn("bindfs", ["bindfs", "-f", "--no-allow-other", self.src, self.mnt])
        if not harness.wait_until(lambda: os.path.ismount(self.mnt), 10):
            raise AssertionError("bindfs did not mount\n%s" % self.daemon.output_tail())
        self.port = harness.free_port()
        script = ("set -e; mount --make-rprivate /; mount --bind {m} /mnt; "
                  "mount --bind /mnt/tmp /tmp; cd /mnt/app; "
                  "exec /mnt/python3 /mnt/app/asyncio_app.py {p}").format(m=self.mnt, p=self.port)
        env = s.app_env(PYTHONPATH="/mnt/app", STALL_LOG="", READY_FILE="")
        self.target = s.spawn("python-on-fuse", ["unshare", "-m", "sh", "-c", script], env=env)
        s.wait_port(self.port, self.target, "python on bindfs")
        self.pid = self.target.pid
        harness.http_get_ok(self.port, "/fast")
        # The interpreter's pages in the page cache, so that the target itself does not fault
        # on a stopped mount later (its own reads would wait too).
        with open(self.mnt / "python3", "rb") as f:
            while f.read(1 << 20):
                pass

    def stop(self):
        self.daemon.signal(signal.SIGSTOP)
        self.stopped = True
        time.sleep(1.5)  # past fuse's attribute and entry timeouts (1 s): requests now wait

    def stat_waits(self, path, limit_s=1.0):
        """Whether a plain `stat` of `path` from a subprocess does not return within limit_s."""
        proc = subprocess.Popen(["stat", str(path)], stdout=subprocess.DEVNULL,
                                stderr=subprocess.DEVNULL)
        try:
            proc.wait(limit_s)
            return False
        except subprocess.TimeoutExpired:
            proc.kill()  # a FUSE wait ends on a fatal signal
            proc.wait(10)
            return True

    def cleanup(self):
        if self.daemon is not None and self.stopped:
            self.daemon.signal(signal.SIGCONT)
        if self.target is not None:
            self.target.kill()
        if os.path.ismount(self.mnt):
            if subprocess.run(["fusermount3", "-u", str(self.mnt)], capture_output=True).returncode:
                subprocess.run(["umount", "-l", str(self.mnt)], capture_output=True)
        if self.daemon is not None:
            self.daemon.kill()


class FuseTargets(unittest.TestCase):
    def test_a_stopped_fuse_daemon_never_makes_the_agent_wait(self):
        harness.require_bpf()
        for tool in ("bindfs", "fusermount3", "unshare", "stat"):
            if not shutil.which(tool):
                self.skipTest("%s is not installed (scripts/lib/packages.sh TEST_PACKAGES)" % tool)
        if not os.path.exists("/dev/fuse"):
            self.skipTest("no /dev/fuse on this machine")
        s = harness.Session("fuse")
        self.addCleanup(s.close)
        app, port = s.start_app("asyncio_app.py")
        s.warm_up(port)
        fuse = PythonOnStoppedFuse(self, s)
        fuse.stop()
        # The hazard is real: anything that reaches the mount now waits.
        self.assertTrue(fuse.stat_waits(fuse.mnt / "python3"),
                        "a stat on the stopped bindfs mount returned: the test proves nothing")
        agent = s.start_agent([app.pid, fuse.pid])
        s.stall(fuse.port, "sleep", 300)
        s.stall(fuse.port, "cpu", 300)
        assert_honest_stall_reported(self, s, port, lambda f: agent.wait_for(f, 10))
        honest = [b for b in agent.reports_so_far().finals() if b.pid == app.pid and b.python_frames()]
        self.assertTrue(honest, "the normal server's stalls keep their Python frames")
        got, _ = agent.wait_for(lambda r: [b for b in r.finals() if b.pid == fuse.pid], 10)
        self.assertTrue(got, "the FUSE target's stalls are reported too (unnamed frames)")
        print("    FUSE target: %d stalls, python frames: %s" % (len(got), got[0].python_stack_reason))
        self.assertIn("FUSE", got[0].python_stack_reason)
        reports, _ = sigterm_and_time(self, agent)
        stats = reports.agent_stats()
        print("    refusedOnFuse %s, shedMountinfoUnread %s" %
              (stats.get("refusedOnFuse", 0), stats.get("shedMountinfoUnread", 0)))
        self.assertGreaterEqual(int(stats.get("refusedOnFuse", 0)), 1, stats)


def add_huge_sparse_symtab(src, dst, symtab_bytes=1536 << 20):
    """Copies ELF64 `src` to `dst` with a .symtab of `symtab_bytes` that is one sparse hole (all
    zero symbols) and a small .strtab, appended with a new section header table."""
    data = open(src, "rb").read()
    assert data[:4] == b"\x7fELF" and data[4] == 2, "ELF64 expected"
    e_shoff, = struct.unpack_from("<Q", data, 0x28)
    e_shentsize, e_shnum, e_shstrndx = struct.unpack_from("<HHH", data, 0x3a)
    shdrs = data[e_shoff:e_shoff + e_shentsize * e_shnum]
    strtab = b"\0hostile_symbol\0"
    strtab_off = (len(data) + 4095) & ~4095
    symtab_off = strtab_off + 4096
    new_shoff = symtab_off + symtab_bytes
    # Elf64_Shdr: name type flags addr offset size link info addralign entsize
    sym = struct.pack("<IIQQQQIIQQ", 0, 2, 0, 0, symtab_off, symtab_bytes, e_shnum + 1, 0, 8, 24)
    strs = struct.pack("<IIQQQQIIQQ", 0, 3, 0, 0, strtab_off, len(strtab), 0, 0, 1, 0)
    with open(dst, "wb") as f:
        f.write(data)
        f.seek(strtab_off)
        f.write(strtab)
        f.seek(new_shoff)
        f.write(shdrs + sym + strs)
        f.seek(0x28)
        f.write(struct.pack("<Q", new_shoff))
        f.seek(0x3c)
        f.write(struct.pack("<H", e_shnum + 2))
    os.chmod(dst, 0o755)


class HugeSparseSymtab(unittest.TestCase):
    def test_binary_with_a_huge_sparse_symtab(self):
        harness.require_bpf()
        s = harness.Session("hugesym")
        self.addCleanup(s.close)
        python = os.path.realpath(harness.PYTHON)
        hostile = s.dir / "python-hugesym"
        add_huge_sparse_symtab(python, hostile)
        app, port = s.start_app("asyncio_app.py")
        s.warm_up(port)
        hport = harness.free_port()
        happ = s.spawn("hugesym-app", [str(hostile), harness.APPS / "asyncio_app.py", hport],
                       env=s.app_env(), cwd=harness.APPS)
        s.wait_port(hport, happ, "python with a huge .symtab")
        agent = s.start_agent([app.pid, happ.pid])
        s.stall(hport, "cpu", 300)
        s.stall(hport, "sleep", 300)
        got, _ = agent.wait_for(lambda r: [b for b in r.finals() if b.pid == happ.pid], 10)
        self.assertTrue(got, "the hostile binary's own stalls are still reported")
        assert_honest_stall_reported(self, s, port, lambda f: agent.wait_for(f, 10))
        hwm = vm_hwm_kb(agent.proc.pid)
        print("    agent VmHWM with a 1.5 GB sparse .symtab: %d kB" % hwm)
        reports, _ = sigterm_and_time(self, agent)
        self.assertLess(hwm, RSS_LIMIT_KB)
        self.assertGreaterEqual(int(reports.agent_stats().get("shedSymbols", 0)), 1,
                                reports.agent_stats())


class GoneTargets(unittest.TestCase):
    def setUp(self):
        harness.require_bpf()
        self.s = harness.Session("gone")
        self.addCleanup(self.s.close)

    def run_to_exit(self, argv, name, timeout=30):
        proc = self.s.spawn(name, argv)
        rc = proc.wait(timeout)
        if rc is None:
            proc.kill()
            self.fail("agent still running after %d s\n%s" % (timeout, proc.output_tail()))
        if rc in (harness.EXIT_PRIVILEGES, harness.EXIT_KERNEL):
            raise harness.EnvironmentSkip(harness.ENV_SKIP + proc.stderr())
        return rc, proc

    def test_zombie_pid(self):
        parent = self.s.spawn("zombie-parent", [harness.PYTHON, "-c",
                              "import os, time\npid = os.fork()\nif pid == 0: os._exit(0)\n"
                              "print(pid, flush=True)\ntime.sleep(600)\n"])
        harness.wait_until(lambda: parent.stdout().strip(), 10)
        zombie = int(parent.stdout().split()[0])
        harness.wait_until(lambda: open("/proc/%d/stat" % zombie).read().split(")")[1].split()[0] == "Z", 10)
        rc, proc = self.run_to_exit([harness.STALLSCOPE_BIN, "attach", "--pid", str(zombie)], "agent")
        self.assertEqual(rc, EXIT_PROCESS_GONE, proc.output_tail())
        lines = proc.stderr().strip().splitlines()
        self.assertEqual(len(lines), 1, proc.stderr())
        self.assertIn("zombie", lines[0])

    def test_zombie_child_of_a_tracked_server(self):
        # A tracked server whose child is a zombie: the zombie is found among the descendants,
        # the server is still reported, and SIGTERM still ends the agent at once.
        app, port = self.s.start_app("asyncio_app.py")
        self.s.warm_up(port)
        parent = self.s.spawn("zombie-parent", [harness.PYTHON, "-c",
                              "import os, time\npid = os.fork()\nif pid == 0: os._exit(0)\n"
                              "print(pid, flush=True)\ntime.sleep(600)\n"])
        harness.wait_until(lambda: parent.stdout().strip(), 10)
        agent = self.s.start_agent([app.pid, parent.pid])
        assert_honest_stall_reported(self, self.s, port, lambda f: agent.wait_for(f, 10))
        sigterm_and_time(self, agent)

    def test_exit_before_the_probes_are_attached(self):
        target = self.s.spawn("short", [harness.PYTHON, "-c", "import time; time.sleep(600)"])
        time.sleep(0.2)
        agent = self.s.spawn("agent", [harness.STALLSCOPE_BIN, "attach", "--pid", str(target.pid)])
        # Past the PID checks (a zombie or missing PID is refused there), before the probes
        # track it: killed and reaped, gone, not a zombie.
        self.assertTrue(harness.wait_until(lambda: loading_probes(agent.pid) or agent.poll() is not None, 20))
        target.kill()
        rc = agent.wait(30)
        self.assertIsNotNone(rc, "agent waits forever for a process that is gone")
        if rc in (harness.EXIT_PRIVILEGES, harness.EXIT_KERNEL):
            raise harness.EnvironmentSkip(harness.ENV_SKIP + agent.stderr())
        self.assertEqual(rc, EXIT_PROCESS_GONE, agent.output_tail())
        lines = agent.stderr().strip().splitlines()
        self.assertIn("exited before the probes were attached", lines[-1])
        self.assertEqual(len([l for l in lines if "exited before" in l]), 1, agent.stderr())

    def test_one_of_two_exits_before_attach_the_other_is_still_traced(self):
        app, port = self.s.start_app("asyncio_app.py")
        self.s.warm_up(port)
        target = self.s.spawn("short", [harness.PYTHON, "-c", "import time; time.sleep(600)"])
        time.sleep(0.2)
        agent = harness.Agent(self.s, [app.pid, target.pid])
        self.assertTrue(harness.wait_until(lambda: loading_probes(agent.proc.pid) or not agent.proc.alive(), 20))
        target.kill()
        agent.wait_attached()
        self.assertIn("process %d exited before the probes were attached" % target.pid,
                      agent.proc.stderr())
        assert_honest_stall_reported(self, self.s, port, lambda f: agent.wait_for(f, 10))
        sigterm_and_time(self, agent)

    def test_pid_reuse_is_not_tracked(self):
        app, port = self.s.start_app("asyncio_app.py")
        self.s.warm_up(port)
        victim = self.s.spawn("victim", [harness.PYTHON, "-c", "import time; time.sleep(600)"])
        agent = self.s.start_agent([app.pid, victim.pid])
        reused = victim.pid
        victim.kill()
        harness.wait_until(lambda: not harness.pid_exists(reused), 10)
        time.sleep(1.5)  # the agent forgets it (exit event, or its /proc check)
        # A new process under the same PID (ns_last_pid makes the kernel hand it out next).
        newcomer, nport = None, None
        for _ in range(50):
            nport = harness.free_port()
            with open("/proc/sys/kernel/ns_last_pid", "w") as f:
                f.write(str(reused - 1))
            proc = self.s.spawn("newcomer", [harness.PYTHON, harness.APPS / "asyncio_app.py", nport],
                                env=self.s.app_env(), cwd=harness.APPS)
            if proc.pid == reused:
                newcomer = proc
                break
            proc.kill()
        if newcomer is None:
            self.skipTest("could not get PID %d reused (a busy host)" % reused)
        self.s.wait_port(nport, newcomer, "newcomer")
        self.s.stall(nport, "sleep", 300)
        assert_honest_stall_reported(self, self.s, port, lambda f: agent.wait_for(f, 10))
        reports, _ = sigterm_and_time(self, agent)
        late = [b for b in reports.finals() if b.pid == reused]
        self.assertFalse(late, "a new process under a reused PID was tracked: %s" % late[:1])


if __name__ == "__main__":
    harness.main()
