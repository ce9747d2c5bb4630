"""The one place that decides what a user may do in a room.

Every read path and every command asks `room_access`; row-level security in PostgreSQL enforces the
read side again underneath. A room a user may not see is reported as NotFound, never Forbidden,
so its existence does not leak.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any
from uuid import UUID

from ..db import Cursor, Database
from ..errors import Forbidden, NotFound
from ..projections import rooms as room_queries

ROLE_RANK = {"member": 0, "admin": 1, "owner": 2}


@dataclass(frozen=True, slots=True)
class Access:
    user_id: UUID
    room: dict[str, Any]
    state: str | None  # joined | invited | banned | None
    role: str | None
    since_id: int | None

    @property
    def room_id(self) -> UUID:
        return UUID(str(self.room["id"]))

    @property
    def joined(self) -> bool:
        return self.state == "joined"

    @property
    def can_read(self) -> bool:
        return self.joined or (self.room["type"] == "public" and self.state != "banned")

    @property
    def can_post(self) -> bool:
        return self.joined

    @property
    def can_moderate(self) -> bool:
        return self.joined and ROLE_RANK.get(self.role or "", 0) >= ROLE_RANK["admin"]

    def outranks(self, other_role: str | None) -> bool:
        return ROLE_RANK.get(self.role or "", -1) > ROLE_RANK.get(other_role or "member", 0)

    def require_read(self) -> Access:
        if not self.can_read:
            raise (
                NotFound("room not found")
                if self.room["type"] != "public"
                else Forbidden("you are banned from this room", code="banned")
            )
        return self

    def require_post(self) -> Access:
        if not self.can_post:
            if self.room["type"] != "public" and self.state != "invited":
                raise NotFound("room not found")
            code = "banned" if self.state == "banned" else "not_a_member"
            raise Forbidden("join the room before posting", code=code)
        return self

    def require_moderator(self) -> Access:
        if not self.can_moderate:
            raise Forbidden("room admins only", code="not_an_admin")
        return self


async def access_in(cur: Cursor, user_id: UUID, room_id: UUID) -> Access:
    """Access on an open `Database.read(user_id)` cursor (the room must be visible to the user)."""
    room = await room_queries.get_room(cur, room_id)
    if room is None:
        raise NotFound("room not found")
    member = await room_queries.get_membership(cur, room_id, user_id)
    if member is None:
        return Access(user_id, room, None, None, None)
    return Access(user_id, room, member["state"], member["role"], member["since_id"])


async def room_access(db: Database, user_id: UUID, room_id: UUID) -> Access:
    async with db.read(user_id) as cur:
        return await access_in(cur, user_id, room_id)
