"""Twisted (twisted.web on the default epoll reactor): a sleep, a slow upstream call and a CPU
burn run on the reactor thread are each reported once, with the culprit frame right (issue 15):
the blocking call's Python caller in stallkit, and nothing reported that the app did not log."""

import unittest

import harness


class TwistedStalls(harness.LoopStallCases, unittest.TestCase):
    LOOP_THREAD = "Twisted stalls on its reactor thread"

    @classmethod
    def setUpClass(cls):
        harness.require_bpf()
        cls.s = s = harness.Session("twisted")
        cls.addClassCleanup(s.close)
        cls.up_port = s.start_upstream()
        cls.app, port = s.start_app("twisted_app.py")
        cls.observe_stalls(port, (("sleep", 300), ("upstream", 400), ("cpu", 300), ("sleep", 130)))


if __name__ == "__main__":
    harness.main()
