"""`stallscope daemon` on this host, end to end: started before any server, it finds a Tornado
app, a gunicorn master (with its gevent workers) and a uWSGI master started after it, and never
tracks other Python processes; reports carry the process identity (a Tornado app run inside a
real Docker-style cgroup gets its container id, runtime, pod and service from the cgroup path and
a recorded config.v2.json; a uWSGI server in a Kubernetes pod's cgroup v2 path gets its pod from
the kubelet's pod directory); a process's own environment cannot claim another service than the
one its container's labels or pod name give (issue 22); /healthz, /readyz and /metrics answer; SIGHUP applies changed
selectors (and a bad file keeps the old config); SIGTERM flushes every report to a real
collector and exits 0."""

import json
import os
import re
import signal
import sys
import time
import unittest
from pathlib import Path

import harness

sys.path.insert(0, str(harness.ROOT / "collector" / "tools"))
import collector_harness as ch  # noqa: E402

CONTAINER_ID = "5e1f0c2d3b4a59687766554433221100ffeeddccbbaa99887766554433221100"
CGROUP_V1_MEMORY = Path("/sys/fs/cgroup/memory")
# cgroup v2: the unified hierarchy, alone (/sys/fs/cgroup) or beside v1 (hybrid)
CGROUP_V2 = next((p for p in (Path("/sys/fs/cgroup/unified"), Path("/sys/fs/cgroup"))
                  if (p / "cgroup.controllers").exists()), Path("/nonexistent"))
# A Kubernetes pod's container under the systemd driver, as containerd names it on cgroup v2.
POD_UID = "5b3d9f1e-7a2c-4e8b-9d6f-0c1a2b3c4d5e"
POD_CONTAINER_ID = "8d2b5f3e9c1a47b6a0e4d3c2b1a09f8e7d6c5b4a39281706f5e4d3c2b1a09f8e"
POD_CGROUP = ("kubepods.slice/kubepods-burstable.slice/kubepods-burstable-pod%s.slice/cri-containerd-%s.scope" %
              (POD_UID.replace("-", "_"), POD_CONTAINER_ID))
FIND_TIMEOUT_S = 10   # scan_interval_ms is 500: a new server is tracked within a second or two


# Other engineers' servers may run on this host too: every selector also asks for this tree's
# test apps on the command line, so the daemon leaves theirs alone. The processes it must
# ignore have that path on their command lines as well, so only server detection tells them apart.
ONLY_OURS = "cmdline:" + re.escape(str(harness.APPS))


def config_text(servers, host_root):
    lines = ["listen = 127.0.0.1:0", "scan_interval_ms = 500", "stats_interval_s = 2", "host_root = %s" % host_root,
             # The environment first, as a user may write it: the orchestrator's name still wins.
             "service = env:OTEL_SERVICE_NAME, label:com.docker.compose.service, workload, app, comm"]
    lines += ["select = server:%s %s" % (s, ONLY_OURS) for s in servers]
    return "\n".join(lines) + "\n"


