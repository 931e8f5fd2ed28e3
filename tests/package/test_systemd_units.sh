#!/usr/bin/env bash
# The packaged systemd units are sandboxed: `systemd-analyze security --offline=true` (systemd's
# own exposure score, 0 = locked down, 10 = exposed) rates the collector's unit below 2.0 and
# the agent's (a root BPF tracer) no worse than 3.5, and neither unit has a directive systemd
# does not know. Prints both scores. Needs systemd-analyze (Debian's systemd package), not a
# running systemd. docs/security.md, "Deployment hardening".
set -euo pipefail
cd "$(dirname "$0")/../.."
command -v systemd-analyze >/dev/null || { echo "skipped: no systemd-analyze" >&2; exit 77; }

score() {  # UNIT MAX: prints the exposure, fails above MAX or on a directive systemd rejects
  local unit=$1 max=$2 out err exposure
  err=$(mktemp)
  out=$(systemd-analyze security --offline=true --no-pager "$unit" 2>"$err") || true
  if grep -Ei 'unknown|failed to parse|invalid' "$err" >&2; then
    echo "FAIL: $unit: systemd does not accept every directive (above)" >&2
    rm -f "$err"
    exit 1
  fi
  rm -f "$err"
  exposure=$(sed -n 's/.*Overall exposure level for [^:]*: \([0-9.]*\).*/\1/p' <<<"$out")
  [[ -n "$exposure" ]] || { echo "FAIL: $unit: no exposure level in systemd-analyze's output" >&2; echo "$out" >&2; exit 1; }
  echo "$(basename "$unit"): exposure $exposure (at most $max)"
  awk -v e="$exposure" -v m="$max" 'BEGIN { exit !(e <= m) }' ||
    { echo "FAIL: $unit: exposure $exposure above $max; what it lacks:" >&2; grep '✗' <<<"$out" >&2; exit 1; }
}

score packaging/stallscope-collector.service 1.9
score packaging/stallscope-agent.service 3.5

# Each service must still run in its sandbox. This machine's PID 1 may not be systemd, so
# `systemctl start` is not at hand: the units' system call filter, UMask and LimitNOFILE are
# applied by unit_sandbox.py (libseccomp), the user and capability bounding set by setpriv, and
# ProtectProc=invisible/ProcSubset=pid by a private /proc (unshare). Not emulated: the mount
# sandbox (ProtectSystem, PrivateTmp, ...). Needs root and the built binaries.
BUILD_DIR=${BUILD_DIR:-build}
if [[ $EUID -ne 0 || ! -x "$BUILD_DIR/bin/stallscope-collector" || ! -x "$BUILD_DIR/bin/stallscope" ]] ||
   ! /usr/bin/python3 -c 'import seccomp' 2>/dev/null; then
  echo "not started in their sandboxes: needs root, $BUILD_DIR/bin/{stallscope,stallscope-collector} and python3-seccomp" >&2
  exit 0
fi
work=$(mktemp -d)
chmod 0755 "$work"  # the sandboxed collector (nobody) reaches its state directory below
pids=()
# SIGKILL to each unshare's child first: unshare --fork does not pass SIGTERM on, and the child
# keeps no parent-death signal once setpriv changed its user. The collector is its PID
# namespace's first process: when it dies, the kernel ends the namespace.
cleanup() {
  for p in "${pids[@]}"; do pkill -KILL -P "$p" 2>/dev/null || true; kill -KILL "$p" 2>/dev/null || true; done
  rm -rf "$work"
}
trap cleanup EXIT

# "PATTERN" "FILE" TIMEOUT_S: waits until FILE has a line matching PATTERN.
wait_for() {
  for _ in $(seq $(($3 * 10))); do grep -Eq "$1" "$2" && return 0; sleep 0.1; done
  return 1
}

# The collector: DynamicUser (a uid of its own: nobody here), no capabilities at all, its own
# processes only in /proc; it must start, store to its state directory and answer /healthz.
mkdir -m 0700 "$work/state" && chown 65534:65534 "$work/state"
unshare --mount --pid --fork --kill-child --propagation private sh -c '
  mount -t proc -o hidepid=invisible,subset=pid proc /proc &&
  exec setpriv --reuid=65534 --regid=65534 --clear-groups --inh-caps=-all --bounding-set=-all --no-new-privs \
    /usr/bin/python3 "$@"' sh tests/package/unit_sandbox.py packaging/stallscope-collector.service \
  "$BUILD_DIR/bin/stallscope-collector" --grpc-listen 127.0.0.1:0 --http-listen 127.0.0.1:0 \
  --db "$work/state/fleet.db" >/dev/null 2>"$work/collector.err" &
pids+=($!)
if ! wait_for 'API -> https? port [0-9]+' "$work/collector.err" 20; then
  echo "FAIL: the collector did not start in its unit's sandbox:" >&2; cat "$work/collector.err" >&2; exit 1
fi
http=$(grep -Eo 'API -> https? port [0-9]+' "$work/collector.err" | head -n1 | grep -Eo '[0-9]+$')
health=$(curl -s --max-time 5 "http://127.0.0.1:$http/healthz" || true)
[[ "$health" == ok* ]] || { echo "FAIL: the sandboxed collector's /healthz said '$health'" >&2; cat "$work/collector.err" >&2; exit 1; }
[[ -s "$work/state/fleet.db" ]] || { echo "FAIL: the sandboxed collector wrote no store" >&2; exit 1; }
echo "stallscope-collector.service: the collector runs in the unit's sandbox (/healthz ok, store written)"

# The agent: root with only the unit's capabilities and calls; it must load its BPF probes and
# finish a discovery scan of every process (the "daemon ready" line).
printf 'select = cmdline:^no-such-process-here$\nscan_interval_ms = 500\n' >"$work/agent.conf"
unshare --mount --propagation private \
  setpriv --inh-caps=-all --no-new-privs \
    --bounding-set=-all,+bpf,+perfmon,+sys_ptrace,+sys_admin,+dac_read_search,+sys_resource \
  /usr/bin/python3 tests/package/unit_sandbox.py packaging/stallscope-agent.service \
  "$BUILD_DIR/bin/stallscope" daemon --config "$work/agent.conf" --listen 127.0.0.1:0 >/dev/null 2>"$work/agent.err" &
agent=$!
pids+=($agent)
if ! wait_for 'daemon ready' "$work/agent.err" 30; then
  # Not the sandbox's fault if the agent cannot run here at all: try it without one.
  "$BUILD_DIR/bin/stallscope" daemon --config "$work/agent.conf" --listen 127.0.0.1:0 >/dev/null 2>"$work/bare.err" &
  pids+=($!)
  if ! wait_for 'daemon ready' "$work/bare.err" 30; then
    echo "agent not started: it cannot run on this machine even without a sandbox:" >&2
    tail -n 3 "$work/bare.err" >&2
    exit 0
  fi
  echo "FAIL: the agent did not get ready in its unit's sandbox (it does without):" >&2
  cat "$work/agent.err" >&2
  exit 1
fi
echo "stallscope-agent.service: the agent loads its probes and scans in the unit's sandbox"
