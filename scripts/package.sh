#!/usr/bin/env bash
# Builds the Debian package: stallscope and stallscope-collector in /usr/bin, their systemd
# units (stallscope-collector.service, stallscope-agent.service), man pages from their --help text. Prints the .deb's path on stdout.
#   scripts/package.sh && dpkg -i build/package/stallscope_*.deb
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/lib/packages.sh
BUILD_DIR=${BUILD_DIR:-build}

echo "stallscope: checking packaging packages (help2man, dpkg-dev, file)" >&2
ensure_packages help2man dpkg-dev file  # file: CPack finds the ELF files for dpkg-shlibdeps
# A build dir configured before help2man was installed has no man_pages target yet.
if [[ -f "$BUILD_DIR/CMakeCache.txt" ]] && grep -q '^HELP2MAN:FILEPATH=.*NOTFOUND' "$BUILD_DIR/CMakeCache.txt"; then
  cmake -U HELP2MAN "$BUILD_DIR" >/dev/null
fi
scripts/build.sh --target stallscope stallscope-collector man_pages
echo "stallscope: packaging (cpack)" >&2
out="$(realpath -m "$BUILD_DIR")/package"
rm -rf "$out"
if ! (cd "$BUILD_DIR" && cpack -G DEB -B "$out" >"$out.log" 2>&1); then
  echo "stallscope: cpack failed; last lines of $out.log:" >&2
  tail -n 30 "$out.log" >&2
  exit 1
fi
ls "$out"/stallscope_*.deb
