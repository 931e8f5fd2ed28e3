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