class Daemon(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        harness.require_bpf()
        harness.require_agent_binary()
        cls.s = s = harness.Session("daemon")
        cls.addClassCleanup(s.close)
        cls.collector = c = ch.Collector(s.dir)
        cls.addClassCleanup(c.kill9)
        c.start()

        # A recorded Docker container config, where a node's runtime keeps it.
        cls.host_root = s.dir / "host"
        cfg = cls.host_root / "var/lib/docker/containers" / CONTAINER_ID / "config.v2.json"
        cfg.parent.mkdir(parents=True)
        cfg.write_text(json.dumps({"ID": CONTAINER_ID, "Config": {"Labels": {
            "com.docker.compose.service": "storefront", "io.kubernetes.pod.name": "storefront-7d9f8b6c5-x2x9k",
            "io.kubernetes.pod.namespace": "shop", "io.kubernetes.container.name": "web"}}}))

        # A kubelet pod directory, as the kubelet writes it (no runtime files for this one:
        # names come from the kubelet's files).
        pod_dir = cls.host_root / "var/lib/kubelet/pods" / POD_UID
        (pod_dir / "volumes/kubernetes.io~projected/kube-api-access-8xk2p").mkdir(parents=True)
        (pod_dir / "volumes/kubernetes.io~projected/kube-api-access-8xk2p/namespace").write_text("billing")
        (pod_dir / "containers/wsgi").mkdir(parents=True)
        (pod_dir / "etc-hosts").write_text("# Kubernetes-managed hosts file.\n127.0.0.1\tlocalhost\n"
                                           "::1\tlocalhost ip6-localhost ip6-loopback\n"
                                           "10.244.1.7\tbilling-api-5c8d7f9b4d-q8wzt\n")
        cls.created_cgroups = []

        cls.config = s.dir / "stallscope.conf"
        cls.config.write_text(config_text(["gunicorn", "uwsgi", "tornado"], cls.host_root))
        cls.output = s.dir / "daemon.jsonl"
        cls.daemon = s.spawn("daemon", [harness.STALLSCOPE_BIN, "daemon", "--config", cls.config,
                                        "--collector", c.target(), "--output", cls.output])
        cls.ops_port = cls.wait_ready()

        # Started after the daemon: three servers it must find, three Python processes it must not
        # (the apps' upstream, plain Python scripts).
        cls.upstream = s.start_upstream()
        cls.sleeper = s.spawn("sleeper", [harness.PYTHON, "-c", "import sys, time; time.sleep(300)", harness.APPS])
        cls.http_server_port = harness.free_port()
        cls.http_server = s.spawn("httpserver", [harness.PYTHON, "-m", "http.server", "--bind", "127.0.0.1",
                                                 "--directory", harness.APPS, str(cls.http_server_port)])
        cls.tornado, cls.tornado_port = cls.start_tornado_in_container()
        cls.gunicorn, cls.gunicorn_port = s.start_gunicorn("gevent_app", worker_class="gevent", workers=2)
        cls.uwsgi, cls.uwsgi_port = cls.start_uwsgi()
        cls.workers = s.ready_workers(cls.gunicorn)

        cls.attached = {}
        for name, proc in (("tornado", cls.tornado), ("gunicorn", cls.gunicorn), ("uwsgi", cls.uwsgi)):
            cls.attached[name] = cls.wait_event(proc.pid, "ATTACHED", FIND_TIMEOUT_S)

        # A stall on the Tornado loop (identity on a loopBlock), then on a gevent worker.
        s.warm_up(cls.tornado_port)
        s.stall(cls.tornado_port, "sleep", 300)
        s.warm_up(cls.gunicorn_port)
        s.stall(cls.gunicorn_port, "sleep", 250)
        cls.metrics_before_reload = ch.get(cls.ops_port, "/metrics")[1]
        cls.periodic_stats = harness.wait_until(
            lambda: ch.get_json(c.http_port, "/api/v1/reports?kind=agent_stats")["reports"], 10, interval=0.2)
        cls.health = ch.get(cls.ops_port, "/healthz")
        cls.ready = ch.get(cls.ops_port, "/readyz")

        # SIGHUP with a broken file: the old config stays.
        cls.config.write_text("select = server:nginx\n")
        cls.daemon.signal(signal.SIGHUP)
        cls.bad_reload_line = harness.wait_until(
            lambda: [l for l in cls.daemon.stderr().splitlines() if "config reload failed" in l], 10)
        # SIGHUP with Tornado no longer selected: the app is dropped, a stall after it unreported.
        cls.config.write_text(config_text(["gunicorn", "uwsgi"], cls.host_root))
        cls.daemon.signal(signal.SIGHUP)
        cls.dropped_line = harness.wait_until(
            lambda: [l for l in cls.daemon.stderr().splitlines()
                     if "no longer tracking PID %d" % cls.tornado.pid in l], 10)
        s.stall(cls.tornado_port, "sleep", 300)
        s.stall(cls.gunicorn_port, "sleep", 200)
        time.sleep(0.5)
        cls.metrics_after_reload = ch.get(cls.ops_port, "/metrics")[1]

        # SIGTERM: exits 0 after flushing to the collector.
        cls.daemon.signal(signal.SIGTERM)
        cls.exit_code = cls.daemon.wait(20)
        cls.reports = harness.Reports(cls.output.read_text(), complete=True)

    @classmethod
    def wait_ready(cls):
        return harness.wait_daemon_ready(cls.daemon)

    @classmethod
    def make_cgroup(cls, hierarchy, path):
        """mkdir -p a cgroup in `hierarchy`; returns it, or None where this kernel/host cannot.
        Removed at the end (after the processes in it are killed)."""
        if not (hierarchy / "cgroup.procs").exists():
            return None
        d, created = hierarchy, []
        try:
            for part in Path(path).parts:
                d = d / part
                if not d.exists():  # a host with Docker or Kubernetes has some already
                    d.mkdir()
                    created.append(d)
        except OSError:
            return None
        cls.created_cgroups += created
        return d

    @classmethod
    def in_cgroup(cls, cgroup, argv):
        if cgroup is None:
            return [str(a) for a in argv]
        return ["/bin/sh", "-c", 'echo $$ > %s/cgroup.procs && exec "$@"' % cgroup, "sh"] + [str(a) for a in argv]

    @classmethod
    def remove_cgroups(cls):
        # Runs before the session's own cleanup: the processes must be gone for rmdir to work.
        for proc in cls.s.procs:
            if proc.name in ("tornado", "uwsgi"):
                proc.kill()
        for d in reversed(cls.created_cgroups):
            for _ in range(50):
                try:
                    d.rmdir()
                    break
                except FileNotFoundError:
                    break
                except OSError:
                    time.sleep(0.1)  # its processes are still exiting

    @classmethod
    def start_tornado_in_container(cls):
        """The Tornado app, started inside a Docker-named cgroup (cgroup v1 memory hierarchy)."""
        cls.addClassCleanup(cls.remove_cgroups)
        cls.cgroup_dir = cls.make_cgroup(CGROUP_V1_MEMORY, "docker/" + CONTAINER_ID)
        port = harness.free_port()
        argv = cls.in_cgroup(cls.cgroup_dir, [harness.PYTHON, harness.APPS / "tornado_app.py", port])
        # The app claims another service through its own environment (a pod posing as payments).
        proc = cls.s.spawn("tornado", argv, env=cls.s.app_env(OTEL_SERVICE_NAME="payments"), cwd=harness.APPS)
        cls.s.wait_port(port, proc, "tornado")
        harness.http_get_ok(port, "/fast")
        return proc, port

    @classmethod
    def start_uwsgi(cls):
        port = harness.free_port()
        argv = ["/usr/bin/uwsgi", "--plugin", "python3", "--http-socket", "127.0.0.1:%d" % port, "--master",
                "--processes", "1", "--chdir", harness.APPS, "--module", "sync_app:app", "--die-on-term"]
        # in a Kubernetes pod's containerd cgroup on the cgroup v2 hierarchy
        cls.pod_cgroup = cls.make_cgroup(CGROUP_V2, POD_CGROUP)
        proc = cls.s.spawn("uwsgi", cls.in_cgroup(cls.pod_cgroup, argv), env=cls.s.app_env(), cwd=harness.APPS)
        cls.s.wait_port(port, proc, "uwsgi")
        return proc, port

    @classmethod
    def events(cls, reports=None):
        return harness.process_events(cls.output, reports)

    @classmethod
    def wait_event(cls, pid, kind, timeout):
        return harness.wait_process_event(cls.events, pid, kind, timeout)

    def finals(self, pid):
        return [(d["loopBlock"], d.get("process", {})) for _, d in self.reports.lines
                if "loopBlock" in d and not d["loopBlock"].get("inProgress") and d["loopBlock"]["pid"] == pid]

    def test_finds_servers_started_after_it(self):
        for name, proc in (("tornado", self.tornado), ("gunicorn", self.gunicorn), ("uwsgi", self.uwsgi)):
            event = self.attached[name]
            self.assertIsNotNone(event, "no ATTACHED event for the %s server (PID %d) within %d s\n%s" %
                                 (name, proc.pid, FIND_TIMEOUT_S, self.daemon.output_tail()))
            self.assertEqual(event["process"]["server"], name, event)
        # gunicorn's workers come with their master
        attached = {e["processEvent"]["pid"] for e in self.events(self.reports)
                    if e["processEvent"]["kind"] in ("ATTACHED", "FORKED")}
        for pid in self.workers:
            self.assertIn(pid, attached, "gunicorn worker %d not tracked" % pid)

    def test_ignores_other_python_processes(self):
        upstream = [p for p in self.s.procs if p.name == "upstream"][0]
        pids = {self.sleeper.pid, self.http_server.pid, upstream.pid}
        seen = [e for e in self.events(self.reports) if e["processEvent"]["pid"] in pids]
        self.assertEqual(seen, [], "non-server Python processes were tracked")
        self.assertNotIn("PID %d " % self.sleeper.pid, self.daemon.stderr())

    def test_stalls_carry_process_identity(self):
        true = [t for t in self.s.true_stalls("sleep") if t.pid == self.tornado.pid][0]
        blocks = self.finals(self.tornado.pid)
        report = harness.match_stall(true, harness.Reports(
            "\n".join(json.dumps({"loopBlock": b}) for b, _ in blocks), complete=True), self.s.origin_ns)
        identity = [p for b, p in blocks if b["seq"] == report.seq][0]
        self.assertEqual(identity["server"], "tornado", identity)
        self.assertEqual(identity["app"], "tornado_app.py", identity)
        if self.cgroup_dir:
            self.assertEqual(identity["containerId"], CONTAINER_ID, identity)
            self.assertEqual(identity["containerRuntime"], "docker", identity)
            self.assertEqual(identity["pod"], "storefront-7d9f8b6c5-x2x9k", identity)
            self.assertEqual(identity["podNamespace"], "shop", identity)
            self.assertEqual(identity["container"], "web", identity)
            # The container's label, not the environment's claim ("payments").
            self.assertEqual(identity["service"], "storefront", identity)
            self.assertEqual(identity["serviceSource"], "label:com.docker.compose.service", identity)
            self.assertFalse(identity.get("serviceHint", False), identity)
        else:
            self.assertEqual(identity["service"], "tornado_app", identity)
        # a gevent worker's stall: the worker's own identity (inherited server, app module service)
        worker_blocks = [x for pid in self.workers for x in self.finals(pid)]
        self.assertTrue(worker_blocks, "no stall reported on a gunicorn worker")
        self.assertEqual(worker_blocks[0][1]["server"], "gunicorn")
        self.assertEqual(worker_blocks[0][1]["service"], "gevent_app")
        # no orchestrator name outside a container: the app module, marked as the process's word
        self.assertEqual(worker_blocks[0][1]["serviceSource"], "app")
        self.assertTrue(worker_blocks[0][1]["serviceHint"])

    def test_kubernetes_pod_identity_from_cgroup_v2_and_kubelet_files(self):
        if not self.pod_cgroup:
            self.skipTest("cannot create a cgroup v2 cgroup here")
        identity = self.attached["uwsgi"]["process"]
        self.assertEqual(identity["containerId"], POD_CONTAINER_ID, identity)
        self.assertEqual(identity["containerRuntime"], "containerd", identity)
        self.assertEqual(identity["podUid"], POD_UID, identity)
        self.assertEqual(identity["pod"], "billing-api-5c8d7f9b4d-q8wzt", identity)
        self.assertEqual(identity["podNamespace"], "billing", identity)
        self.assertEqual(identity["container"], "wsgi", identity)
        self.assertEqual(identity["app"], "sync_app:app", identity)
        self.assertEqual(identity["service"], "billing-api", identity)  # the pod's workload
        self.assertEqual(identity["serviceSource"], "workload", identity)

    def test_ops_endpoints(self):
        self.assertEqual(self.health, (200, "ok\n"))
        self.assertEqual(self.ready, (200, "ready\n"))
        m = self.metrics_before_reload
        tracked = re.search(r"^stallscope_agent_tracked_processes (\d+)$", m, re.M)
        # tornado + gunicorn master and 2 workers + uwsgi master and worker
        self.assertGreaterEqual(int(tracked.group(1)), 6, m)
        self.assertRegex(m, r'stallscope_agent_reports_total\{kind="loop_block"\} [1-9]')
        self.assertRegex(m, r'stallscope_agent_kernel_events_lost_total\{reason="ringbuf_full"\} 0')
        self.assertRegex(m, r"process_resident_memory_bytes [1-9]")
        self.assertRegex(m, r"process_cpu_seconds_total [0-9.]+")
        self.assertRegex(m, r"stallscope_agent_collector_acked_total [1-9]")
        # Target files refused and bounded sheds, by reason (docs/security.md).
        self.assertRegex(m, r'stallscope_agent_target_file_refusals_total\{reason="symlink"\} \d+')
        self.assertRegex(m, r'stallscope_agent_bounded_sheds_total\{what="symbols"\} \d+')
        promtool = "/usr/bin/promtool"
        if os.path.exists(promtool):
            import subprocess
            p = subprocess.run([promtool, "check", "metrics"], input=m, capture_output=True, text=True)
            self.assertEqual(p.returncode, 0, p.stdout + p.stderr)

    def test_sighup_reloads(self):
        self.assertTrue(self.bad_reload_line, self.daemon.stderr())
        self.assertIn("server:nginx", self.bad_reload_line[0])
        self.assertTrue(self.dropped_line, "tornado not dropped after the reload\n%s" % self.daemon.stderr())
        self.assertRegex(self.metrics_after_reload, r'stallscope_agent_config_reloads_total\{result="ok"\} 1')
        self.assertRegex(self.metrics_after_reload, r'stallscope_agent_config_reloads_total\{result="error"\} 1')
        # the stall after the reload: reported on gunicorn (still selected), not on tornado
        tornado_trues = [t for t in self.s.true_stalls("sleep") if t.pid == self.tornado.pid]
        self.assertEqual(len(tornado_trues), 2)
        after = tornado_trues[1]
        late = [b for b, _ in self.finals(self.tornado.pid) if int(b["startTimeUnixNano"]) >= after.start_ns - 50_000_000]
        self.assertEqual(late, [], "a stall of the deselected tornado app was reported")
        gevent_trues = [t for t in self.s.true_stalls("sleep") if t.pid in self.workers]
        self.assertEqual(len(gevent_trues), 2)
        blocks = [b for pid in self.workers for b, _ in self.finals(pid)]
        harness.match_stall(gevent_trues[1], harness.Reports(
            "\n".join(json.dumps({"loopBlock": b}) for b in blocks), complete=True), self.s.origin_ns)

    def test_sigterm_flushes_to_collector(self):
        self.assertEqual(self.exit_code, 0, self.daemon.output_tail())
        local = sorted((b["tid"], b["startTimeUnixNano"], b["seq"]) for _, d in self.reports.lines
                       if "loopBlock" in d for b in [d["loopBlock"]] if not b.get("inProgress"))
        self.assertGreaterEqual(len(local), 3)
        body = ch.get_json(self.collector.http_port, "/api/v1/reports?kind=loop_block&final=true&limit=1000")
        remote = sorted((r["loopBlock"]["tid"], r["loopBlock"]["startTimeUnixNano"], r["loopBlock"]["seq"])
                        for r in body["reports"])
        self.assertEqual(remote, local, "collector vs the daemon's own --output")
        stats = self.reports.agent_stats()
        self.assertEqual(int(stats.get("collectorUnackedAtExit", 0)), 0, stats)
        self.assertEqual(int(stats.get("collectorDrops", 0)), 0, stats)
        remote_stats = ch.get_json(self.collector.http_port, "/api/v1/reports?kind=agent_stats")["reports"]
        self.assertGreater(len(remote_stats), len(self.periodic_stats), "the final agentStats did not reach the collector")
        # while running, every stats_interval_s
        self.assertTrue(self.periodic_stats, "no agentStats reached the collector while the daemon ran")
        self.assertGreaterEqual(int(self.periodic_stats[0]["agentStats"]["trackedProcesses"]), 3, self.periodic_stats[0])
        # identities travel to the collector, which stores and filters by each report's service
        tornado_service = "storefront" if self.cgroup_dir else "tornado_app"
        by_service = ch.get_json(self.collector.http_port,
                                 "/api/v1/reports?kind=loop_block&final=true&service=%s" % tornado_service)["reports"]
        self.assertTrue(by_service, "no reports stored under service %s" % tornado_service)
        self.assertTrue(all(r["loopBlock"]["pid"] == self.tornado.pid for r in by_service))
        self.assertEqual(by_service[0]["process"]["server"], "tornado")
        services = {s["service"] for s in ch.get_json(self.collector.http_port, "/api/v1/summary/services")["services"]}
        self.assertEqual(services, {tornado_service, "gevent_app"})


class MemoryShedding(unittest.TestCase):
    """Under a memory limit it is already near (32 MiB, the smallest allowed), the daemon sheds
    detail instead of growing: it stops reading Python stacks (level 2) or stops adding
    processes (level 3), says so on stderr and in /metrics, and keeps reporting stalls."""

    @classmethod
    def setUpClass(cls):
        harness.require_bpf()
        harness.require_agent_binary()
        cls.s = s = harness.Session("daemon-memory")
        cls.addClassCleanup(s.close)
        conf = s.dir / "small.conf"
        conf.write_text("listen = 127.0.0.1:0\nscan_interval_ms = 500\nmemory_limit_mb = 32\n"
                        "select = server:tornado %s\n" % ONLY_OURS)
        cls.output = s.dir / "daemon.jsonl"
        cls.daemon = s.spawn("daemon", [harness.STALLSCOPE_BIN, "daemon", "--config", conf, "--output", cls.output])
        cls.ops_port = Daemon.wait_ready.__func__(cls)
        s.start_upstream()
        cls.app, port = s.start_app("tornado_app.py")
        cls.tracked = harness.wait_until(
            lambda: "tracking PID %d " % cls.app.pid in cls.daemon.stderr() or
            "not tracking PID %d " % cls.app.pid in cls.daemon.stderr(), FIND_TIMEOUT_S)
        s.warm_up(port)
        s.stall(port, "sleep", 300)
        cls.metrics = ch.get(cls.ops_port, "/metrics")[1]
        cls.daemon.signal(signal.SIGTERM)
        cls.exit_code = cls.daemon.wait(20)
        cls.reports = harness.Reports(cls.output.read_text(), complete=True)

    def test_sheds_and_keeps_working(self):
        self.assertEqual(self.exit_code, 0, self.daemon.output_tail())
        self.assertTrue(self.tracked, self.daemon.output_tail())
        level = int(re.search(r"^stallscope_agent_memory_shed_level (\d)$", self.metrics, re.M).group(1))
        # The daemon's baseline RSS is ~22 MiB here (69 %: level 1) since /proc reads stopped
        # allocating their whole cap up front; elsewhere it may reach level 2 or 3.
        self.assertGreaterEqual(level, 1, self.metrics)
        self.assertRegex(self.daemon.stderr(), r"memory \d+ MiB of 32 MiB limit: shedding level [0-2] -> [1-3]")
        finals = [b for b in self.reports.finals() if b.pid == self.app.pid]
        if level == 1:  # caches dropped, everything still reported
            self.assertTrue(finals, "no stall reported at shedding level 1\n%s" % self.daemon.output_tail())
        elif level == 2:
            self.assertTrue(finals, "no stall reported at shedding level 2\n%s" % self.daemon.output_tail())
            self.assertEqual({b.python_stack_status for b in finals}, {"PYTHON_STACK_NOT_CAPTURED"})
        else:  # level 3: the app was counted, not tracked
            self.assertEqual(finals, [])
            self.assertIn("not tracking PID %d (python3): memory limit near" % self.app.pid, self.daemon.stderr())
            self.assertRegex(self.metrics, r"stallscope_agent_processes_over_limit_total [1-9]")
        self.assertEqual(int(self.reports.agent_stats().get("memoryShed", 0)) >= 1, True, self.reports.agent_stats())


class ExecPickup(unittest.TestCase):
    """With the /proc scan a minute apart, a server is still tracked at once: the kernel tells
    the daemon about every exec of an untracked process."""

    def test_server_tracked_at_exec_not_at_next_scan(self):
        harness.require_bpf()
        harness.require_agent_binary()
        self.s = s = harness.Session("daemon-exec")
        self.addCleanup(s.close)
        conf = s.dir / "slow-scan.conf"
        conf.write_text("listen = 127.0.0.1:0\nscan_interval_ms = 60000\nselect = server:tornado %s\n" % ONLY_OURS)
        self.daemon = s.spawn("daemon", [harness.STALLSCOPE_BIN, "daemon", "--config", conf])
        Daemon.wait_ready.__func__(self)
        started = time.monotonic()
        app, _ = s.start_app("tornado_app.py")
        line = harness.wait_until(lambda: "tracking PID %d " % app.pid in self.daemon.stderr(), 10, interval=0.02)
        self.assertTrue(line, "not tracked within 10 s (the next scan is a minute away)\n%s" % self.daemon.output_tail())
        self.assertLess(time.monotonic() - started, 10)
        self.daemon.signal(signal.SIGTERM)
        self.assertEqual(self.daemon.wait(20), 0, self.daemon.output_tail())


class DaemonConfigErrors(unittest.TestCase):
    """A bad config file: exit 7 and one line naming the file and line, before loading anything."""

    def setUp(self):
        harness.require_agent_binary()
        self.s = harness.Session("daemon-config")
        self.addCleanup(self.s.close)

    def run_daemon(self, args, name):
        proc = self.s.spawn(name, [harness.STALLSCOPE_BIN, "daemon"] + args)
        rc = proc.wait(15)
        self.assertIsNotNone(rc, "daemon still running with a bad config\n%s" % proc.output_tail())
        return rc, proc

    def test_bad_config_exits_7_with_one_line(self):
        conf = self.s.dir / "bad.conf"
        conf.write_text("collector = 127.0.0.1:1\nselect = server:gunicorn exe:(\n")
        rc, proc = self.run_daemon(["--config", conf], "bad")
        self.assertEqual(rc, 7, proc.output_tail())
        lines = proc.stderr().strip().splitlines()
        self.assertEqual(len(lines), 1, proc.stderr())
        self.assertIn("bad.conf: line 2: select: 'exe:(': bad regex", lines[0])

    def test_missing_config_and_check_config(self):
        rc, proc = self.run_daemon(["--config", self.s.dir / "nope.conf"], "missing")
        self.assertEqual(rc, 7, proc.output_tail())
        self.assertIn("nope.conf: cannot read", proc.stderr())
        rc, proc = self.run_daemon(["--config", harness.ROOT / "deploy" / "stallscope-daemon.conf", "--check-config"],
                                   "check")
        self.assertEqual(rc, 0, proc.output_tail())
        self.assertIn("config ok", proc.stdout())


if __name__ == "__main__":
    harness.main()
