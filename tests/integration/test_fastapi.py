"""FastAPI on uvicorn, with uvloop and with asyncio: an `async def` endpoint that blocks the loop
(sleep, slow upstream call, CPU burn) is reported once per stall with the culprit frame right
(issue 15), and nothing is reported that the app did not log."""

import unittest

import harness


class FastApiUvloopStalls(unittest.TestCase):
    LOOP = "uvloop"

    @classmethod
    def setUpClass(cls):
        harness.require_bpf()
        cls.s = s = harness.Session("fastapi-" + cls.LOOP)
        cls.addClassCleanup(s.close)
        cls.up_port = s.start_upstream()
        port = harness.free_port()
        cls.app = s.spawn("uvicorn-" + cls.LOOP, [harness.PYTHON, "-m", "uvicorn", "--loop", cls.LOOP, "--port", port,
                                                  "--log-level", "warning", "fastapi_app:app"],
                          env=s.app_env(), cwd=harness.APPS)
        s.wait_port(port, cls.app, "uvicorn")
        s.warm_up(port)
        agent = s.start_agent([cls.app.pid])
        s.warm_up(port)
        s.stall_log.write_text("")
        s.stall(port, "loop/sleep", 300)
        s.stall(port, "loop/upstream", 400)
        s.stall(port, "loop/cpu", 300)
        s.stall(port, "loop/sleep", 130)
        cls.reports = agent.stop()
        cls.trues = s.true_stalls()

    def matches(self, kind):
        trues = [t for t in self.trues if t.kind == kind]
        self.assertTrue(trues, "the app logged no %s stall" % kind)
        for true in trues:
            self.assertEqual(true.tid, self.app.pid, "the endpoint runs on the loop thread")
            yield true, harness.match_stall(true, self.reports, self.s.origin_ns)

    def test_sleep(self):
        for _, report in self.matches("sleep"):
            harness.assert_sleep_stall(report)

    def test_upstream(self):
        for _, report in self.matches("upstream"):
            harness.assert_upstream_stall(report, self.up_port)

    def test_cpu(self):
        for true, report in self.matches("cpu"):
            harness.assert_cpu_stall(true, report, self.s.origin_ns)

    def test_nothing_unexplained(self):
        harness.assert_no_unexplained(self.reports, self.trues, self.s.origin_ns)


class FastApiAsyncioStalls(FastApiUvloopStalls):
    LOOP = "asyncio"


if __name__ == "__main__":
    harness.main()
