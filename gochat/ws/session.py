"""One connection's conversation: who it is, its budgets, and how it answers.

Slots: one of these lives as long as each socket, and a dict of bound methods per instance cost
~1 KiB of every idle connection (bench/ws_idle.py); the frame handlers are module functions
(handlers.py) for the same reason.
"""

from __future__ import annotations

import asyncio
import uuid
from collections import deque
from typing import Any
from uuid import UUID

from aiohttp import web

from ..auth import scopes
from ..auth.tokens import BotGrant
from ..errors import RateLimited
from ..keys import HUB, LOCAL_RATE_LIMITER, RATE_LIMITER, SETTINGS, TELEMETRY
from ..live.connection import Connection
from ..live.frames import frame
from ..live.hub import Hub
from ..ratelimit import Limit
from ..telemetry import Telemetry
from .frames import error_body

CONNECTION_LIMIT = Limit(burst=30, per_second=10.0)
USER_LIMIT = Limit(burst=60, per_second=20.0)


class Session:
    __slots__ = (
        "app",
        "conn",
        "grant",
        "hub",
        "inflight",
        "inflight_bytes",
        "limit_key",
        "limits",
        "tracing",
        "user",
    )

    def __init__(self, app: web.Application, conn: Connection, grant: BotGrant | None = None) -> None:
        self.app = app
        self.conn = conn
        self.hub: Hub = app[HUB]
        self.user: UUID = conn.user_id
        self.limit_key: str | None = None  # made by the first frame: most sockets stay quiet
        self.tracing: Telemetry | None = app.get(TELEMETRY)  # None unless OpenTelemetry is on
        self.limits = (CONNECTION_LIMIT, USER_LIMIT)
        self.grant = grant  # a bot's token: what its frames may do, and its own rate limit
        if grant is not None:
            bot_limit = app[SETTINGS].bot_rate_limit
            self.limits = (bot_limit, bot_limit)
        # Replies of pipelined frames, oldest first (made by the first one: most sockets never
        # pipeline); each waits for the one before it, so the last one done means all are
        # (pipeline.py).
        self.inflight: deque[asyncio.Task[None]] | None = None
        self.inflight_bytes = 0

    def permit(self, data: dict[str, Any]) -> None:
        """A bot's frame within its token's scopes (subscribing reads; every other frame writes)."""
        if self.grant is not None:
            room = UUID(data["room_id"]) if "room_id" in data else None
            scopes.require(self.grant, write=data["type"] not in ("join", "leave"), room=room, roomless_ok=True)

    async def rate_limit(self) -> None:
        # A connection lives on one node: its budget stays local (an id() is not unique across
        # processes, and a Redis round trip per frame buys nothing). A user's spans every node.
        if self.limit_key is None:
            # Not id(conn): a recycled id would hand a new connection an old, spent bucket.
            self.limit_key = f"ws-conn:{uuid.uuid4().hex}"
        per_connection, per_user = self.limits
        wait = await self.app[LOCAL_RATE_LIMITER].acquire(self.limit_key, per_connection)
        wait = wait or await self.app[RATE_LIMITER].acquire(f"ws-user:{self.user}", per_user)
        if wait:
            raise RateLimited("slow down", retry_after=wait)

    def send(self, body: dict[str, Any]) -> None:
        """A reply to this socket alone, counted under its `type`."""
        self.hub.send(self.conn, frame(body), body["type"])

    def error(self, code: str, message: str, client_msg_id: str | None = None, **extra: Any) -> None:
        self.send(error_body(code, message, client_msg_id, **extra))
