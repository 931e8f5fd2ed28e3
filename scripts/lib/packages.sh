# Debian 12 packages the project needs, and a helper that installs only the missing ones.
# shellcheck shell=bash
BUILD_PACKAGES=(
  cmake g++ make pkg-config clang llvm bpftool libbpf-dev libelf-dev zlib1g-dev
  libprotobuf-dev protobuf-compiler libgrpc++-dev protobuf-compiler-grpc libabsl-dev
  libgtest-dev libgmock-dev linux-libc-dev ninja-build
  libsqlite3-dev libpq-dev libcpp-httplib-dev libre2-dev libssl-dev
)
# Real servers and load for the real-kernel tests and the benchmark.
TEST_PACKAGES=(
  python3 python3-tornado python3-aiohttp python3-gevent gunicorn python3-cherrypy3
  uwsgi uwsgi-plugin-python3 python3-flask wrk curl procps
  postgresql prometheus chromium python3-websocket nodejs openssl python3-h2
  python3-fastapi python3-uvicorn python3-uvloop python3-anyio python3-django python3-asgiref
  python3-twisted python3-jupyter-server
  debootstrap  # scripts/python-roots.sh: Debian roots with CPython 3.13 and 3.14 for the stack tests
  # scripts/python-roots.sh trixie-ft: unpacks and builds CPython (gcc, make, libssl-dev and
  # zlib1g-dev come with BUILD_PACKAGES)
  xz-utils
  bindfs fuse3  # test_hostile_targets.py: a target on a FUSE mount whose daemon is stopped
  python3-seccomp  # tests/package/unit_sandbox.py: the systemd units' system call filters without systemd
)
BENCH_PACKAGES=(libbpf-tools bpftrace)
# The libFuzzer targets and the sanitized unit tests (scripts/fuzz.sh, scripts/test.sh): clang
# with libFuzzer and the sanitizer runtimes.
FUZZ_PACKAGES=(clang libfuzzer-14-dev libclang-rt-14-dev)

ensure_packages() {
  local missing=()
  local pkg
  for pkg in "$@"; do
    if ! dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q "install ok installed"; then
      missing+=("$pkg")
    fi
  done
  if ((${#missing[@]})); then
    echo "installing: ${missing[*]}" >&2
    if [[ $(id -u) -ne 0 ]]; then
      echo "error: missing packages and not root; install them: apt-get install ${missing[*]}" >&2
      return 1
    fi
    export DEBIAN_FRONTEND=noninteractive
    # Waits for a concurrent apt/dpkg (unattended upgrades, another build) instead of failing.
    apt-get -o DPkg::Lock::Timeout=600 update -qq
    apt-get -o DPkg::Lock::Timeout=600 install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
  fi
}
