"""WSGI app for the worker-pool tests: the standard stallkit endpoints (/sleep?ms=N logs each
handler's true start and end with pid and tid to $STALL_LOG), served by gunicorn (sync,
gthread), uWSGI (--wsgi-file, --callable app) or, run as a script, CherryPy with a small thread
pool:  python3 pool_app.py PORT THREADS
"""

import sys

import stallkit

APP = "pool"

app = stallkit.wsgi_app(APP)


def serve_cherrypy(port, threads):
    import cherrypy
    cherrypy.tree.graft(app, "/")
    cherrypy.config.update({
        "server.socket_host": "127.0.0.1",
        "server.socket_port": port,
        "server.thread_pool": threads,
        "engine.autoreload.on": False,
        "log.screen": False,
        "checker.on": False,
    })
    cherrypy.engine.start()
    stallkit.announce_ready("cherrypy")
    cherrypy.engine.block()


if __name__ == "__main__":
    serve_cherrypy(int(sys.argv[1]), int(sys.argv[2]))
else:
    stallkit.announce_ready(APP)
