"""uWSGI pools on real servers: --threads 4 in one process (a thread pool whose threads take
turns at the accept mutex) and --master --processes 3 (a prefork pool), attached to the master.
Scenario and checks in pool_checks.py (see test_pools_threads.py)."""

import harness
import pool_checks

UWSGI = "/usr/bin/uwsgi"


class UwsgiThreads(pool_checks.PoolScenario):
    SIZE = 4
    KIND = "THREAD_POOL"
    QUEUES_IN_ACCEPT_QUEUE = True  # a thread accepts only when it is free

    @classmethod
    def start_server(cls, s):
        port = harness.free_port()
        argv = [UWSGI, "--plugin", "python3", "--http-socket", "127.0.0.1:%d" % port, "--master",
                "--processes", 1, "--threads", cls.SIZE, "--pythonpath", harness.APPS,
                "--wsgi-file", harness.APPS / "pool_app.py", "--callable", "app", "--die-on-term",
                "--disable-logging"]
        proc = s.spawn("uwsgi-threads", argv, env=s.app_env(), cwd=harness.APPS)
        s.wait_port(port, proc, "uwsgi")
        return proc, port, [proc.pid]


class UwsgiProcesses(pool_checks.PoolScenario):
    SIZE = 3
    KIND = "PREFORK"

    @classmethod
    def start_server(cls, s):
        port = harness.free_port()
        argv = [UWSGI, "--plugin", "python3", "--http-socket", "127.0.0.1:%d" % port, "--master",
                "--processes", cls.SIZE, "--pythonpath", harness.APPS,
                "--wsgi-file", harness.APPS / "pool_app.py", "--callable", "app", "--die-on-term",
                "--disable-logging"]
        proc = s.spawn("uwsgi-processes", argv, env=s.app_env(), cwd=harness.APPS)
        s.wait_port(port, proc, "uwsgi")
        harness.wait_until(lambda: len(s.ready_workers(proc)) >= cls.SIZE, harness.START_TIMEOUT_S)
        return proc, port, [proc.pid]


if __name__ == "__main__":
    harness.main()
