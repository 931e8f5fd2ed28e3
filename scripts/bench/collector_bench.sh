#!/usr/bin/env bash
# Collector benchmark: N simulated agents stream into a fresh SQLite store (ingest rate,
# peak RSS), the store is filled to 1M reports, then the query API's latency (p50/p99) is
# measured. Results: bench-out/collector.json. Args pass to collector_bench.py, e.g.
#   scripts/bench/collector_bench.sh --agents 16 --total 300000 --queries 50
set -euo pipefail
cd "$(dirname "$0")/../.."
BUILD_DIR=${BUILD_DIR:-build}
if [[ ! -x "$BUILD_DIR/bin/stallscope-collector" || ! -x "$BUILD_DIR/bin/stallscope-collector-loadgen" ]]; then
  BUILD_DIR="$BUILD_DIR" scripts/build.sh --target stallscope-collector stallscope-collector-loadgen
fi
BIN=$(cd "$BUILD_DIR/bin" && pwd)
export STALLSCOPE_COLLECTOR_BIN="$BIN/stallscope-collector"
export STALLSCOPE_LOADGEN_BIN="$BIN/stallscope-collector-loadgen"
exec /usr/bin/python3 scripts/bench/collector_bench.py "$@"
