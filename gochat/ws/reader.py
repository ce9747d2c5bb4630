"""The read loop of one socket: every frame stamps the connection as heard (live/heartbeat.py);
posts to subscribed rooms are pipelined, any other frame waits for them and is handled in turn."""

from __future__ import annotations

import asyncio

from aiohttp import WSMsgType, web

from .handlers import handle
from .pipeline import drain, pipelinable, pipeline
from .session import Session


async def run(session: Session) -> None:
    conn, hub = session.conn, session.hub
    ws = conn.socket
    assert isinstance(ws, web.WebSocketResponse)
    clock = asyncio.get_running_loop().time
    async for msg in ws:
        conn.heard = clock()
        if msg.type == WSMsgType.TEXT:
            if hub.draining:
                continue  # not taken, so not acked: the client sends it again elsewhere (hub.shutdown)
            data = pipelinable(session, msg.data)
            if data is not None:
                await pipeline(session, data, msg.data)
                continue
            await drain(session)  # any other frame waits for the pipelined ones: replies stay in order
            if hub.draining:
                continue  # began while it waited: not taken (as above)
            hub.handling += 1
            try:
                await handle(session, msg.data)
            finally:
                hub.handling -= 1
        elif msg.type == WSMsgType.PING:
            await ws.pong(msg.data)
        elif msg.type == WSMsgType.BINARY:
            session.error("unsupported_frame", "send JSON text frames")
        elif msg.type == WSMsgType.ERROR:
            break
