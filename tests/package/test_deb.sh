#!/usr/bin/env bash
# The Debian package installs with dpkg -i, and what it installs runs: builds it with
# scripts/package.sh, installs it with dpkg into a scratch root whose package database is a
# copy of this machine's (so its Depends are checked against the real system without changing
# it), then runs both installed binaries' --help and checks the units and man pages are there.
set -euo pipefail
cd "$(dirname "$0")/../.."
deb=$(scripts/package.sh | tail -n 1)
root=$(mktemp -d)
trap 'rm -rf "$root"' EXIT
mkdir -p "$root/var/lib/dpkg/info" "$root/var/lib/dpkg/updates" "$root/var/lib/dpkg/triggers"
cp /var/lib/dpkg/status "$root/var/lib/dpkg/status"
touch "$root/var/lib/dpkg/available"

# The copied database has no file lists: dpkg warns once per package about that; hide those.
dpkg --instdir="$root" --admindir="$root/var/lib/dpkg" --force-script-chrootless -i "$deb" \
  2> >(grep -v 'files list file for package' >&2)
dpkg --admindir="$root/var/lib/dpkg" -s stallscope | grep '^Status: install ok installed' >/dev/null

check() { [[ -e "$root/$1" ]] || { echo "FAIL: $1 not installed" >&2; exit 1; }; }
check usr/bin/stallscope
check usr/bin/stallscope-collector
check usr/lib/systemd/system/stallscope-collector.service
check usr/lib/systemd/system/stallscope-agent.service
for page in stallscope stallscope-attach stallscope-daemon stallscope-collector; do
  check "usr/share/man/man1/$page.1.gz"
done
# grep without -q reads to the end: with pipefail, -q's early exit would fail the writer (SIGPIPE).
zcat "$root/usr/share/man/man1/stallscope-collector.1.gz" | grep -F -- 'grpc\-listen' >/dev/null ||
  { echo "FAIL: the collector's man page lacks its options" >&2; exit 1; }
"$root/usr/bin/stallscope" --help | grep '^Usage: stallscope' >/dev/null
"$root/usr/bin/stallscope" attach --help | grep -- '--pid' >/dev/null
"$root/usr/bin/stallscope-collector" --help | grep '^Usage: stallscope-collector' >/dev/null
echo "ok: $(basename "$deb") installs; both binaries run"
