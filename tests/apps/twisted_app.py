"""Twisted web app for the stall tests: the standard stallkit endpoints, served on the reactor
(a blocking handler stalls the whole server).   python3 twisted_app.py PORT
"""

import sys

from twisted.internet import reactor
from twisted.web import resource, server

import stallkit

APP = "twisted"


class Endpoints(resource.Resource):
    isLeaf = True

    def render_GET(self, request):
        kind = request.path.decode().strip("/")
        request.setHeader(b"content-type", b"text/plain")
        if kind == "fast":
            return stallkit.fast_body().encode()
        if kind in stallkit.KINDS:
            query = request.uri.decode().partition("?")[2]
            return stallkit.run_stall(APP, kind, stallkit.parse_ms(query)).encode()
        request.setResponseCode(404)
        return b"not found\n"


def main():
    port = stallkit.env_port()
    reactor.listenTCP(port, server.Site(Endpoints()), interface="127.0.0.1")
    reactor.callWhenRunning(stallkit.announce_ready, APP)
    reactor.run()


if __name__ == "__main__":
    main()
