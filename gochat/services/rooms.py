"""Room commands: create, update, join, leave, invite (accept, decline), kick, ban, unban, change role.

Nobody is put into a public or private room without consent: naming others at creation, or adding
them later, invites them (`member.invited`); the room is theirs once they accept (`member.joined`,
by themselves) and the invitation gone once they decline (`member.declined`). Group rooms (DMs)
are a fixed member set named at creation, so their members are joined at once.
"""

from __future__ import annotations

import uuid
from collections.abc import Awaitable, Callable, Iterable
from typing import Any
from uuid import UUID

from ..db import Database
from ..errors import Conflict, Forbidden, NotFound, ValidationFailed, VersionConflict
from ..events import NO_STREAM, EventStore, NewEvent
from ..events.types import EventType
from ..projections import notifications as notification_queries
from ..projections import rooms as room_queries
from .access import access_in, room_access

# Group rooms are identified by their member set: the same set always maps to the same room id, so
# two people creating "the same DM" at once race on one stream and the store's version check decides.
GROUP_NAMESPACE = uuid.UUID("6f1c1d2e-6b0a-4a52-9a57-0c5b8a9f1e21")
MAX_GROUP_MEMBERS = 50
MAX_INITIAL_MEMBERS = 500

UsersExist = Callable[[Iterable[UUID]], Awaitable[set[UUID]]]


