"""The floor: an aiohttp WebSocket server that relays every text frame to every socket, as is.

No persistence, no authentication, no per-room state beyond one set; what gochat pays for those
shows as the distance to this. The fan-out encodes a frame once and writes it to every transport
without awaiting, as gochat's hub does (gochat.live.frames.encode_text_frame), so the distance is not a
slower broadcast loop.

    python -m bench.peers.bare --host 127.0.0.1 --port 8081
"""

from __future__ import annotations

import argparse
import asyncio
import sys
from collections.abc import Sequence

import uvloop
from aiohttp import WSMsgType, web

from gochat.live.frames import encode_text_frame

SOCKETS: web.AppKey[set[asyncio.Transport]] = web.AppKey("sockets", set)


async def room(request: web.Request) -> web.WebSocketResponse:
    ws = web.WebSocketResponse(max_msg_size=64 * 1024, compress=False)
    await ws.prepare(request)
    transport = request.transport
    assert transport is not None
    sockets = request.app[SOCKETS]
    sockets.add(transport)  # type: ignore[arg-type]
    try:
        async for msg in ws:
            if msg.type is WSMsgType.TEXT:
                frame = encode_text_frame(msg.data.encode())
                for peer in sockets:
                    if not peer.is_closing():
                        peer.write(frame)
    finally:
        sockets.discard(transport)  # type: ignore[arg-type]
    return ws


async def readyz(request: web.Request) -> web.Response:
    return web.json_response({"status": "ok"})


def main(argv: Sequence[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m bench.peers.bare")
    p.add_argument("--host", default="127.0.0.1")
    p.add_argument("--port", type=int, default=8081)
    args = p.parse_args(argv)
    app = web.Application()
    app[SOCKETS] = set()
    app.router.add_get("/ws", room)
    app.router.add_get("/readyz", readyz)
    web.run_app(app, host=args.host, port=args.port, print=None, loop=uvloop.new_event_loop())
    return 0


if __name__ == "__main__":
    sys.exit(main())
