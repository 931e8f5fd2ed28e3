"""Stalls just over the threshold carry Python frames (issue 15): the agent reads a loop's Python
stack once a busy period has lasted a quarter of the threshold (no report for it), so a stall
that ends before the first 100 ms scan past the threshold still gets the frames of its blocking
call. asyncio app, threshold 100 ms, 16 sleeps of 110-185 ms: each final report names the
handler's frame (stallkit.run_stall) as the blocking call's caller."""

import sys
import unittest

import harness


class ShortStallsCarryPythonFrames(unittest.TestCase):
    LENGTHS_MS = [110 + 5 * i for i in range(16)]

    @classmethod
    def setUpClass(cls):
        harness.require_bpf()
        cls.s = s = harness.Session("shortstalls")
        cls.addClassCleanup(s.close)
        s.start_upstream()
        cls.app, cls.port = s.start_app("asyncio_app.py")
        s.warm_up(cls.port)
        agent = s.start_agent([cls.app.pid])
        s.warm_up(cls.port)
        s.stall_log.write_text("")
        for ms in cls.LENGTHS_MS:
            s.stall(cls.port, "sleep", ms, gap=0.15)
        cls.reports = agent.stop()
        cls.trues = s.true_stalls("sleep")

    def test_every_stall_has_its_python_frames(self):
        self.assertEqual(len(self.trues), len(self.LENGTHS_MS))
        with_frames, missing = 0, []
        for true in self.trues:
            block = harness.match_stall(true, self.reports, self.s.origin_ns)
            names = [f.get("function", "") for f in block.python_frames()]
            if block.python_stack_status == "PYTHON_STACK_CAPTURED" and "run_stall" in names:
                with_frames += 1
            else:
                missing.append("%d ms: %s %s" % ((true.end_ns - true.start_ns) // 1_000_000,
                                                  block.python_stack_status, names[:3]))
        sys.stderr.write("%s: %d of %d stalls of 110-185 ms with the handler's Python frames\n" %
                         (self.__class__.__name__, with_frames, len(self.trues)))
        self.assertGreaterEqual(with_frames, 0.9 * len(self.trues), "\n".join(missing))


if __name__ == "__main__":
    harness.main()
