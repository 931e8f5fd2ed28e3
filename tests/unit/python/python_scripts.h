// Python programs the live tests run. Lines the tests check carry "# LINE:<name>" markers.
#ifndef STALLSCOPE_TESTS_UNIT_PYTHON_PYTHON_SCRIPTS_H_
#define STALLSCOPE_TESTS_UNIT_PYTHON_PYTHON_SCRIPTS_H_

namespace stallscope::testing {

// Three threads: main asleep in a->b->c (time.sleep), "waiter" blocked on a futex in
// Handler.get (threading.Event.wait), "spinner" burning CPU. Prints "THREAD name tid", then
// the waiter's stack as CPython itself sees it ("EXPECT qualname<TAB>line<TAB>file" lines,
// innermost first), then "READY".
inline constexpr char kThreadsScript[] = R"PY(import sys
import threading
import time


def spin():
    x = 0
    while True: x += 1  # LINE:spin


class Handler:
    def get(self, event):
        event.wait()  # LINE:handler_wait


print_lock = threading.Lock()


def say(line):
    # One write per line, under a lock: print() from two threads can interleave.
    with print_lock:
        sys.stdout.write(line + "\n")
        sys.stdout.flush()


def report(name):
    say(f"THREAD {name} {threading.get_native_id()}")


def waiter(event):
    report("waiter")
    Handler().get(event)  # LINE:waiter_call


def spinner():
    report("spinner")
    spin()  # LINE:spinner_call


def c():
    time.sleep(300)  # LINE:c_sleep


def b():
    c()  # LINE:b_call


def a():
    b()  # LINE:a_call


def stack_of(ident):
    out = []
    frame = sys._current_frames().get(ident)
    while frame is not None:
        # co_qualname since 3.11; before, the reader names functions by co_name too.
        code = frame.f_code
        out.append((getattr(code, "co_qualname", code.co_name), frame.f_lineno, code.co_filename))
        frame = frame.f_back
    return out


def main():
    event = threading.Event()
    w = threading.Thread(target=waiter, args=(event,), name="waiter", daemon=True)
    s = threading.Thread(target=spinner, name="spinner", daemon=True)
    w.start()
    s.start()
    while True:
        stack = stack_of(w.ident)
        spinning = stack_of(s.ident)
        # Condition.wait <- Event.wait ("wait" <- "wait" before 3.11: no co_qualname).
        waiting = [qualname.split(".")[-1] for qualname, _, _ in stack[:2]] == ["wait", "wait"]
        if waiting and spinning and spinning[0][0] == "spin":
            break
        time.sleep(0.01)
    for qualname, line, filename in stack:
        say(f"EXPECT {qualname}\t{line}\t{filename}")
    report("main")
    say("READY")
    a()  # LINE:main_call


main()  # LINE:module_call
)PY";

// asyncio: a running task's coroutine chain outer -> inner, blocked in time.sleep.
inline constexpr char kAsyncioScript[] = R"PY(import asyncio
import threading
import time


async def inner():
    print(f"READY {threading.get_native_id()}", flush=True)
    time.sleep(300)  # LINE:inner_sleep


async def outer():
    await inner()  # LINE:outer_await


async def main():
    await asyncio.create_task(outer())  # LINE:main_await


asyncio.run(main())
)PY";

// gevent: "blocked" runs a greenlet that blocks the whole thread in a native (unpatched)
// sleep; "idle" parks the main greenlet so the hub's loop runs.
inline constexpr char kGeventScript[] = R"PY(import sys
import threading
native_id = threading.get_native_id

from gevent import monkey
monkey.patch_all()
import gevent

native_sleep = monkey.get_original("time", "sleep")


def blocker():
    print(f"READY {native_id()}", flush=True)
    native_sleep(300)  # LINE:blocker_sleep


def handler():
    blocker()  # LINE:handler_call


if sys.argv[1] == "blocked":
    gevent.spawn(handler).join()
else:
    print(f"READY {native_id()}", flush=True)
    gevent.sleep(300)
)PY";

// GIL: main waits on an Event (GIL released) while one thread spins; "sleepers" has every
// thread asleep, so no one holds the GIL.
inline constexpr char kGilScript[] = R"PY(import sys
import threading
import time


def spin():
    print(f"SPINNER {threading.get_native_id()}", flush=True)
    x = 0
    while True: x += 1


def sleeper():
    time.sleep(300)


target = spin if sys.argv[1] == "spin" else sleeper
threading.Thread(target=target, daemon=True).start()
time.sleep(0.3)
print(f"READY {threading.get_native_id()}", flush=True)
threading.Event().wait()
)PY";

// Churn: frames pushed and popped all the time (random-depth recursion) and threads started
// and joined in a loop, so thread states are freed and reused under the reader. A frame that
// has just started shows its "def" line (that of its RESUME instruction).
inline constexpr char kChurnScript[] = R"PY(import random
import threading


def leaf(n):  # LINE:leaf_def
    return n  # LINE:leaf


def rec(n):  # LINE:rec_def
    if n == 0:  # LINE:rec_first
        return leaf(n)
    return rec(n - 1)  # LINE:rec_last


def churn():  # LINE:churn_def
    while True:  # LINE:churn_first
        rec(random.randint(0, 40))  # LINE:churn_last


def short_lived():  # LINE:short_lived_def
    rec(5)  # LINE:short_lived


def spawner():  # LINE:spawner_def
    while True:  # LINE:spawner_first
        t = threading.Thread(target=short_lived)
        t.start()
        t.join()  # LINE:spawner_last


threading.Thread(target=churn, daemon=True).start()
threading.Thread(target=spawner, daemon=True).start()
print("READY", flush=True)
churn()  # LINE:module
)PY";

// A constructor that blocks: after a few calls CPython 3.13+ specializes `Slow(n)` to
// CALL_ALLOC_AND_ENTER_INIT, which runs __init__ under a shim frame (`_Py_InitCleanup`, named
// "__init__" in a file "__init__", no lines). Prints "READY tid" from inside the last call.
inline constexpr char kInitShimScript[] = R"PY(import threading
import time


class Slow:
    def __init__(self, n):
        if n == 60:
            print("READY", threading.get_native_id(), flush=True)
            time.sleep(3600)  # LINE:init_sleep


def make(n):
    return Slow(n)  # LINE:make_call


for n in range(61):
    make(n)  # LINE:module
)PY";

}  // namespace stallscope::testing

#endif  // STALLSCOPE_TESTS_UNIT_PYTHON_PYTHON_SCRIPTS_H_
