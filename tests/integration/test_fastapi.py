"""FastAPI on uvicorn, with uvloop and with asyncio: an `async def` endpoint that blocks the loop
(sleep, slow upstream call, CPU burn) is reported once per stall with the culprit frame right
(issue 15), and nothing is reported that the app did not log."""

import unittest

import harness


class FastApiUvloopStalls(harness.LoopStallCases, unittest.TestCase):
    LOOP = "uvloop"
    LOOP_THREAD = "the endpoint runs on the loop thread"

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
        cls.observe_stalls(port, (("loop/sleep", 300), ("loop/upstream", 400), ("loop/cpu", 300),
                                  ("loop/sleep", 130)))


class FastApiAsyncioStalls(FastApiUvloopStalls):
    LOOP = "asyncio"


if __name__ == "__main__":
    harness.main()
