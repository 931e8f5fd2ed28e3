#!/usr/bin/env bash
# Builds, installs the real servers the tests run, then runs the whole suite through ctest:
# unit tests and real-kernel tests (label "bpf", which need root and a BTF kernel; they print why
# and count as skipped where the kernel truly cannot run them). Extra args go to ctest, e.g.
#   scripts/test.sh -L unit          # unit tests only
#   scripts/test.sh -R tornado       # tests whose name matches
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/lib/packages.sh

ensure_packages "${TEST_PACKAGES[@]}"
scripts/build.sh
cd "${BUILD_DIR:-build}"
ctest --output-on-failure --timeout 600 "$@"
