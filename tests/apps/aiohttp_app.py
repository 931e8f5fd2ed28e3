"""aiohttp.web test app: the async handlers call stallkit synchronously, stalling the loop.
Usage: /usr/bin/python3 aiohttp_app.py [PORT]  (or $PORT). See stallkit.py."""

import asyncio

from aiohttp import web

import stallkit

APP = "aiohttp"


async def fast(request):
    return web.Response(text=stallkit.fast_body())


def stall_handler(kind):
    async def handler(request):
        ms = stallkit.parse_ms(request.query_string)
        return web.Response(text=stallkit.run_stall(APP, kind, ms))
    return handler


async def main():
    port = stallkit.env_port()
    stallkit.ensure_upstream()
    app = web.Application()
    app.router.add_get("/fast", fast)
    for kind in stallkit.KINDS:
        app.router.add_get("/" + kind, stall_handler(kind))
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    await web.TCPSite(runner, "127.0.0.1", port).start()
    stallkit.announce_ready(APP)
    await asyncio.Event().wait()


if __name__ == "__main__":
    asyncio.run(main())
