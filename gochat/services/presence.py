"""Presence: online while a user has a connection on any live node, offline after the last closes.

Transitions are events on a per-user presence stream, appended with the stream's expected version:
when two nodes see the same transition at once, one append wins and the other finds the status
already set. A sweeper on every node repairs what a crash leaves behind: users marked online that
no live node reports (their node died and its heartbeat expired), and local users marked offline.
"""

from __future__ import annotations

import asyncio
import uuid
from typing import Any
from uuid import UUID

import structlog

from ..aio import cancel_and_wait
from ..db import Database
from ..errors import NotFound, Unavailable, VersionConflict
from ..events import EventStore, NewEvent
from ..events.types import EventType
from ..live.presence_store import PresenceStore
from ..projections import presence as presence_queries

log = structlog.get_logger("gochat.presence")

PRESENCE_NAMESPACE = uuid.UUID("0b7f4a57-1f0e-4a8e-9d52-5d3f1f6c2a11")


def presence_stream(user_id: UUID) -> UUID:
    return uuid.uuid5(PRESENCE_NAMESPACE, str(user_id))


class PresenceService:
    def __init__(self, db: Database, store: EventStore, live: PresenceStore, *, sweep_interval: float = 30.0) -> None:
        self.db = db
        self.store = store
        self.live = live
        self.sweep_interval = sweep_interval
        self._sweeper: asyncio.Task[None] | None = None

    def start(self) -> None:
        if self._sweeper is None:
            self._sweeper = asyncio.get_running_loop().create_task(self._sweep_forever(), name="gochat-presence-sweep")

    async def close(self) -> None:
        if self._sweeper is not None:
            await cancel_and_wait(self._sweeper)
            self._sweeper = None

    async def connected(self, user_id: UUID) -> None:
        if await self.live.connected(str(user_id)):
            await self.set_status(user_id, "online")

    async def disconnected(self, user_id: UUID) -> None:
        if await self.live.disconnected(str(user_id)) and not await self.live.online([str(user_id)]):
            await self.set_status(user_id, "offline")

    async def set_status(self, user_id: UUID, status: str) -> None:
        for _ in range(3):
            async with self.db.cursor() as cur:
                current = await presence_queries.get_presence(cur, user_id)
            if current is not None and current["status"] == status:
                return
            event = NewEvent(
                EventType.PRESENCE_CHANGED,
                presence_stream(user_id),
                {"user_id": str(user_id), "status": status},
                actor_id=user_id,
                expected_version=current["version"] if current else 0,
            )
            try:
                await self.store.append(event)
                return
            except VersionConflict:
                continue  # another node moved it meanwhile: look again

    async def sweep(self) -> None:
        async with self.db.cursor() as cur:
            marked = [u for u, _ in await presence_queries.marked_online(cur)]
        if marked:
            live = await self.live.online(str(u) for u in marked)
            for user in marked:
                if str(user) not in live:
                    await self.set_status(user, "offline")
        local: frozenset[str] = getattr(self.live, "local_users", frozenset())
        if local:
            async with self.db.cursor() as cur:
                stale = await presence_queries.marked_offline(cur, [UUID(u) for u in local])
            for user in stale:
                await self.set_status(user, "online")

    async def _sweep_forever(self) -> None:
        while True:
            await asyncio.sleep(self.sweep_interval)
            try:
                await self.sweep()
            except asyncio.CancelledError:
                raise
            except Unavailable as exc:
                log.warning("presence_sweep_paused", error=exc.message)
            except Exception:
                log.exception("presence_sweep_failed")

    async def status(self, viewer: UUID, user_id: UUID) -> dict[str, Any]:
        """A user's presence, for themselves or someone sharing a room with them (else 404)."""
        async with self.db.read(viewer) as cur:
            if viewer != user_id and not await presence_queries.share_a_room(cur, viewer, user_id):
                raise NotFound("user not found")
        async with self.db.cursor() as cur:
            current = await presence_queries.get_presence(cur, user_id)
        online = bool(await self.live.online([str(user_id)]))
        return {
            "user_id": str(user_id),
            "status": "online" if online else "offline",
            "last_seen": current["last_seen"] if current else None,
        }
