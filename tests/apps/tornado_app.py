"""Tornado 6 test app on the asyncio loop: handlers are synchronous, so they run (and stall) on
the loop thread. Usage: /usr/bin/python3 tornado_app.py [PORT]  (or $PORT). See stallkit.py."""

import asyncio

import tornado.web

import stallkit

APP = "tornado"


class FastHandler(tornado.web.RequestHandler):
    def get(self):
        self.write(stallkit.fast_body())


class StallHandler(tornado.web.RequestHandler):
    def initialize(self, kind):
        self.kind = kind

    def get(self):
        ms = stallkit.parse_ms(self.request.query)
        self.write(stallkit.run_stall(APP, self.kind, ms))


async def main():
    port = stallkit.env_port()
    stallkit.ensure_upstream()
    routes = [(r"/fast", FastHandler)]
    routes += [(r"/" + kind, StallHandler, {"kind": kind}) for kind in stallkit.KINDS]
    app = tornado.web.Application(routes)
    app.listen(port, address="127.0.0.1")
    stallkit.announce_ready(APP)
    await asyncio.Event().wait()


if __name__ == "__main__":
    asyncio.run(main())
