#!/usr/bin/env bash
# stallscope's performance benchmark: overhead on real servers (gunicorn gthread and sync,
# Tornado) under wrk against bare and against libbpf-tools / bpftrace doing the same job, with
# CPU per request (server + wrk + tool, paired per round, 95% interval) as the headline;
# in-kernel cost of the BPF programs (bpf_stats); the agent's CPU and memory; accuracy on
# injected stalls in Tornado, aiohttp and gevent servers (stallscope and bpftrace side by side);
# syscall storms (getppid, epoll_wait(0), pipe write+read, futex wake; CPU ns per call of a
# process the agent does not track and of one it tracks, no agent vs each --syscall-hooks mode
# the agent offers - sched too once `attach --help` lists it - and the peers, in many short
# alternating rounds); and a per-request cost account per server kind (each program's runs x
# cost, the syscall slow path, the tracepoint dispatch, the agent's CPU) against the measured
# CPU-per-request delta. Needs root; 127.0.0.1 only.
#
#   scripts/bench.sh                  # full run (~15 min): prints the tables, rewrites BENCHMARKS.md
#   scripts/bench.sh --quick          # short runs to try it out (~4 min): bench-out/*.quick.* only
#   scripts/bench.sh --only storms    # one part (overhead, accuracy or storms; --quick to
#                                     # shorten: storms ~1 min): bench-out/ only
#   scripts/bench.sh --rounds 9       # more alternating overhead rounds (default 5)
#
# Raw numbers and logs go to bench-out/ (results.json, logs/, runs/). The work is done by
# scripts/bench/bench.py (with Debian's /usr/bin/python3); this wrapper builds the agent
# (into $BUILD_DIR, default build/), installs what is missing, and puts the host back
# (processes, bpf_stats, tracefs) whatever happens to the Python side.
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD
OUT=$ROOT/bench-out
STATS=/proc/sys/kernel/bpf_stats_enabled

if [[ $(id -u) -ne 0 ]]; then
  echo "bench: must run as root (BPF programs, bpf_stats, tracefs)" >&2
  exit 1
fi

source scripts/lib/packages.sh
ensure_packages python3 python3-tornado python3-aiohttp gunicorn wrk procps "${BENCH_PACKAGES[@]}" gcc
# Only the agent is needed here (the rest of the tree may be mid-change).
echo "bench: building the agent (scripts/build.sh --target stallscope)" >&2
build_log=${TMPDIR:-/tmp}/stallscope-bench-build.log
scripts/build.sh --target stallscope >"$build_log" 2>&1 || {
  tail -30 "$build_log" >&2
  echo "bench: scripts/build.sh failed (log: $build_log)" >&2
  exit 1
}

mkdir -p "$OUT"
stats_orig=$(cat "$STATS" 2>/dev/null || echo 0)
bench_pid=

cleanup() {
  local rc=$?
  trap - EXIT INT TERM HUP
  if [[ -n $bench_pid ]] && kill -0 "$bench_pid" 2>/dev/null; then
    kill -TERM "$bench_pid" 2>/dev/null || true
    for _ in $(seq 100); do kill -0 "$bench_pid" 2>/dev/null || break; sleep 0.1; done
    kill -KILL "$bench_pid" 2>/dev/null || true
  fi
  # Process groups bench.py started and could not reap (it removes them as it goes): only
  # groups whose leader is still alive and still leads its group.
  if [[ -f $OUT/live-pgids ]]; then
    while read -r pg; do
      [[ $pg =~ ^[0-9]+$ ]] || continue
      if [[ $(ps -o pgid= -p "$pg" 2>/dev/null | tr -d ' ') == "$pg" ]]; then
        kill -KILL -- "-$pg" 2>/dev/null || true
      fi
    done <"$OUT/live-pgids"
    rm -f "$OUT/live-pgids"
  fi
  [[ -w $STATS ]] && echo "$stats_orig" >"$STATS"
  if [[ -f $OUT/mounted-tracefs ]]; then
    umount "$(cat "$OUT/mounted-tracefs")" 2>/dev/null || true
    rm -f "$OUT/mounted-tracefs"
  fi
  exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT TERM HUP

/usr/bin/python3 scripts/bench/bench.py "$@" &
bench_pid=$!
wait "$bench_pid"
bench_pid=

# The collector's ingest and query benchmark (issue 5), appended to BENCHMARKS.md; not in
# --quick, --only or --render runs, which leave BENCHMARKS.md alone.
if [[ " $* " != *" --quick "* && " $* " != *" --render "* && " $* " != *" --only"* ]]; then
  echo "bench: collector ingest and queries (scripts/bench/collector_bench.sh)" >&2
  scripts/build.sh --target stallscope-collector stallscope-collector-loadgen >>"$build_log" 2>&1
  scripts/bench/collector_bench.sh
  /usr/bin/python3 scripts/bench/collector_section.py
fi
