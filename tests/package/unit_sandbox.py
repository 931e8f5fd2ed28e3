#!/usr/bin/python3
"""Runs a command under a systemd unit's system call filter, UMask= and LimitNOFILE=, as systemd
would apply them, for a machine whose PID 1 is not systemd (then `systemctl start` cannot show
that the unit's sandbox lets the service run). The filter is built with libseccomp (Debian's
python3-seccomp) from the unit's SystemCallFilter= lines, their @sets expanded by
`systemd-analyze syscall-filter`: the first list allows, each `~` list then takes its calls out,
anything else fails with SystemCallErrorNumber=. The caller drops the user and the capabilities
(setpriv) and mounts /proc as ProtectProc=/ProcSubset= say (unshare); test_systemd_units.sh
does. A LimitNOFILE= above the hard limit (systemd raises it as root) becomes the hard limit.

    unit_sandbox.py UNIT COMMAND [ARG...]
"""

import errno
import os
import resource
import subprocess
import sys

import seccomp


def syscall_sets():
    """{"@set": [names and @sets]} from systemd-analyze."""
    sets, current = {}, None
    out = subprocess.run(["systemd-analyze", "syscall-filter", "--no-pager"], check=True,
                         capture_output=True, text=True).stdout
    for line in out.splitlines():
        if line.startswith("@"):
            current = sets.setdefault(line.strip(), [])
        elif line.startswith("    ") and current is not None and not line.strip().startswith("#"):
            current.append(line.strip())
        elif not line.strip():
            current = None
    return sets


def expand(names, sets, seen=None):
    seen = set() if seen is None else seen
    out = set()
    for name in names:
        if name.startswith("@"):
            if name not in seen:
                seen.add(name)
                out |= expand(sets.get(name, []), sets, seen)
        else:
            out.add(name)
    return out


def unit_settings(path):
    """The [Service] lines this emulates: SystemCallFilter (in order), the rest last one wins."""
    filters, settings = [], {}
    for line in open(path, encoding="utf-8"):
        line = line.strip()
        if "=" not in line or line.startswith("#"):
            continue
        key, value = line.split("=", 1)
        if key == "SystemCallFilter":
            filters.append(value)
        elif key in ("SystemCallErrorNumber", "UMask", "LimitNOFILE"):
            settings[key] = value
    return filters, settings


def allowed_calls(filters, sets):
    allowed = None
    for value in filters:
        deny = value.startswith("~")
        names = expand(value.lstrip("~").split(), sets)
        if allowed is None:
            if deny:
                sys.exit("unit_sandbox: a deny-list filter first is not emulated")
            allowed = names
        elif deny:
            allowed -= names
        else:
            allowed |= names
    return allowed


def main():
    if len(sys.argv) < 3:
        sys.exit(__doc__)
    filters, settings = unit_settings(sys.argv[1])
    if "UMask" in settings:
        os.umask(int(settings["UMask"], 8))
    if "LimitNOFILE" in settings:
        n = int(settings["LimitNOFILE"])
        try:
            resource.setrlimit(resource.RLIMIT_NOFILE, (n, n))
        except (ValueError, OSError):  # systemd sets it as root with CAP_SYS_RESOURCE; we may not
            hard = resource.getrlimit(resource.RLIMIT_NOFILE)[1]
            resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
            print("unit_sandbox: LimitNOFILE=%d above the hard limit here: %d" % (n, hard), file=sys.stderr)
    allowed = allowed_calls(filters, syscall_sets())
    if allowed is not None:
        err = getattr(errno, settings.get("SystemCallErrorNumber", "EPERM"))
        f = seccomp.SyscallFilter(defaction=seccomp.ERRNO(err))
        for name in sorted(allowed):
            try:
                f.add_rule(seccomp.ALLOW, name)
            except (RuntimeError, ValueError):
                pass  # not a call of this architecture (systemd skips those too)
        f.load()
    os.execv(sys.argv[2], sys.argv[2:])


if __name__ == "__main__":
    main()
