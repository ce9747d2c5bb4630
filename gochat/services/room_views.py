"""Room queries for the HTTP views: one room with its members, and the public directory."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any
from uuid import UUID

from ..db import Database
from ..projections import rooms as room_queries
from .access import Access, access_in


@dataclass(frozen=True, slots=True)
class RoomDetail:
    access: Access
    members: list[dict[str, Any]]


class RoomViews:
    def __init__(self, db: Database) -> None:
        self.db = db

    async def detail(self, user_id: UUID, room_id: UUID) -> RoomDetail:
        """Readers and invited users see the room and its members; others get access's refusal."""
        async with self.db.read(user_id) as cur:
            acc = await access_in(cur, user_id, room_id)
            if acc.state != "invited":
                acc.require_read()
            return RoomDetail(acc, await room_queries.list_members(cur, room_id))

    async def directory(self, user_id: UUID, name: str | None, limit: int, after: str | None) -> list[dict[str, Any]]:
        async with self.db.read(user_id) as cur:
            return await room_queries.public_directory(cur, name, limit, after)


def directory_cursor(room: dict[str, Any]) -> str:
    """The `after` that continues the directory past this room (see rooms.public_directory)."""
    return f"{str(room['name']).lower()}|{room['id']}"
