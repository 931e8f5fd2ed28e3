# The sanitizer build (clang, ASan+UBSan, libFuzzer coverage) shared by scripts/fuzz.sh and
# scripts/test.sh: one build dir for the fuzz targets and the sanitized unit tests, so CI
# compiles the sources once more, not twice.
# shellcheck shell=bash
SANITIZER_BUILD_DIR=${FUZZ_BUILD_DIR:-build-fuzz}

# sanitizer_build TARGET...: installs what is missing, configures once, builds the targets.
sanitizer_build() {
  ensure_packages "${BUILD_PACKAGES[@]}" "${FUZZ_PACKAGES[@]}"
  if [[ ! -f "$SANITIZER_BUILD_DIR/CMakeCache.txt" ]]; then
    # Debug: assertions on; the sanitizer flags add -O1 (CMakeLists.txt).
    CC=clang CXX=clang++ cmake -S . -B "$SANITIZER_BUILD_DIR" -DCMAKE_BUILD_TYPE=Debug \
      -DSTALLSCOPE_FUZZ=ON
  fi
  cmake --build "$SANITIZER_BUILD_DIR" -j "$(nproc)" --target "$@"
}
