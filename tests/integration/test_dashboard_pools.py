"""The dashboard's pool charts as an operator sees them, at laptop (1280 px) and phone (390 px)
width, in real headless Chromium: a gunicorn sync pool of 2 workers overloaded by 4 clients,
attached with --collector; the pool chart is drawn, nothing is wider than the window (no
clipping, no sideways scrolling), the chart's legend stays readable (>= 11 px), and no console
error. Screenshots are kept in <build>/screenshots/ (printed) for a person to look at."""

import os
import unittest
from pathlib import Path

import sys

import harness
import pool_checks

sys.path.insert(0, str(harness.ROOT / "collector" / "tools"))
import collector_harness as ch  # noqa: E402

FACTS = """({
  charts: document.querySelectorAll('#pools svg').length,
  legend: [...document.querySelectorAll('#pools .legend')].map(e => e.textContent),
  legendPx: Math.min(...[...document.querySelectorAll('#pools .legend span')].map(
      e => parseFloat(getComputedStyle(e).fontSize))),
  pageWidth: document.documentElement.scrollWidth,
  window: document.documentElement.clientWidth,
  overflowing: [...document.querySelectorAll('section, #pools svg, #pools table')]
      .filter(e => e.getBoundingClientRect().right > document.documentElement.clientWidth + 0.5)
      .map(e => e.id || e.tagName + '.' + e.className.baseVal + e.className),
  poolsText: document.getElementById('pools').textContent.slice(0, 300)
})"""


class DashboardPools(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        harness.require_bpf()
        harness.require_agent_binary()
        if not os.path.exists(ch.CHROMIUM):
            raise unittest.SkipTest("chromium not installed (Debian package chromium)")
        cls.s = s = harness.Session("dashboard-pools")
        cls.addClassCleanup(s.close)
        cls.collector = c = ch.Collector(s.dir)
        cls.addClassCleanup(c.kill9)
        c.start()
        master, port = s.start_gunicorn("pool_app", "sync", workers=2)
        agent = harness.Agent(s, [master.pid], extra=["--collector", c.target(), "--service", "checkout",
                                                      "--utilization-interval", "1"])
        agent.wait_attached()
        pool_checks.run_clients(port, 4, 4)
        agent.stop()

    def check_width(self, width):
        shots = Path(harness.STALLSCOPE_BIN).resolve().parent.parent / "screenshots"
        shots.mkdir(exist_ok=True)
        shot = shots / ("dashboard-pools-%d.png" % width)
        result = ch.check_page("http://127.0.0.1:%d/" % self.collector.http_port, shot, FACTS, width=width,
                               height=900)
        print("\nscreenshot at %d px: %s" % (width, result.screenshot))
        self.assertEqual(result.problems(), [], "console errors / failed requests")
        f = result.facts
        self.assertGreaterEqual(f["charts"], 1, f)
        self.assertTrue(any("busy (mean)" in l and "members" in l for l in f["legend"]), f)
        self.assertGreaterEqual(f["legendPx"], 11, f)
        self.assertLessEqual(f["pageWidth"], f["window"], "the page scrolls sideways: %s" % f)
        self.assertEqual(f["overflowing"], [], f)

    def test_laptop_width(self):
        self.check_width(1280)

    def test_phone_width(self):
        self.check_width(390)


if __name__ == "__main__":
    harness.main()
