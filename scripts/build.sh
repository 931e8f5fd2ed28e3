#!/usr/bin/env bash
# Installs what the build needs (Debian 12 packages, only when missing), then configures and
# builds with CMake into build/. The agent lands at build/bin/stallscope. Idempotent and quick
# when nothing changed.
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/lib/packages.sh

ensure_packages "${BUILD_PACKAGES[@]}"

BUILD_DIR=${BUILD_DIR:-build}
BUILD_TYPE=${BUILD_TYPE:-RelWithDebInfo}
if [[ ! -f "$BUILD_DIR/CMakeCache.txt" ]]; then
  cmake -S . -B "$BUILD_DIR" -DCMAKE_BUILD_TYPE="$BUILD_TYPE"
fi
cmake --build "$BUILD_DIR" -j "$(nproc)" "$@"
