#!/usr/bin/env bash
# Debian root filesystems with other CPython versions, for the Python stack tests: trixie
# (python3.13), sid (python3.14 and the Py_DEBUG build python3.14-dbg), optionally bullseye
# (python3.9), and trixie-ft: the trixie root plus a free-threaded CPython 3.13 (Debian does not
# package one) built on the host from trixie's python3.13 source tarball (sha256 checked) with
# --disable-gil and installed as /opt/python3.13t/bin/python3.13t in that root. Built once and
# cached outside the repository, so a second run only checks the stamps and prints the paths.
#
#   scripts/python-roots.sh [SUITE...]   (default: bullseye trixie sid trixie-ft)
#
# Prints "SUITE DIR" per ready root. Exit 0 when every root is ready, 77 when the missing ones
# need root to build and this is not root (ctest counts its setup test skipped), 1 otherwise (a
# suite that could not be built is reported on stderr). Needs root and a Debian mirror. Several
# runs at once (tests of several checkouts) build each root once: the others wait for it.
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

# The stamp of a ready root: its content changes when the package list does.
root_ready() {
  local stamp=$ROOTS_DIR/$1/.stallscope-root
  [[ -f $stamp && $(cat "$stamp") == "v$STAMP_VERSION $(packages_for "$1")" ]]
}

# Returns 0 when the root is ready, 2 when it needs building and this is not root, 1 on failure.
build_root() {
  local suite=$1
  if root_ready "$suite"; then return 0; fi
  if [[ $(id -u) -ne 0 ]]; then
    echo "python-roots: building the $suite root needs root" >&2
    return 2
  fi
  mkdir -p "$ROOTS_DIR"
  # One build per suite at a time; the lock is released when this function returns.
  local lock rc=0
  exec {lock}>"$ROOTS_DIR/.$suite.lock"
  flock "$lock"
  root_ready "$suite" || debootstrap_root "$suite" || rc=$?
  exec {lock}>&-
  return $rc
}

debootstrap_root() {
  local suite=$1 dir=$ROOTS_DIR/$1
  local want="v$STAMP_VERSION $(packages_for "$suite")"
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

# trixie's python3.13 source (Debian pool; sha256 as listed in trixie's Sources index).
FT_TARBALL=python3.13_3.13.5.orig.tar.xz
FT_SHA256=93e583f243454e6e9e4588ca2c2662206ad961659863277afcdb96801647d640
FT_PREFIX=/opt/python3.13t
# Extension modules nothing here imports (GUI, terminals, databases, CJK codecs): not built,
# which shortens the build. asyncio, ssl, zlib, json and hashlib stay.
FT_SKIP_MODULES=(_tkinter _curses _curses_panel _sqlite3 _dbm _gdbm readline _ctypes _decimal
  _codecs_cn _codecs_hk _codecs_iso2022 _codecs_jp _codecs_kr _codecs_tw _multibytecodec)

# The free-threaded interpreter in the trixie root: downloads and checks the tarball (kept in
# $ROOTS_DIR/.sources), configures and builds on the host (nice, every CPU), installs into the
# root. The bookworm-built binary runs on trixie's newer glibc.
build_ft() {
  local root=$ROOTS_DIR/trixie
  local stamp=$root$FT_PREFIX/.stallscope-ft want="v1 $FT_SHA256"
  if [[ -f $stamp && $(cat "$stamp") == "$want" ]]; then return 0; fi
  build_root trixie || return $?
  if [[ $(id -u) -ne 0 ]]; then
    echo "python-roots: building trixie-ft needs root" >&2
    return 2
  fi
  # One build at a time (tests of several checkouts may ask at once); the winner's stamp ends
  # the others' wait.
  mkdir -p "$ROOTS_DIR"
  exec {lock}>"$ROOTS_DIR/.trixie-ft.lock"
  flock "$lock"
  if [[ -f $stamp && $(cat "$stamp") == "$want" ]]; then return 0; fi
  local start=$SECONDS sources=$ROOTS_DIR/.sources work=$ROOTS_DIR/.trixie-ft.build
  local log=$ROOTS_DIR/.trixie-ft.log tarball=$ROOTS_DIR/.sources/$FT_TARBALL
  mkdir -p "$sources"
  : >"$log"
  if ! echo "$FT_SHA256  $tarball" | sha256sum -c --status 2>/dev/null; then
    local url
    url="$(mirror)/pool/main/p/python3.13/$FT_TARBALL"
    echo "python-roots: trixie-ft: downloading $url" >&2
    if ! curl -fsS --retry 2 -o "$tarball.part" "$url" 2>>"$log"; then
      echo "python-roots: trixie-ft: download failed; see $log" >&2
      return 1
    fi
    if ! echo "$FT_SHA256  $tarball.part" | sha256sum -c --status; then
      echo "python-roots: trixie-ft: $FT_TARBALL does not match its sha256" >&2
      rm -f "$tarball.part"
      return 1
    fi
    mv "$tarball.part" "$tarball"
  fi
  rm -rf "$work"
  mkdir -p "$work"
  tar -xJf "$tarball" -C "$work" --strip-components=1
  local skip=() module
  for module in "${FT_SKIP_MODULES[@]}"; do skip+=("py_cv_module_$module=n/a"); done
  echo "python-roots: trixie-ft: building CPython 3.13.5 --disable-gil ($(nproc) jobs, a few minutes)" >&2
  if ! (cd "$work" &&
        nice -n 10 ./configure --disable-gil --prefix="$FT_PREFIX" --without-ensurepip \
          --disable-test-modules "${skip[@]}" >>"$log" 2>&1 &&
        echo "python-roots: trixie-ft: configured in $((SECONDS - start)) s, compiling" >&2 &&
        nice -n 10 make -j"$(nproc)" >>"$log" 2>&1 &&
        make install DESTDIR="$root" >>"$log" 2>&1); then
    echo "python-roots: trixie-ft: build failed; see $log" >&2
    tail -5 "$log" >&2
    return 1
  fi
  rm -rf "$work"
  echo "$want" >"$stamp"
  echo "python-roots: trixie-ft ready in $((SECONDS - start)) s" >&2
}

main() {
  local suites=("$@")
  ((${#suites[@]})) || suites=(bullseye trixie sid trixie-ft)
  local failed=0 need_root=0 suite rc
  for suite in "${suites[@]}"; do
    rc=0
    if [[ $suite == trixie-ft ]]; then
      build_ft || rc=$?
      ((rc)) || echo "$suite $ROOTS_DIR/trixie"
    else
      build_root "$suite" || rc=$?
      ((rc)) || echo "$suite $ROOTS_DIR/$suite"
    fi
    if ((rc == 2)); then need_root=1; elif ((rc)); then failed=1; fi
  done
  if ((failed)); then return 1; fi
  if ((need_root)); then return 77; fi
  return 0
}

main "$@"
