"""The user directory: profiles by id, in batches, by name prefix; statuses; the impersonation
check that puts the real username beside a display name that copies someone else's.

Who a user may find by search (docs/api.md, Users): themselves, members of public rooms, and the
members of every room they are in (joined; invited: the room's members too), not those they
blocked. Profiles by id are public to signed-in users: ids are not guessable, and every message
and member list names its authors by id.
"""

from __future__ import annotations

import base64
from collections.abc import Iterable
from datetime import UTC, datetime
from typing import Any
from uuid import UUID

import orjson

from ..auth.names import normalize_username
from ..db import Database
from ..errors import NotFound, ValidationFailed
from ..events import EventStore, NewEvent
from ..events.types import EventType
from ..projections import people as people_queries
from .access import access_in

MAX_BATCH = 100


def _bad(field: str, message: str) -> ValidationFailed:
    return ValidationFailed("invalid request", details={field: [message]})


def _cursor(rank: int, name: str, uid: UUID) -> str:
    return base64.urlsafe_b64encode(orjson.dumps([rank, name, str(uid)])).decode().rstrip("=")


def _after(cursor: str | None) -> tuple[int, str, str] | None:
    if not cursor:
        return None
    try:
        rank, name, uid = orjson.loads(base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)))
        return int(rank), str(name), str(UUID(str(uid)))
    except (ValueError, TypeError, orjson.JSONDecodeError):
        raise _bad("cursor", "Not a cursor this route gave.") from None


class Directory:
    def __init__(self, db: Database, store: EventStore) -> None:
        self.db = db
        self.store = store

    async def people(self, viewer: UUID, ids: Iterable[UUID]) -> list[people_queries.Person]:
        """Existing users among `ids` (unknown and erased ones left out), in the order asked."""
        wanted = list(dict.fromkeys(ids))
        async with self.db.read(viewer) as cur:
            found = {
                p.id: p for p in await people_queries.with_collisions(cur, await people_queries.people(cur, wanted))
            }
        return [found[i] for i in wanted if i in found]

    async def get(self, viewer: UUID, user_id: UUID) -> people_queries.Person:
        found = await self.people(viewer, [user_id])
        if not found:
            raise NotFound("user not found")
        return found[0]

    async def batch(self, viewer: UUID, ids: list[UUID]) -> list[people_queries.Person]:
        if len(ids) > MAX_BATCH:
            raise _bad("ids", f"At most {MAX_BATCH} ids.")
        return await self.people(viewer, ids)

    async def search(
        self, viewer: UUID, q: str, limit: int, cursor: str | None
    ) -> tuple[list[people_queries.Person], str | None]:
        """Best first: exact username, username prefix, display name prefix, a later word of the
        display name; then by username."""
        q = q.strip().lstrip("@")
        if not q or len(q) > 64 or "\x00" in q:
            raise _bad("q", "Give 1-64 characters.")
        after = _after(cursor)
        async with self.db.read(viewer) as cur:
            rows = await people_queries.search(cur, viewer, normalize_username(q), q.lower(), limit + 1, after)
            people = await people_queries.with_collisions(cur, [p for _, _, p in rows])
        more = len(rows) > limit
        rank, name, last = rows[limit - 1] if more else (0, "", None)
        return people[:limit], _cursor(rank, name, last.id) if more and last else None

    async def set_status(self, user_id: UUID, text: str, emoji: str | None, expires_at: datetime | None) -> None:
        if expires_at is not None and expires_at <= datetime.now(UTC):
            raise _bad("expires_at", "Must be in the future.")
        data: dict[str, Any] = {
            "text": text,
            "emoji": emoji,
            "expires_at": expires_at.astimezone(UTC).isoformat() if expires_at else None,
        }
        await self.store.append(NewEvent(EventType.USER_STATUS_SET, user_id, data, actor_id=user_id))

    async def set_room_mentions(self, user_id: UUID, room_id: UUID, who: str) -> None:
        """Who may mention @room in a room: its admins (default) or every member. Admins only."""
        await self.set_room_settings(user_id, room_id, {"room_mentions": who})

    async def set_room_settings(self, user_id: UUID, room_id: UUID, changes: dict[str, Any]) -> None:
        """Change the settings named (room_mentions, link_previews); the others stay. Admins only;
        nothing named, nothing appended."""
        async with self.db.read(user_id) as cur:
            (await access_in(cur, user_id, room_id)).require_moderator()
        if changes:
            await self.store.append(NewEvent(EventType.ROOM_SETTINGS_CHANGED, room_id, changes, actor_id=user_id))

    async def room_settings(self, user_id: UUID, room_id: UUID) -> dict[str, Any]:
        async with self.db.read(user_id) as cur:
            (await access_in(cur, user_id, room_id)).require_read()
            return {"room_mentions": await people_queries.room_mentions(cur, room_id),
                    "link_previews": await people_queries.link_previews(cur, room_id)}  # fmt: skip
