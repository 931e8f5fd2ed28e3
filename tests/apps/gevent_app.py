"""WSGI test app for `gunicorn -k gevent` (run with --chdir tests/apps gevent_app:app).

The gevent worker monkey-patches time.sleep and the socket module before importing this module:
a patched sleep or socket call does not block, it switches to the hub, and the hub's loop keeps
serving other connections -- no stall at all. To make a *real* stall of the worker's loop
(what a C extension or an unpatched library call does), the handlers use the original,
unpatched time.sleep and socket.socket saved by gevent.monkey. Needs $UPSTREAM_PORT for
/upstream and /nested (the in-process upstream would need real threads, which are patched too).
"""

from gevent import monkey

import stallkit

APP = "gevent"

real_sleep = monkey.get_original("time", "sleep")
real_socket = monkey.get_original("socket", "socket")

app = stallkit.wsgi_app(APP, sleep=real_sleep, socket_cls=real_socket)
stallkit.announce_ready(APP)
