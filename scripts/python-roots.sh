#!/usr/bin/env bash
# Debian root filesystems with other CPython versions, for the Python stack tests: trixie
# (python3.13), sid (python3.14 and the Py_DEBUG build python3.14-dbg), optionally bullseye
# (python3.9). Built once with debootstrap and cached outside the repository, so a second run
# only checks the stamps and prints the paths.
#
#   scripts/python-roots.sh [SUITE...]   (default: bullseye trixie sid)
#
# Prints "SUITE DIR" per ready root. Exit 0 when every root is ready, 1 otherwise (a suite that
# could not be built is reported on stderr). Needs root and a Debian mirror.
# Environment: STALLSCOPE_ROOTS_DIR (default /var/cache/stallscope/roots),
# STALLSCOPE_MIRROR (default: the first URIs: line under /etc/apt/sources.list.d/).
set -euo pipefail

ROOTS_DIR=${STALLSCOPE_ROOTS_DIR:-/var/cache/stallscope/roots}
# Bump when the package list changes: older roots are then rebuilt.
STAMP_VERSION=1

mirror() {
  if [[ -n ${STALLSCOPE_MIRROR:-} ]]; then echo "$STALLSCOPE_MIRROR"; return; fi
  local uri
  uri=$(grep -h '^URIs:' /etc/apt/sources.list.d/*.sources 2>/dev/null | head -1 | awk '{print $2}')
  echo "${uri:-http://deb.debian.org/debian}"
}

packages_for() {
  case $1 in
    sid) echo "python3,python3-tornado,python3.14-dbg" ;;
    *) echo "python3,python3-tornado" ;;
  esac
}

build_root() {
  local suite=$1 dir=$ROOTS_DIR/$1
  local stamp=$dir/.stallscope-root
  local want="v$STAMP_VERSION $(packages_for "$suite")"
  if [[ -f $stamp && $(cat "$stamp") == "$want" ]]; then return 0; fi
  if [[ $(id -u) -ne 0 ]]; then
    echo "python-roots: building the $suite root needs root" >&2
    return 1
  fi
  local tmp=$ROOTS_DIR/.$suite.tmp
  rm -rf "$tmp"
  mkdir -p "$ROOTS_DIR"
  local start=$SECONDS log=$ROOTS_DIR/.$suite.log
  echo "python-roots: building $suite in $dir (debootstrap, a few minutes)" >&2
  if ! debootstrap --variant=minbase --include="$(packages_for "$suite")" "$suite" "$tmp" \
      "$(mirror)" >"$log" 2>&1; then
    echo "python-roots: debootstrap $suite failed; see $log" >&2
    tail -5 "$log" >&2
    rm -rf "$tmp"
    return 1
  fi
  echo "$want" >"$tmp/.stallscope-root"
  rm -rf "$dir"
  mv "$tmp" "$dir"
  echo "python-roots: $suite ready in $((SECONDS - start)) s" >&2
}

main() {
  local suites=("$@")
  ((${#suites[@]})) || suites=(bullseye trixie sid)
  local status=0 suite
  for suite in "${suites[@]}"; do
    if build_root "$suite"; then
      echo "$suite $ROOTS_DIR/$suite"
    else
      status=1
    fi
  done
  return $status
}

main "$@"
