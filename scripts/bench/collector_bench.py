"""Collector ingest and query benchmark (run by collector_bench.sh).

1. Ingest: N simulated agents (stallscope-collector-loadgen, one gRPC stream each) stream
   synthetic stall reports into a fresh SQLite store; rate = reports acknowledged (committed)
   per second, and the collector's peak RSS.
2. Fill the store to --total reports (default 1M; each agent's stalls spread over 6 hours).
3. Queries: each API query --queries times, sequentially; p50 / p99 / max latency.
"""

import argparse
import json
import os
import statistics
import sys
import tempfile
import time
import urllib.parse
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "collector" / "tools"))
import collector_harness as ch  # noqa: E402


def run_load(c, agents, per_agent, batch):
    rc, out, err = ch.loadgen(c.target(), "--agents", agents, "--reports", per_agent, "--batch", batch, timeout=3600)
    if rc != 0:
        sys.exit("loadgen failed: %s %s" % (out, err))
    return json.loads(out)


def percentile(values, p):
    values = sorted(values)
    return values[min(len(values) - 1, int(round(p / 100.0 * (len(values) - 1))))]


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--agents", type=int, default=8)
    ap.add_argument("--ingest-reports", type=int, default=200_000, help="reports in the measured ingest run")
    ap.add_argument("--total", type=int, default=1_000_000, help="reports stored before the query runs")
    ap.add_argument("--batch", type=int, default=500)
    ap.add_argument("--queries", type=int, default=200)
    ap.add_argument("--out", default=str(ROOT / "bench-out" / "collector.json"))
    args = ap.parse_args()

    work = Path(tempfile.mkdtemp(prefix="stallscope-collector-bench-"))
    c = ch.Collector(work)
    c.start()
    try:
        print("ingest: %d agents x %d reports into SQLite (%s)" % (args.agents, args.ingest_reports // args.agents, c.db))
        ingest = run_load(c, args.agents, args.ingest_reports // args.agents, args.batch)
        ingest["collector_peak_rss_mb"] = round(c.rss_kb() / 1024, 1)
        print("  %d reports in %.2f s: %.0f reports/s acknowledged; collector peak RSS %.0f MB" %
              (ingest["reports"], ingest["seconds"], ingest["reports_per_second"], ingest["collector_peak_rss_mb"]))
        stored = ingest["reports"]
        fill_runs = []
        while stored < args.total:
            per_agent = min(100_000, (args.total - stored + args.agents - 1) // args.agents)
            r = run_load(c, args.agents, per_agent, args.batch)
            fill_runs.append(r)
            stored += r["reports"]
            print("  filled to %d reports (%.0f reports/s)" % (stored, r["reports_per_second"]))
        fill_rate = (sum(r["reports"] for r in fill_runs) / sum(r["seconds"] for r in fill_runs)) if fill_runs else 0
        peak_rss = round(c.rss_kb() / 1024, 1)
        db_mb = round(sum(f.stat().st_size for f in work.glob("collector.db*")) / 2**20, 1)
        print("  %d reports stored; fill rate %.0f reports/s; collector peak RSS %.0f MB; database %.0f MB" %
              (stored, fill_rate, peak_rss, db_mb))

        host, service = "host-3", "service-1"
        procs = ch.get_json(c.http_port, "/api/v1/summary/processes?limit=1")["processes"]
        pid = procs[0]["pid"] if procs else 1000
        queries = [
            ("reports kind (newest 100)", "/api/v1/reports?kind=loop_block&limit=100"),
            ("reports kind+host", "/api/v1/reports?kind=loop_block&host=%s&limit=100" % host),
            ("reports kind+service+since 1h", "/api/v1/reports?kind=loop_block&service=%s&since=1h&limit=100" % service),
            ("reports host+pid (drill-down)", "/api/v1/reports?kind=loop_block&host=%s&pid=%d&limit=100" % (host, pid)),
            ("reports time window 10 min", "/api/v1/reports?kind=loop_block&since=3h&until=%d&limit=100" %
             int(time.time() - 3 * 3600 + 600)),
            ("reports any kind (newest 100)", "/api/v1/reports?limit=100"),
            ("reports 1000 rows", "/api/v1/reports?kind=loop_block&limit=1000"),
            ("summary sites (7 d)", "/api/v1/summary/sites?limit=15"),
            ("summary services", "/api/v1/summary/services"),
            ("summary processes", "/api/v1/summary/processes?limit=30"),
            ("summary timeline 6h/60s", "/api/v1/summary/timeline?since=6h&step=60s"),
            ("summary pools", "/api/v1/summary/pools"),
            ("flame graph (5000 newest stalls)", "/api/v1/flamegraph?since=1h"),
        ]
        results = []
        print("\nqueries over %d stored reports (%d runs each, sequential):" % (stored, args.queries))
        print("  %-34s %9s %9s %9s %8s" % ("query", "p50 ms", "p99 ms", "max ms", "rows"))
        for name, path in queries:
            times = []
            rows = 0
            for i in range(args.queries):
                t = time.perf_counter()
                status, text = ch.get(c.http_port, path, timeout=60)
                times.append((time.perf_counter() - t) * 1000)
                if status != 200:
                    sys.exit("%s: HTTP %d %s" % (path, status, text[:200]))
                if i == 0:
                    body = json.loads(text)
                    lists = [v for v in body.values() if isinstance(v, list)]
                    rows = len(lists[0]) if lists else body.get("stalls", 0)
            r = {"query": name, "path": path, "p50_ms": round(statistics.median(times), 1),
                 "p99_ms": round(percentile(times, 99), 1), "max_ms": round(max(times), 1), "rows": rows}
            results.append(r)
            print("  %-34s %9.1f %9.1f %9.1f %8d" % (name, r["p50_ms"], r["p99_ms"], r["max_ms"], rows))
        summary = {
            "machine": {"cpus": os.cpu_count(), "loadavg_at_end": os.getloadavg()},
            "ingest": ingest, "fill_reports_per_second": round(fill_rate), "stored_reports": stored,
            "collector_peak_rss_mb": peak_rss, "database_mb": db_mb, "queries": results,
            "worst_p99_ms": max(r["p99_ms"] for r in results),
        }
        Path(args.out).parent.mkdir(parents=True, exist_ok=True)
        Path(args.out).write_text(json.dumps(summary, indent=1))
        print("\ningest %.0f reports/s (target >= 20000); worst query p99 %.1f ms (target < 200); results: %s" %
              (ingest["reports_per_second"], summary["worst_p99_ms"], args.out))
    finally:
        c.stop()
        if os.environ.get("STALLSCOPE_KEEP_TMP") != "1":
            import shutil
            shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
