"""A bare aiohttp WebSocket server that accepts and holds connections, for bench/ws_idle.py to
measure what a connection costs aiohttp alone (same loop, same WebSocketResponse options as gochat's
endpoint), so gochat's own per-connection state shows as the difference.

    python -m bench.ws_bare --host 127.0.0.1 --port 8081
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence

import uvloop
from aiohttp import web

HEARTBEAT = 25.0  # gochat's default GOCHAT_WS_HEARTBEAT
MAX_FRAME = 64 * 1024  # gochat.ws.frames.MAX_FRAME


async def hold(request: web.Request) -> web.WebSocketResponse:
    ws = web.WebSocketResponse(heartbeat=HEARTBEAT, max_msg_size=MAX_FRAME, compress=False, autoping=True)
    await ws.prepare(request)
    async for _ in ws:
        pass
    return ws


async def readyz(request: web.Request) -> web.Response:
    return web.json_response({"status": "ok"})


def main(argv: Sequence[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m bench.ws_bare", description=__doc__.split("\n\n")[0])
    p.add_argument("--host", default="127.0.0.1")
    p.add_argument("--port", type=int, default=8081)
    args = p.parse_args(argv)
    app = web.Application()
    app.router.add_get("/ws", hold)
    app.router.add_get("/readyz", readyz)
    web.run_app(app, host=args.host, port=args.port, access_log=None, print=None, loop=uvloop.new_event_loop())
    return 0


if __name__ == "__main__":
    sys.exit(main())
