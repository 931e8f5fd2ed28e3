#!/usr/bin/env bash
# Builds the libFuzzer targets (fuzz/, clang with ASan+UBSan, in build-fuzz/) and runs each for
# SECONDS (default 60) from its seed corpus in fuzz/corpus/<target>/. New inputs go to a scratch
# directory, never into the repo. Exits 1 if any target finds a crash, a leak, a hang or runs
# out of memory, naming the input that did it; 0 when nothing was found.
#   scripts/fuzz.sh                      # every target, 60 s each
#   scripts/fuzz.sh 600                  # every target, 10 min each
#   FUZZ_TARGETS="elf perf_map" scripts/fuzz.sh 300
# Reproduce a finding: build-fuzz/fuzz/<target>_fuzzer <input file>
# Env: FUZZ_TARGETS, FUZZ_BUILD_DIR (build-fuzz), FUZZ_FINDINGS (<build dir>/findings),
#      FUZZ_MALLOC_LIMIT_MB (512), FUZZ_RSS_LIMIT_MB (2048), FUZZ_TIMEOUT_S (per input, 10),
#      FUZZ_KEEP_CORPUS=1 (keep the new inputs and print where), FUZZ_SKIP_BUILD=1.
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/lib/packages.sh
source scripts/lib/sanitizer_build.sh

SECONDS_PER_TARGET=${1:-60}
BUILD_DIR=$SANITIZER_BUILD_DIR
FINDINGS=${FUZZ_FINDINGS:-$BUILD_DIR/findings}
# Memory findings: one input that allocates more than MALLOC_LIMIT_MB at once, or a process that
# grows past RSS_LIMIT_MB. The RSS limit is not the per-input bound: ASan's quarantine (freed
# memory held back to catch use-after-free) and the size-class fragmentation it causes grow a
# long run's RSS whatever the code does. Measured (daemon_config, 40 s): RSS 44 -> 53 MB with no
# quarantine, -> 126 MB with 16 MB, 710 MB in 60 s with ASan's default 256 MB, while the live
# heap stays ~25 MB; so the quarantine is cut to 16 MB (use-after-free still caught for the
# last 16 MB freed, far more than one input's) and the RSS limit is the runaway guard.
MALLOC_LIMIT_MB=${FUZZ_MALLOC_LIMIT_MB:-512}
RSS_LIMIT_MB=${FUZZ_RSS_LIMIT_MB:-2048}
export ASAN_OPTIONS=${ASAN_OPTIONS:-quarantine_size_mb=16}
TIMEOUT_S=${FUZZ_TIMEOUT_S:-10}

# Longest input per target: big enough for its real files, small enough to stay fast.
declare -A MAX_LEN=(
  [elf]=65536 [proc_maps]=16384 [proc_pid]=16384 [proc_net]=8192 [collector_report]=16384
  [cpython_reader]=32769 [daemon_config]=4096 [container_metadata]=8192
  [proc_mountinfo]=16384 [http_framing]=16384
)

[[ -n ${FUZZ_SKIP_BUILD:-} ]] || sanitizer_build fuzzers

if [[ -n ${FUZZ_TARGETS:-} ]]; then
  read -r -a targets <<<"$FUZZ_TARGETS"
else
  targets=()
  for bin in "$BUILD_DIR"/fuzz/*_fuzzer; do
    name=$(basename "$bin")
    targets+=("${name%_fuzzer}")
  done
fi

mkdir -p "$FINDINGS"
failed=()
scratch=$(mktemp -d "${TMPDIR:-/tmp}/stallscope-fuzz.XXXXXX")
# Kept on a finding (the log is there), or with FUZZ_KEEP_CORPUS.
trap '[[ -n ${FUZZ_KEEP_CORPUS:-} || ${#failed[@]} -gt 0 ]] || rm -rf "$scratch"' EXIT

for t in "${targets[@]}"; do
  bin=$BUILD_DIR/fuzz/${t}_fuzzer
  seeds=fuzz/corpus/$t
  if [[ ! -x $bin || ! -d $seeds ]]; then
    echo "fuzz: no target or no seed corpus for '$t' ($bin, $seeds)" >&2
    failed+=("$t")
    continue
  fi
  mkdir -p "$scratch/$t"
  log=$scratch/$t.log
  echo "fuzz: $t for ${SECONDS_PER_TARGET}s" >&2
  # The first corpus dir receives new inputs; the seeds are only read. -error_exitcode and
  # -timeout_exitcode make every kind of finding a failure.
  if "$bin" -max_total_time="$SECONDS_PER_TARGET" -max_len="${MAX_LEN[$t]:-4096}" \
      -rss_limit_mb="$RSS_LIMIT_MB" -malloc_limit_mb="$MALLOC_LIMIT_MB" -timeout="$TIMEOUT_S" -error_exitcode=77 -timeout_exitcode=78 \
      -artifact_prefix="$FINDINGS/$t-" -print_final_stats=1 \
      "$scratch/$t" "$seeds" >"$log" 2>&1; then
    grep -E '^(stat::number_of_executed_units|stat::new_units_added)' "$log" |
      sed "s/^/fuzz: $t: /" >&2 || true
  else
    echo "fuzz: $t FOUND A BUG; its report (whole log: $log):" >&2
    grep -v '^#[0-9]' "$log" | grep -m 1 -A 30 -E 'ERROR|runtime error|ALARM|out-of-memory' >&2 || true
    grep -E '^SUMMARY' "$log" >&2 || true
    input=$(grep -oE "(Test unit|artifact) written to [^ ]+" "$log" | tail -n 1 | awk '{print $NF}')
    echo "fuzz: $t: failing input: ${input:-(none written, see the log above)}" >&2
    echo "fuzz: reproduce: $bin ${input:-}" >&2
    failed+=("$t")
  fi
done
if [[ -n ${FUZZ_KEEP_CORPUS:-} ]]; then echo "fuzz: new inputs kept in $scratch" >&2; fi

if ((${#failed[@]})); then
  echo "fuzz: FAILED: ${failed[*]} (inputs in $FINDINGS)" >&2
  exit 1
fi
echo "fuzz: ${#targets[@]} targets, ${SECONDS_PER_TARGET}s each: nothing found" >&2
