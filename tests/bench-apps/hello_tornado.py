"""Tiny Tornado hello server for the overhead benchmark (scripts/bench.sh).
Usage: /usr/bin/python3 hello_tornado.py PORT   (listens on 127.0.0.1 only)
"""

import asyncio
import sys

import tornado.web


class Hello(tornado.web.RequestHandler):
    def get(self):
        self.set_header("Content-Type", "text/plain")
        self.write(b"hello, world\n")


async def main(port):
    app = tornado.web.Application([(r"/", Hello)])
    app.listen(port, address="127.0.0.1")
    print(f"hello_tornado listening on 127.0.0.1:{port}", flush=True)
    await asyncio.Event().wait()


if __name__ == "__main__":
    asyncio.run(main(int(sys.argv[1])))
