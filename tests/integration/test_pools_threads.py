"""Thread pools on real servers: CherryPy (server.thread_pool 4) and gunicorn gthread (1 worker,
--threads 4); uWSGI's are in test_pools_uwsgi.py. The agent is attached to the server (the master)
after a warm-up; a partial load never fills the pool, then an overload of twice the pool size
does. Checks: pool kind and size, saturation intervals against the true all-busy time from the
app's handler log (coverage and precision >= 80%), none while the pool was not full, queue and
accept waits against the clients' timings, one SocketLifetime per client connection with its
duration, the utilization math (pool_checks.py)."""

import os

import harness
import pool_checks


class CherryPyThreadPool(pool_checks.PoolScenario):
    SIZE = 4
    KIND = "THREAD_POOL"
    QUEUES_IN_ACCEPT_QUEUE = False  # cheroot accepts at once and queues internally

    @classmethod
    def start_server(cls, s):
        port = harness.free_port()
        proc = s.spawn("cherrypy", [harness.PYTHON, harness.APPS / "pool_app.py", port, cls.SIZE],
                       env=s.app_env(), cwd=harness.APPS)
        s.wait_port(port, proc, "cherrypy")
        return proc, port, [proc.pid]


class GunicornGthread(pool_checks.PoolScenario):
    SIZE = 4
    KIND = "THREAD_POOL"
    QUEUES_IN_ACCEPT_QUEUE = False  # the worker's loop accepts and queues in its executor

    @classmethod
    def start_server(cls, s):
        port = harness.free_port()
        argv = [harness.PYTHON, harness.GUNICORN, "-k", "gthread", "--threads", cls.SIZE, "-w", 1,
                "-b", "127.0.0.1:%d" % port, "--chdir", harness.APPS, "--timeout", "60",
                "pool_app:app"]
        proc = s.spawn("gthread", argv, env=s.app_env(), cwd=harness.APPS)
        s.wait_port(port, proc, "gunicorn gthread")
        cls.master = proc
        return proc, port, [proc.pid]

    @classmethod
    def all_workers_exist(cls):
        # The executor starts a thread per job submitted while none is idle: under a 2-core
        # machine's load the warm-up's jobs may not overlap enough the first time.
        workers = harness.children(cls.master.pid)
        return len(workers) == 1 and len(os.listdir("/proc/%d/task" % workers[0])) == cls.SIZE + 1


if __name__ == "__main__":
    harness.main()
