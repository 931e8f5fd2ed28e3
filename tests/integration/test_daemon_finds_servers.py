"""`stallscope daemon` with its default selector (`server:any`, here narrowed to this tree's test
apps because other engineers' servers share the host) finds every Python process that serves,
each on its own: uvicorn (FastAPI on uvloop, Django ASGI), a plain asyncio server, Twisted
(twistd and `python -m twisted`), gunicorn gthread (Django), Jupyter Server. A Python process
that serves nothing is left alone, and --verbose and /metrics say so and why (issue 15)."""

import re
import sys
import time
import unittest

import harness

sys.path.insert(0, str(harness.ROOT / "collector" / "tools"))
import collector_harness as ch  # noqa: E402

FIND_TIMEOUT_S = 15
ONLY_OURS = "cmdline:" + re.escape(str(harness.APPS))


class DaemonFindsServers(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        harness.require_bpf()
        harness.require_agent_binary()
        cls.s = s = harness.Session("daemonfind")
        cls.addClassCleanup(s.close)
        config = s.dir / "stallscope.conf"
        config.write_text("listen = 127.0.0.1:0\nscan_interval_ms = 500\nstats_interval_s = 2\n"
                          "select = server:any %s\n" % ONLY_OURS)
        cls.output = s.dir / "daemon.jsonl"
        cls.daemon = s.spawn("daemon", [harness.STALLSCOPE_BIN, "daemon", "--config", config,
                                        "--output", cls.output, "--verbose"])
        cls.ops_port = cls.wait_ready()

        apps = str(harness.APPS)
        cls.servers = {}  # name -> (proc, expected server)
        cls.sleeper = s.spawn("sleeper", [harness.PYTHON, "-c", "import sys, time; time.sleep(120)", apps])

        def start(name, server, argv, port):
            proc = s.spawn(name, argv, env=s.app_env(POOL_THREADS="4"), cwd=harness.APPS)
            cls.servers[name] = (proc, server, port)

        p = harness.free_port()
        start("fastapi-uvloop", "uvicorn", [harness.PYTHON, "-m", "uvicorn", "--loop", "uvloop", "--app-dir", apps,
                                            "--port", p, "--log-level", "warning", "fastapi_app:app"], p)
        p = harness.free_port()
        start("django-asgi", "uvicorn", [harness.PYTHON, "-m", "uvicorn", "--app-dir", apps, "--port", p,
                                         "--log-level", "warning", "django_app:asgi_app"], p)
        p = harness.free_port()
        start("asyncio", "python", [harness.PYTHON, harness.APPS / "asyncio_app.py", p], p)
        p = harness.free_port()
        start("twistd", "twisted", [harness.PYTHON, "/usr/bin/twistd3", "-n", "--pidfile=", "web", "--listen",
                                    "tcp:%d:interface=127.0.0.1" % p, "--path", apps], p)
        p = harness.free_port()
        start("twisted-m", "twisted", [harness.PYTHON, "-m", "twisted", "web", "--listen",
                                       "tcp:%d:interface=127.0.0.1" % p, "--path", apps], p)
        p = harness.free_port()
        start("django-gthread", "gunicorn", [harness.PYTHON, harness.GUNICORN, "-k", "gthread", "--threads", 4,
                                             "-w", 1, "-b", "127.0.0.1:%d" % p, "--chdir", apps,
                                             "django_app:app"], p)
        p = harness.free_port()
        start("jupyter", "jupyter", [harness.PYTHON, "-m", "jupyter_server", "--no-browser", "--allow-root",
                                     "--ServerApp.ip=127.0.0.1", "--ServerApp.port=%d" % p,
                                     "--ServerApp.port_retries=0", "--ServerApp.token=",
                                     "--ServerApp.root_dir=%s" % apps], p)
        for name, (proc, _, port) in cls.servers.items():
            s.wait_port(port, proc, name, timeout=60)
        cls.attached = {name: cls.wait_event(proc.pid, "ATTACHED", FIND_TIMEOUT_S)
                        for name, (proc, _, _) in cls.servers.items()}
        cls.skip_line = harness.wait_until(
            lambda: [l for l in cls.daemon.stderr().splitlines()
                     if "not tracking PID %d" % cls.sleeper.pid in l], 10)
        cls.metrics = ch.get(cls.ops_port, "/metrics")[1]
        cls.sleeper_events = [e for e in cls.events() if e["processEvent"].get("pid") == cls.sleeper.pid]

    @classmethod
    def wait_ready(cls):
        return harness.wait_daemon_ready(cls.daemon)

    @classmethod
    def events(cls):
        return harness.process_events(cls.output)

    @classmethod
    def wait_event(cls, pid, kind, timeout):
        return harness.wait_process_event(cls.events, pid, kind, timeout)

    def test_each_server_found_on_its_own(self):
        for name, (proc, server, _) in self.servers.items():
            event = self.attached[name]
            self.assertIsNotNone(event, "%s (PID %d) not tracked within %d s\n%s" %
                                 (name, proc.pid, FIND_TIMEOUT_S, self.daemon.output_tail()))
            self.assertEqual(event.get("process", {}).get("server"), server, event)

    def test_a_python_process_serving_nothing_is_left_alone_and_said_why(self):
        self.assertEqual(self.sleeper_events, [])
        self.assertTrue(self.skip_line, self.daemon.output_tail())
        self.assertIn("without a listening TCP or unix socket", self.skip_line[0])
        m = re.search(r"^stallscope_agent_python_not_serving_total (\d+)", self.metrics, re.M)
        self.assertTrue(m, self.metrics)
        self.assertGreaterEqual(int(m.group(1)), 1)


if __name__ == "__main__":
    harness.main()
