"""Plain asyncio test app: asyncio.start_server and a minimal keep-alive aware HTTP/1.1 parser.
Handlers call stallkit synchronously from the coroutine, so they stall the loop thread.
Usage: /usr/bin/python3 asyncio_app.py [PORT]  (or $PORT). See stallkit.py."""

import asyncio
import urllib.parse

import stallkit

APP = "asyncio"
MAX_HEADER_LINES = 100


def respond(status, body, keep_alive):
    data = body.encode()
    head = ("HTTP/1.1 %s\r\nContent-Type: text/plain\r\nContent-Length: %d\r\n"
            "Connection: %s\r\n\r\n" % (status, len(data), "keep-alive" if keep_alive else "close"))
    return head.encode() + data


def dispatch(target):
    url = urllib.parse.urlsplit(target)
    kind = url.path.strip("/")
    if url.path == "/fast":
        return "200 OK", stallkit.fast_body()
    if kind == "deferred":
        # Stall the loop's next iteration, after this response: asyncio's wait before it has a
        # 0 timeout (a callback is ready), so it returns without the thread ever sleeping.
        ms = stallkit.parse_ms(url.query)
        asyncio.get_running_loop().call_soon(stallkit.run_stall, APP, kind, ms)
        return "200 OK", "deferred cpu %d ms\n" % ms
    if kind in stallkit.KINDS:
        return "200 OK", stallkit.run_stall(APP, kind, stallkit.parse_ms(url.query))
    return "404 Not Found", "not found\n"


async def handle(reader, writer):
    try:
        while True:
            request_line = await reader.readline()
            if not request_line.strip():
                break  # EOF (or a stray blank line: treat as the client being done)
            try:
                method, target, version = request_line.decode("latin-1").split()
            except ValueError:
                writer.write(respond("400 Bad Request", "bad request\n", False))
                break
            headers = {}
            for _ in range(MAX_HEADER_LINES):
                line = await reader.readline()
                if line in (b"\r\n", b"\n", b""):
                    break
                name, _, value = line.decode("latin-1").partition(":")
                headers[name.strip().lower()] = value.strip()
            length = int(headers.get("content-length", "0") or 0)
            if length:
                await reader.readexactly(length)
            connection = headers.get("connection", "").lower()
            if version.upper() == "HTTP/1.1":
                keep_alive = connection != "close"
            else:
                keep_alive = connection == "keep-alive"
            status, body = dispatch(target)
            writer.write(respond(status, body if method != "HEAD" else "", keep_alive))
            await writer.drain()
            if not keep_alive:
                break
    except (ConnectionError, asyncio.IncompleteReadError):
        pass
    finally:
        writer.close()


async def main():
    port = stallkit.env_port()
    stallkit.ensure_upstream()
    server = await asyncio.start_server(handle, "127.0.0.1", port)
    stallkit.announce_ready(APP)
    async with server:
        await server.serve_forever()


if __name__ == "__main__":
    asyncio.run(main())
