#!/usr/bin/env bash
# Builds, installs the real servers the tests run, then runs the whole suite through ctest:
# unit tests and real-kernel tests (label "bpf", which need root and a BTF kernel; they print why
# and count as skipped where the kernel truly cannot run them). Extra args go to ctest, e.g.
#   scripts/test.sh -L unit          # unit tests only (and setup.python_roots, which builds the
#                                    # Debian roots some of them read: minutes once, cached after)
#   scripts/test.sh -R tornado       # tests whose name matches
# The full run (no args, as CI runs it) then also builds the unit tests with ASan+UBSan and runs
# them, and runs each fuzz target FUZZ_SECONDS (default 8) from its seeds (scripts/fuzz.sh).
# STALLSCOPE_SANITIZERS=0 skips that part, =1 runs it even with args.
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/lib/packages.sh
source scripts/lib/sanitizer_build.sh

sanitizers=${STALLSCOPE_SANITIZERS:-$(( $# == 0 ))}

ensure_packages "${TEST_PACKAGES[@]}"
scripts/build.sh
status=0
(cd "${BUILD_DIR:-build}" && ctest --output-on-failure --timeout 600 "$@") || status=$?

if [[ $sanitizers == 1 ]]; then
  echo "== sanitizers: unit tests with ASan+UBSan, then each fuzz target ${FUZZ_SECONDS:-8}s" >&2
  sanitizer_build unit_tests unit_tests_roots fuzzers
  # halt_on_error: the first finding fails the test that made it, with its report.
  (cd "$SANITIZER_BUILD_DIR" &&
   ASAN_OPTIONS=halt_on_error=1:detect_leaks=1 UBSAN_OPTIONS=halt_on_error=1:print_stacktrace=1 \
     ctest -L unit --output-on-failure --timeout 600 -j "$(nproc)") || status=1
  FUZZ_SKIP_BUILD=1 scripts/fuzz.sh "${FUZZ_SECONDS:-8}" || status=1
fi
exit "$status"
