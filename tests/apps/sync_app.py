"""WSGI test app for gunicorn sync workers (run with --chdir tests/apps sync_app:app).

A sync worker serves one request at a time in a blocking thread that is not an event loop, so
its slow requests must never be reported as loop stalls; their true durations are logged anyway
(kinds as in stallkit.py) so tests can show what the agent saw. Needs $UPSTREAM_PORT for
/upstream and /nested.
"""

import stallkit

APP = "sync"

app = stallkit.wsgi_app(APP)
stallkit.announce_ready(APP)
