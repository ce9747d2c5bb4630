"""Time travel: a room as it was at a past position or time of the log, for its admins.

Admins and owners only (as they are now): the past state shows what members saw then, including
messages deleted since, which is moderation material. What erased users wrote stays blank.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any
from uuid import UUID

from ..db import Database
from ..errors import ValidationFailed
from ..events import EventStore
from ..projections import asof
from ..projections.history import Message
from .access import access_in


@dataclass(frozen=True, slots=True)
class RoomThen:
    room: asof.RoomState
    members: list[dict[str, Any]]  # joined members: user_id, role, joined_at
    messages: list[Message]  # ascending
    has_more: bool  # older messages exist (ask again with before=messages[0].id)
    at: asof.Point


def _invalid_at(reason: str) -> ValidationFailed:
    return ValidationFailed("invalid query", details={"at": [reason]})


class TimeTravel:
    def __init__(self, db: Database, store: EventStore) -> None:
        self.db = db
        self.store = store

    async def room(
        self, user_id: UUID, room_id: UUID, at: int | datetime, *, before: int | None = None, limit: int = 100
    ) -> RoomThen:
        async with self.db.read(user_id) as cur:
            (await access_in(cur, user_id, room_id)).require_moderator()
        # The log has no row-level security: the access check above is the gate.
        async with self.db.cursor() as cur:
            point = await asof.point(cur, room_id, at)
            if point is None:
                raise _invalid_at("No event at that position." if isinstance(at, int) else "Before the room existed.")
            erased = await asof.erasures(cur)
            room = await asof.room_at(cur, self.store, room_id, point.id, erased)
            if room is None:
                raise _invalid_at("Before the room existed.")
            messages, has_more = await asof.messages_at(
                cur, self.store, room_id, point.id, erased, user_id, before=before, limit=limit
            )
        return RoomThen(room, room.joined(), messages, has_more, point)