class RoomService:
    def __init__(self, db: Database, store: EventStore, users_exist: UsersExist) -> None:
        self.db = db
        self.store = store
        self.users_exist = users_exist

    async def _room(self, user_id: UUID, room_id: UUID) -> dict[str, Any]:
        async with self.db.read(user_id) as cur:
            room = await room_queries.get_room(cur, room_id)
        if room is None:
            raise NotFound("room not found")
        return room

    async def _check_users(self, ids: Iterable[UUID]) -> None:
        wanted = set(ids)
        missing = wanted - await self.users_exist(wanted)
        if missing:
            raise ValidationFailed(
                "unknown users", details={"members": [f"unknown user {m}" for m in sorted(map(str, missing))]}
            )

    async def create(
        self,
        user_id: UUID,
        *,
        name: str,
        type_: str,
        topic: str = "",
        members: Iterable[UUID] = (),
        encrypted: bool = False,
    ) -> tuple[dict[str, Any], bool]:
        """The new room and True, or for a group that already exists, that room and False."""
        others = {m for m in members if m != user_id}
        if len(others) > (MAX_GROUP_MEMBERS if type_ == "group" else MAX_INITIAL_MEMBERS):
            raise ValidationFailed("too many members", details={"members": ["Too many members."]})
        await self._check_users(others)
        await self._refuse_blocked(user_id, others)
        if type_ == "group":
            everyone = sorted(str(m) for m in others | {user_id})
            if len(everyone) < 2:
                raise ValidationFailed(
                    "a group needs another member", details={"members": ["Add at least one member."]}
                )
            room_id = uuid.uuid5(GROUP_NAMESPACE, ",".join(everyone))
            data: dict[str, Any] = {"name": name, "type": type_, "topic": topic, "members": everyone}
        else:
            room_id = uuid.uuid4()
            data = {"name": name, "type": type_, "topic": topic}
        if encrypted:
            data["encrypted"] = True
        events = [NewEvent(EventType.ROOM_CREATED, room_id, data, actor_id=user_id, expected_version=NO_STREAM)]
        events.append(
            NewEvent(EventType.MEMBER_JOINED, room_id, {"user_id": str(user_id), "role": "owner"}, actor_id=user_id)
        )
        events += [
            NewEvent(EventType.MEMBER_JOINED, room_id, {"user_id": str(m), "role": "member"}, actor_id=user_id)
            if type_ == "group"
            else self._invited(room_id, m, user_id)
            for m in sorted(others, key=str)
        ]
        try:
            await self.store.append(*events)
        except VersionConflict:
            if type_ != "group":
                raise
            return await self._room(user_id, room_id), False
        return await self._room(user_id, room_id), True

    async def update(self, user_id: UUID, room_id: UUID, changes: dict[str, str]) -> dict[str, Any]:
        (await room_access(self.db, user_id, room_id)).require_moderator()
        if changes:
            await self.store.append(NewEvent(EventType.ROOM_UPDATED, room_id, changes, actor_id=user_id))
        return await self._room(user_id, room_id)

    async def join(self, user_id: UUID, room_id: UUID) -> dict[str, Any]:
        acc = await room_access(self.db, user_id, room_id)
        if acc.joined:
            return acc.room
        if acc.state == "banned":
            raise Forbidden("you are banned from this room", code="banned")
        if acc.room["type"] == "group":
            raise Forbidden("group rooms have a fixed member set", code="fixed_membership")
        if acc.room["type"] == "private" and acc.state != "invited":
            raise NotFound("room not found")
        await self.store.append(self._joined(room_id, user_id, user_id, "member"))
        return await self._room(user_id, room_id)

    async def ensure_member(self, user_id: UUID, room_id: UUID) -> None:
        """A subscription (WebSocket `?room_id=` or a `join` frame) means membership: a public room
        is joined on the way; a room the user cannot read is a 404 (403 `banned` for a public one)."""
        acc = await room_access(self.db, user_id, room_id)
        if acc.joined:
            return
        if not acc.can_read:
            raise NotFound("room not found") if acc.room["type"] != "public" else Forbidden("banned", code="banned")
        await self.join(user_id, room_id)

    async def leave(self, user_id: UUID, room_id: UUID) -> None:
        acc = await room_access(self.db, user_id, room_id)
        if acc.state == "invited":
            await self.decline(user_id, room_id)
            return
        if acc.state != "joined":
            raise Conflict("you are not a member of this room", code="not_a_member")
        if acc.room["type"] == "group" and acc.joined:
            raise Forbidden("group rooms have a fixed member set", code="fixed_membership")
        events = [NewEvent(EventType.MEMBER_LEFT, room_id, {"user_id": str(user_id)}, actor_id=user_id)]
        if acc.role == "owner":
            events += await self._successor(user_id, room_id)
        await self.store.append(*events)

    async def _successor(self, owner: UUID, room_id: UUID) -> list[NewEvent]:
        """A departing last owner hands the room to its longest-standing admin, else member."""
        async with self.db.read(owner) as cur:
            members = await room_queries.list_members(cur, room_id)
        if any(m["role"] == "owner" and m["user_id"] != owner for m in members):
            return []
        rest = [m for m in members if m["user_id"] != owner]
        if not rest:
            return []
        heir = next((m for m in rest if m["role"] == "admin"), rest[0])
        return [
            NewEvent(
                EventType.MEMBER_ROLE_CHANGED,
                room_id,
                {"user_id": str(heir["user_id"]), "role": "owner"},
                actor_id=owner,
            )
        ]

    async def add_member(self, actor: UUID, room_id: UUID, target: UUID) -> str:
        """Invite a user (members of a public room, admins of a private one); returns the target's
        resulting state: `invited`, or `joined` for someone already in."""
        acc = await room_access(self.db, actor, room_id)
        acc.require_post()
        if acc.room["type"] == "group":
            raise Forbidden("group rooms have a fixed member set", code="fixed_membership")
        if acc.room["type"] == "private":
            acc.require_moderator()
        await self._check_users([target])
        current = await self._target_state(actor, room_id, target)
        if current in ("joined", "invited"):
            return current
        if current == "banned":
            raise Conflict("that user is banned from this room; unban them first", code="banned")
        await self._refuse_blocked(actor, [target])
        await self.store.append(self._invited(room_id, target, actor))
        return "invited"

    async def accept(self, user_id: UUID, room_id: UUID) -> dict[str, Any]:
        """Accept an invitation: join the room."""
        await self._invitation(user_id, room_id)
        await self.store.append(self._joined(room_id, user_id, user_id, "member"))
        return await self._room(user_id, room_id)

    async def decline(self, user_id: UUID, room_id: UUID) -> None:
        await self._invitation(user_id, room_id)
        await self.store.append(
            NewEvent(EventType.MEMBER_DECLINED, room_id, {"user_id": str(user_id)}, actor_id=user_id)
        )

    async def invitations(self, user_id: UUID) -> list[dict[str, Any]]:
        async with self.db.read(user_id) as cur:
            return await room_queries.invitations(cur, user_id)

    async def _invitation(self, user_id: UUID, room_id: UUID) -> None:
        """404 unless the user holds an invitation to the room (a private room stays unknown)."""
        try:
            acc = await room_access(self.db, user_id, room_id)
        except NotFound:
            raise NotFound("no invitation to that room", code="no_invitation") from None
        if acc.state != "invited":
            raise NotFound("no invitation to that room", code="no_invitation")

    async def kick(self, actor: UUID, room_id: UUID, target: UUID) -> None:
        state = await self._moderate(actor, room_id, target)
        if state not in ("joined", "invited"):
            raise NotFound("that user is not a member of this room", code="not_a_member")
        await self.store.append(NewEvent(EventType.MEMBER_KICKED, room_id, {"user_id": str(target)}, actor_id=actor))

    async def ban(self, actor: UUID, room_id: UUID, target: UUID, reason: str = "") -> None:
        state = await self._moderate(actor, room_id, target)
        if state == "banned":
            return
        await self._check_users([target])
        data = {"user_id": str(target), "reason": reason}
        await self.store.append(NewEvent(EventType.MEMBER_BANNED, room_id, data, actor_id=actor))

    async def unban(self, actor: UUID, room_id: UUID, target: UUID) -> None:
        acc = await room_access(self.db, actor, room_id)
        acc.require_moderator()
        if await self._target_state(actor, room_id, target) != "banned":
            raise NotFound("that user is not banned", code="not_banned")
        await self.store.append(NewEvent(EventType.MEMBER_UNBANNED, room_id, {"user_id": str(target)}, actor_id=actor))

    async def set_role(self, actor: UUID, room_id: UUID, target: UUID, role: str) -> None:
        acc = await room_access(self.db, actor, room_id)
        if acc.role != "owner":
            raise Forbidden("only the owner changes roles", code="not_the_owner")
        if await self._target_state(actor, room_id, target) != "joined":
            raise NotFound("that user is not a member of this room", code="not_a_member")
        data = {"user_id": str(target), "role": role}
        await self.store.append(NewEvent(EventType.MEMBER_ROLE_CHANGED, room_id, data, actor_id=actor))

    async def _refuse_blocked(self, actor: UUID, others: Iterable[UUID]) -> None:
        """Nobody is put into a group with, or invited by, someone either side blocked (as DMs)."""
        # the owner's view: whether the other side blocked the caller is theirs, and RLS hides it
        async with self.db.cursor() as cur:
            for other in others:
                if await notification_queries.blocks_between(cur, actor, other):
                    raise Forbidden("one of you blocked the other", code="blocked")

    async def _moderate(self, actor: UUID, room_id: UUID, target: UUID) -> str | None:
        """Check the actor may moderate the target; returns the target's membership state."""
        async with self.db.read(actor) as cur:
            acc = (await access_in(cur, actor, room_id)).require_moderator()
            member = await room_queries.get_membership(cur, room_id, target)
        if acc.room["type"] == "group":
            raise Forbidden("group rooms have a fixed member set", code="fixed_membership")
        if target == actor:
            raise Conflict("use leave to leave a room", code="self_moderation")
        role = member["role"] if member else None
        if member and member["state"] == "joined" and not acc.outranks(role):
            raise Forbidden("you cannot moderate someone of equal or higher role", code="insufficient_role")
        return member["state"] if member else None

    async def _target_state(self, actor: UUID, room_id: UUID, target: UUID) -> str | None:
        async with self.db.read(actor) as cur:
            member = await room_queries.get_membership(cur, room_id, target)
        return member["state"] if member else None

    @staticmethod
    def _invited(room_id: UUID, user_id: UUID, actor: UUID) -> NewEvent:
        return NewEvent(EventType.MEMBER_INVITED, room_id, {"user_id": str(user_id)}, actor_id=actor)

    @staticmethod
    def _joined(room_id: UUID, user_id: UUID, actor: UUID, role: str) -> NewEvent:
        return NewEvent(EventType.MEMBER_JOINED, room_id, {"user_id": str(user_id), "role": role}, actor_id=actor)
