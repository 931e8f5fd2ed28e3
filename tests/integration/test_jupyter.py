"""Jupyter Server (tornado on asyncio): stalls in a server extension's handler (sleep, slow
upstream, CPU burn, and a hang long enough to be reported in progress) are reported with the
culprit frame right, and every final report keeps the Python frames its in-progress reports had
(issue 15: 10 of 27 lost them)."""

import unittest

import harness


class JupyterStalls(harness.LoopStallCases, unittest.TestCase):
    LOOP_THREAD = "Jupyter stalls on its loop thread"
    SLEEP_KINDS = ("sleep", "hang")  # the hang is a long sleep

    @classmethod
    def setUpClass(cls):
        harness.require_bpf()
        cls.s = s = harness.Session("jupyter")
        cls.addClassCleanup(s.close)
        cls.up_port = s.start_upstream()
        port = harness.free_port()
        cls.app = s.spawn("jupyter", [harness.PYTHON, "-m", "jupyter_server", "--no-browser", "--allow-root",
                                      "--ServerApp.ip=127.0.0.1", "--ServerApp.port=%d" % port,
                                      "--ServerApp.port_retries=0", "--ServerApp.token=",
                                      "--ServerApp.root_dir=%s" % harness.APPS,
                                      "--ServerApp.jpserver_extensions", "jupyter_stall_ext=True"],
                          env=s.app_env(JUPYTER_CONFIG_DIR=str(s.dir / "jupyter-config"),
                                        JUPYTER_DATA_DIR=str(s.dir / "jupyter-data"),
                                        JUPYTER_RUNTIME_DIR=str(s.dir / "jupyter-runtime")),
                          cwd=harness.APPS)
        s.wait_port(port, cls.app, "jupyter", timeout=60)
        cls.observe_stalls(port, [("stall/" + kind, ms) for kind, ms in (
            ("sleep", 300), ("upstream", 400), ("cpu", 300), ("sleep", 140), ("hang", 900), ("upstream", 250))])

    @classmethod
    def warm_up(cls, port):
        # As Session.warm_up, on the extension's /stall/fast: an idle keep-alive connection so the
        # loop is seen multiplexing a client.
        conn = harness.KeepAliveConnection(port)
        cls.s._keepalives.append(conn)
        for _ in range(3):
            status, _ = conn.get("/stall/fast")
            assert status == 200, status

    def test_finals_keep_the_frames_in_progress_reports_had(self):
        in_progress = [b for b in self.reports.in_progress()
                       if b.pid == self.app.pid and b.python_frames()]
        self.assertTrue(in_progress, "no in-progress report with Python frames (the hang)")
        finals = {(b.tid, b.seq): b for b in self.reports.finals() if b.pid == self.app.pid}
        for b in in_progress:
            final = finals.get((b.tid, b.seq))
            self.assertIsNotNone(final, "no final report for in-progress seq %d" % b.seq)
            self.assertTrue(final.python_frames(), "final report of seq %d lost its Python frames: %s" %
                            (b.seq, final.python_stack_status))


if __name__ == "__main__":
    harness.main()
