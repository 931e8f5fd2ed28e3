"""Prefork pool on a real server: gunicorn sync (3 workers), attached to the master (uWSGI's
prefork pool is in test_pools_uwsgi.py). Same scenario and checks as test_pools_threads.py (pool_checks.py);
here waiting requests sit in the shared listener's accept queue, so maxQueued and the accept
waits must match what the clients measured. The second run is the daemon's default (no
--sockets): with --syscall-hooks sched the accept exits are hooked only once the pool
saturates, and the queue and its waits must still match the clients'."""

import harness
import pool_checks


class GunicornSync(pool_checks.PoolScenario):
    SIZE = 3
    KIND = "PREFORK"

    @classmethod
    def start_server(cls, s):
        port = harness.free_port()
        argv = [harness.PYTHON, harness.GUNICORN, "-k", "sync", "-w", cls.SIZE,
                "-b", "127.0.0.1:%d" % port, "--chdir", harness.APPS, "--timeout", "60",
                "pool_app:app"]
        proc = s.spawn("gunicorn-sync", argv, env=s.app_env(), cwd=harness.APPS)
        s.wait_port(port, proc, "gunicorn")
        harness.wait_until(lambda: len(s.ready_workers(proc)) >= cls.SIZE, harness.START_TIMEOUT_S)
        return proc, port, [proc.pid]


class GunicornSyncAcceptsOnDemand(GunicornSync):
    SOCKETS = False


if __name__ == "__main__":
    harness.main()
