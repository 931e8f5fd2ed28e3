"""Two asyncio event loops in one process, each in its own thread and serving its own port
(the asyncio_app handler), so both can stall at the same time.
Usage: /usr/bin/python3 two_loops_app.py PORT_A PORT_B. See stallkit.py."""

import asyncio
import sys
import threading

import asyncio_app
import stallkit


async def serve(port):
    server = await asyncio.start_server(asyncio_app.handle, "127.0.0.1", port)
    async with server:
        await server.serve_forever()


# Distinct thread entry points, so each thread's outermost Python frames name it.
def loop_thread_a(port):
    asyncio.run(serve(port))


def loop_thread_b(port):
    asyncio.run(serve(port))


if __name__ == "__main__":
    stallkit.ensure_upstream()
    a = threading.Thread(target=loop_thread_a, args=(int(sys.argv[1]),), name="loop-a")
    b = threading.Thread(target=loop_thread_b, args=(int(sys.argv[2]),), name="loop-b")
    a.start()
    b.start()
    stallkit.announce_ready("two_loops")
    a.join()
