"""Direct messages: the one room of two people.

A DM is a group room of exactly those two (services/rooms.py): its id is uuid5 of the sorted pair,
created with NO_STREAM, so two people opening it at once race on one stream and both get the same
room. Creating a group of the same two through POST /rooms gives that same room.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any
from uuid import UUID

from ..db import Database
from ..errors import Forbidden, NotFound, ValidationFailed
from ..projections import notifications as notification_queries
from ..projections import rooms as room_queries
from .rooms import RoomService

DM_NAME = "Direct message"


@dataclass(frozen=True, slots=True)
class DirectRoom:
    room: dict[str, Any]
    other: UUID


class DirectMessages:
    def __init__(self, db: Database, rooms: RoomService) -> None:
        self.db = db
        self.rooms = rooms

    async def open(self, user_id: UUID, other: UUID) -> tuple[dict[str, Any], bool]:
        """The pair's room and whether this call created it."""
        if other == user_id:
            raise ValidationFailed("invalid request", details={"user_id": ["Message someone else."]})
        if not await self.rooms.users_exist([other]):
            raise NotFound("user not found")
        # the owner's view: whether the other side blocked the caller is theirs, and RLS hides it
        async with self.db.cursor() as cur:
            if await notification_queries.blocks_between(cur, user_id, other):
                raise Forbidden("one of you blocked the other", code="blocked")
        return await self.rooms.create(user_id, name=DM_NAME, type_="group", members=[other])

    async def list(self, user_id: UUID) -> list[DirectRoom]:
        """The caller's DMs, most recently active first."""
        async with self.db.read(user_id) as cur:
            await cur.execute(
                f"SELECT {room_queries.ROOM_COLUMNS}, o.user_id FROM memberships m JOIN rooms r ON r.id = m.room_id"
                " JOIN memberships o ON o.room_id = r.id AND o.user_id <> m.user_id AND o.state = 'joined'"
                " WHERE m.user_id = %s AND m.state = 'joined' AND r.type = 'group' AND r.group_key NOT LIKE '%%,%%,%%'"
                " ORDER BY r.last_message_id DESC NULLS LAST, r.created_at DESC",
                (user_id,),
            )
            return [DirectRoom(room_queries.room_row(row[:-1]), row[-1]) for row in await cur.fetchall()]
