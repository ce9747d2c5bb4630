"""Notifications: the list, marking read, per-room levels, do-not-disturb, blocking.

The projection is a follower of the log; after appending, a command catches it up itself (`sync`),
so its caller reads what it just did.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from typing import Any
from uuid import UUID

from ..db import Database
from ..errors import NotFound, ValidationFailed
from ..events import EventStore, NewEvent
from ..events.types import EventType
from ..projections import notifications as notification_queries
from .access import access_in

Sync = Callable[[], Awaitable[Any]]
LEVELS = ("all", "mentions", "muted")


class Notifications:
    def __init__(self, db: Database, store: EventStore, sync: Sync, users_exist: Any) -> None:
        self.db = db
        self.store = store
        self.sync = sync
        self.users_exist = users_exist

    async def _append(self, user_id: UUID, kind: str, data: dict[str, Any]) -> None:
        await self.store.append(NewEvent(kind, user_id, data, actor_id=user_id))
        await self.sync()

    # --- the list ---------------------------------------------------------------------------------
    async def page(
        self, user_id: UUID, *, before: int | None, limit: int, unread: bool
    ) -> tuple[list[notification_queries.Notification], int | None]:
        async with self.db.read(user_id) as cur:
            found = await notification_queries.page(cur, user_id, before=before, limit=limit + 1, unread=unread)
        more = len(found) > limit
        return found[:limit], found[limit - 1].message_id if more else None

    async def _exists(self, user_id: UUID, message_id: int) -> bool:
        async with self.db.read(user_id) as cur:
            return await notification_queries.exists(cur, user_id, message_id)

    async def mark_read(self, user_id: UUID, message_id: int) -> None:
        # the client may know the message from a room frame before the follower wrote its notification
        if not await self._exists(user_id, message_id) and (
            await self.sync() == 0 or not await self._exists(user_id, message_id)
        ):
            raise NotFound("notification not found", code="notification_not_found")
        await self._append(user_id, EventType.NOTIFICATION_READ, {"message_id": message_id})

    async def mark_all_read(self, user_id: UUID) -> None:
        await self.sync()  # "all" means all the log holds now, not what the follower reached
        async with self.db.read(user_id) as cur:
            newest = await notification_queries.newest_id(cur, user_id)
        if newest:
            await self._append(user_id, EventType.NOTIFICATION_READ_ALL, {"up_to": newest})

    async def mention_counts(self, user_id: UUID) -> dict[UUID, int]:
        async with self.db.read(user_id) as cur:
            return await notification_queries.mention_counts(cur, user_id)

    # --- settings ---------------------------------------------------------------------------------
    async def set_level(self, user_id: UUID, room_id: UUID, level: str) -> None:
        async with self.db.read(user_id) as cur:
            (await access_in(cur, user_id, room_id)).require_post()
        await self._append(user_id, EventType.NOTIFICATION_LEVEL_SET, {"room_id": str(room_id), "level": level})

    async def level(self, user_id: UUID, room_id: UUID) -> str:
        async with self.db.read(user_id) as cur:
            acc = (await access_in(cur, user_id, room_id)).require_read()
            chosen = (await notification_queries.levels(cur, user_id)).get(room_id)
        return chosen or ("all" if acc.room["type"] == "group" else "mentions")

    async def set_dnd(self, user_id: UUID, enabled: bool, until: datetime | None) -> None:
        if enabled and until is not None and until <= datetime.now(UTC):
            raise ValidationFailed("invalid request", details={"until": ["Must be in the future."]})
        value = None if not enabled else (until.astimezone(UTC).isoformat() if until else "infinity")
        await self._append(user_id, EventType.USER_DND_SET, {"until": value})

    async def dnd(self, user_id: UUID) -> dict[str, Any]:
        async with self.db.read(user_id) as cur:
            until = await notification_queries.dnd_until(cur, user_id)
        now = datetime.now(UTC)
        if until is None or until <= now:
            return {"enabled": False, "until": None}
        return {"enabled": True, "until": None if until.year > 9000 else until}

    # --- blocking ---------------------------------------------------------------------------------
    async def block(self, user_id: UUID, other: UUID) -> None:
        if other == user_id:
            raise ValidationFailed("invalid request", details={"user_id": ["You cannot block yourself."]})
        if not await self.users_exist([other]):
            raise NotFound("user not found")
        await self._append(user_id, EventType.USER_BLOCKED, {"user_id": str(other)})

    async def unblock(self, user_id: UUID, other: UUID) -> None:
        await self._append(user_id, EventType.USER_UNBLOCKED, {"user_id": str(other)})

    async def blocked(self, user_id: UUID) -> list[tuple[UUID, datetime]]:
        async with self.db.read(user_id) as cur:
            return await notification_queries.blocked(cur, user_id)

    async def blocked_ids(self, user_id: UUID) -> set[UUID]:
        return {u for u, _ in await self.blocked(user_id)}
