"""The asyncio test app run by a hostile process (docs/security.md, "Target strings"): it names
itself with prctl(PR_SET_NAME) to bytes that are not UTF-8, an OSC window-title sequence
(ESC ] ... BEL) and a newline; the function on its stack while it stalls is named (co_name and
co_qualname, what the agent reads) with an OSC sequence, a newline and a forged LOOP BLOCKED
line, a screen-clearing CSI and U+FFFE. Everything else is asyncio_app.py.
Usage: /usr/bin/python3 hostile_names_app.py [PORT]"""

import asyncio
import ctypes

import asyncio_app
import stallkit

PR_SET_NAME = 15
# At most 15 bytes (TASK_COMM_LEN).
COMM = b"\xff\xfe\x1b]0;X\x07\nLOOP B"
FUNCTION = ("\x1b]0;pwned\x07\n12:00:00.000 LOOP BLOCKED 9.99 s  pid 1 tid 1 (forged)"
            "\x1b[2J\ufffe")


def set_comm(name):
    libc = ctypes.CDLL(None, use_errno=True)
    if libc.prctl(PR_SET_NAME, ctypes.c_char_p(name), 0, 0, 0) != 0:
        raise OSError(ctypes.get_errno(), "prctl(PR_SET_NAME)")


_run_stall = stallkit.run_stall


def hostile(app, kind, ms):
    return _run_stall(app, kind, ms)


hostile.__code__ = hostile.__code__.replace(co_name=FUNCTION, co_qualname=FUNCTION)
hostile.__name__ = hostile.__qualname__ = FUNCTION
stallkit.run_stall = hostile  # asyncio_app.dispatch calls it through the module

if __name__ == "__main__":
    set_comm(COMM)
    asyncio.run(asyncio_app.main())
