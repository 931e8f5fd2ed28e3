"""A Jupyter Server extension for the stall tests: the standard stallkit endpoints under /stall/
(GET /stall/sleep?ms=N, ...), run on Jupyter's event loop (a blocking handler stalls the whole
server). Load with
    python3 -m jupyter_server --ServerApp.jpserver_extensions jupyter_stall_ext=True ...
"""

from jupyter_server.base.handlers import JupyterHandler

import stallkit

APP = "jupyter"


class StallHandler(JupyterHandler):
    def check_xsrf_cookie(self):
        pass

    def get(self, kind):
        if kind == "fast":
            self.finish(stallkit.fast_body())
        elif kind in stallkit.KINDS:
            ms = stallkit.parse_ms(self.request.query)
            self.finish(stallkit.run_stall(APP, kind, ms))
        else:
            self.set_status(404)
            self.finish("not found\n")


def _jupyter_server_extension_points():
    return [{"module": "jupyter_stall_ext"}]


def _load_jupyter_server_extension(serverapp):
    serverapp.web_app.add_handlers(".*$", [(r"/stall/([a-z]+)", StallHandler)])
    stallkit.announce_ready(APP)
