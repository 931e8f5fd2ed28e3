#!/usr/bin/env python3
"""Appends the collector benchmark (bench-out/collector.json) to BENCHMARKS.md as its own
section, so one `scripts/bench.sh` run rewrites every figure."""
import json
import sys
from pathlib import Path

root = Path(__file__).resolve().parents[2]
data = json.loads((root / "bench-out" / "collector.json").read_text())
ingest = data["ingest"]
ok = lambda cond: "PASS" if cond else "FAIL"
lines = [
    "",
    "## 5. Collector (scripts/bench/collector_bench.sh)",
    "",
    "%d simulated agents stream over gRPC into a fresh SQLite store (WAL, synchronous=FULL); the "
    "store is then filled to %d reports and the HTTP query API is timed." % (ingest["agents"], data["stored_reports"]),
    "",
    "| figure | measured | target | result |",
    "|---|--:|--:|--:|",
    "| ingest into SQLite, reports/s | %d | >= 20000 | %s |" % (ingest["reports_per_second"], ok(ingest["reports_per_second"] >= 20000)),
    "| worst query p99 over %d stored reports, ms | %.1f | < 200 | %s |" % (data["stored_reports"], data["worst_p99_ms"], ok(data["worst_p99_ms"] < 200)),
    "| collector peak RSS, MB | %.1f | bounded | |" % data["collector_peak_rss_mb"],
    "",
    "| query | p50 ms | p99 ms | rows |",
    "|---|--:|--:|--:|",
]
for q in data["queries"]:
    lines.append("| %s | %.1f | %.1f | %d |" % (q["query"], q["p50_ms"], q["p99_ms"], q["rows"]))
with open(root / "BENCHMARKS.md", "a") as out:
    out.write("\n".join(lines) + "\n")
print("\n".join(lines[4:9]))
