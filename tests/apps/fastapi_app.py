"""FastAPI app for the framework pool tests: `def` endpoints, which Starlette runs in anyio's
worker threads (created on demand, reaped after 10 s idle). The app limits anyio's default
thread limiter to $POOL_THREADS (default 4) at startup, so its pool is that size. Serve with
    python3 -m uvicorn --loop uvloop|asyncio --port PORT fastapi_app:app
/sleep?ms=N (a `def` endpoint, in a worker thread) and /loop/KIND?ms=N (an `async def`
endpoint that blocks the loop) log each handler's true start and end with pid and tid to
$STALL_LOG (stallkit).
"""

import os

import anyio.to_thread
import fastapi
from fastapi.responses import PlainTextResponse

import stallkit

APP = "fastapi"
THREADS = int(os.environ.get("POOL_THREADS", "4"))

app = fastapi.FastAPI()


@app.on_event("startup")
async def limit_threads():
    anyio.to_thread.current_default_thread_limiter().total_tokens = THREADS
    stallkit.announce_ready(APP)


@app.get("/sleep")
def sleep(ms: int = stallkit.DEFAULT_MS):
    return PlainTextResponse(stallkit.run_stall(APP, "sleep", ms))


@app.get("/fast")
def fast():
    return PlainTextResponse(stallkit.fast_body())


@app.get("/loop/{kind}")
async def on_the_loop(kind: str, ms: int = stallkit.DEFAULT_MS):
    """The stall on the event loop itself (an `async def` endpoint that blocks)."""
    return PlainTextResponse(stallkit.run_stall(APP, kind, ms))
