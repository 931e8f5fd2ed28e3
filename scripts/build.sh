#!/usr/bin/env bash
# Installs what the build needs (Debian 12 packages, only when missing), then configures and
# builds with CMake into build/. Idempotent and quick when nothing changed. Extra args go to
# `cmake --build`, e.g. `scripts/build.sh --target stallscope stallscope-collector` builds only
# the two binaries (build/bin/stallscope, build/bin/stallscope-collector); no args builds
# everything, unit tests included.
#
# Prints one short line per step ("building 40%"); the compiler's output goes to
# $BUILD_DIR/build.log and its end is shown if the build fails. VERBOSE=1 shows everything.
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/lib/packages.sh

say() { echo "stallscope: $*" >&2; }

say "checking build packages"
ensure_packages "${BUILD_PACKAGES[@]}"

BUILD_DIR=${BUILD_DIR:-build}
BUILD_TYPE=${BUILD_TYPE:-RelWithDebInfo}
mkdir -p "$BUILD_DIR"
LOG="$BUILD_DIR/build.log"
: >"$LOG"

# Shows the end of the log and fails; used when a step that runs quietly fails.
fail() {
  say "$1 failed; last lines of $LOG:"
  tail -n 40 "$LOG" >&2
  exit 1
}

if [[ ! -f "$BUILD_DIR/CMakeCache.txt" ]]; then
  say "configuring $BUILD_DIR ($BUILD_TYPE)"
  generator=()
  # Ninja schedules a cold build better than make and reports [done/total].
  command -v ninja >/dev/null && generator=(-G Ninja)
  cmake -S . -B "$BUILD_DIR" "${generator[@]}" -DCMAKE_BUILD_TYPE="$BUILD_TYPE" >>"$LOG" 2>&1 ||
    fail "configure"
fi

if [[ ${VERBOSE:-0} == 1 ]]; then
  exec cmake --build "$BUILD_DIR" -j "$(nproc)" "$@"
fi

say "building ($(nproc) jobs)"
# Turns make's "[ 42%]" and ninja's "[42/100]" into a line each time another 10% is done. A
# shell loop, not awk: mawk reads a pipe in blocks and would print the steps late, in bursts.
progress() {
  local line pct shown=0
  while IFS= read -r line; do
    printf '%s\n' "$line"
    if [[ $line =~ ^\[\ *([0-9]+)%\] ]]; then
      pct=${BASH_REMATCH[1]}
    elif [[ $line =~ ^\[([0-9]+)/([0-9]+)\] ]]; then
      pct=$((BASH_REMATCH[1] * 100 / BASH_REMATCH[2]))
    else
      continue
    fi
    if ((pct >= shown + 10)); then
      shown=$((pct - pct % 10))
      echo "stallscope: building $shown%" >&2
    fi
  done >>"$LOG"
}
start=$SECONDS
if ! cmake --build "$BUILD_DIR" -j "$(nproc)" "$@" 2>&1 | progress; then
  fail "build"
fi
if grep -qE '^(ninja: no work to do|make.*Nothing to be done)' "$LOG" ||
   ! grep -qE '^\[' "$LOG"; then
  say "up to date"
else
  say "built in $((SECONDS - start)) s"
fi
