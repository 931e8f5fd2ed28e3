#!/usr/bin/env bash
# The main job in one command: builds stallscope (installing what it needs), then
#   scripts/stallscope.sh                      runs the demo: a bundled Tornado app that stalls,
#                                              attached and reported
#   scripts/stallscope.sh attach --pid PID     attaches to your process (any stallscope args)
# Builds only the two binaries (stallscope, stallscope-collector); scripts/test.sh builds the
# tests. Progress goes to stderr, one short line per step.
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/lib/packages.sh
scripts/build.sh --target stallscope stallscope-collector
if (($# == 0)); then
  echo "stallscope: checking demo packages (python3, python3-tornado)" >&2
  ensure_packages python3 python3-tornado
  exec "${BUILD_DIR:-build}/bin/stallscope" demo
fi
exec "${BUILD_DIR:-build}/bin/stallscope" "$@"
