"""python-socketio on aiohttp: what many Python teams would pick for a chat server.

Every client joins room "r" on connect; an "msg" event is emitted to the room (the sender too, as
gochat's and the other peers' rooms do). Installed by the bench (bench/peers/install.py).

    python -m bench.peers.socketio_py --host 127.0.0.1 --port 8082
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from typing import Any

import socketio  # type: ignore[import-not-found,unused-ignore]
import uvloop
from aiohttp import web


def build() -> web.Application:
    sio = socketio.AsyncServer(async_mode="aiohttp", cors_allowed_origins="*", max_http_buffer_size=64 * 1024)
    app = web.Application()
    sio.attach(app)

    async def connect(sid: str, environ: Any) -> None:
        await sio.enter_room(sid, "r")

    async def msg(sid: str, data: Any) -> None:
        await sio.emit("msg", data, room="r")

    sio.on("connect", connect)
    sio.on("msg", msg)

    async def readyz(request: web.Request) -> web.Response:
        return web.json_response({"status": "ok"})

    app.router.add_get("/readyz", readyz)
    return app


def main(argv: Sequence[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m bench.peers.socketio_py")
    p.add_argument("--host", default="127.0.0.1")
    p.add_argument("--port", type=int, default=8082)
    args = p.parse_args(argv)
    web.run_app(build(), host=args.host, port=args.port, print=None, loop=uvloop.new_event_loop())
    return 0


if __name__ == "__main__":
    sys.exit(main())
