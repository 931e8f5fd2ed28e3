"""Tiny WSGI hello app for the overhead benchmark (scripts/bench.sh):
/usr/bin/gunicorn -k gthread --threads 8 -w 2 -b 127.0.0.1:PORT --chdir tests/bench-apps hello_wsgi:app
"""

BODY = b"hello, world\n"
HEADERS = [("Content-Type", "text/plain"), ("Content-Length", str(len(BODY)))]


def app(environ, start_response):
    start_response("200 OK", HEADERS)
    return [BODY]
