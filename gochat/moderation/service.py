"""Room moderation use cases: mutes, slow mode, message reports (any member flags; admins list,
resolve and act), pins. Each is an event on the room's stream, so a room's moderation history is a
query on the log (moderation/admin.py)."""

from __future__ import annotations

from datetime import datetime, timedelta
from uuid import UUID

from ..db import Database
from ..errors import Conflict, NotFound
from ..events import EventStore, NewEvent
from ..events.types import EventType
from ..projections import rooms as rooms_q
from ..projections.history import Message
from ..services.access import Access, access_in, room_access
from ..services.messages import MessageService
from ..services.rooms import RoomService
from . import projection as moderation_queries

DEFAULT_REPORT_MUTE_MINUTES = 60


class ModerationService:
    def __init__(self, db: Database, store: EventStore, messages: MessageService, rooms: RoomService) -> None:
        self.db = db
        self.store = store
        self.messages = messages
        self.rooms = rooms

    async def _moderator(self, actor: UUID, room_id: UUID) -> Access:
        return (await room_access(self.db, actor, room_id)).require_read().require_moderator()

    async def _target(self, actor: UUID, room_id: UUID, target: UUID) -> None:
        """The actor moderates the room and outranks the target, a member of it."""
        async with self.db.read(actor) as cur:
            acc = (await access_in(cur, actor, room_id)).require_read().require_moderator()
            member = await rooms_q.get_membership(cur, room_id, target)
        if target == actor:
            raise Conflict("you cannot moderate yourself", code="self_moderation")
        if member is None or member["state"] != "joined":
            raise NotFound("that user is not a member of this room", code="not_a_member")
        if not acc.outranks(member["role"]):
            raise Conflict("that member's role is not below yours", code="insufficient_role")

    # --- mutes and slow mode ----------------------------------------------------------------------
    async def mute(self, actor: UUID, room_id: UUID, target: UUID, minutes: int) -> datetime:
        await self._target(actor, room_id, target)
        data = {"user_id": str(target), "minutes": minutes}
        result = await self.store.append_one(NewEvent(EventType.MEMBER_MUTED, room_id, data, actor_id=actor))
        return result.event.recorded_at + timedelta(minutes=minutes)

    async def unmute(self, actor: UUID, room_id: UUID, target: UUID) -> None:
        await self._moderator(actor, room_id)
        async with self.db.cursor() as cur:
            muted = (await moderation_queries.room_rules(cur, room_id)).muted_until
        if target not in muted:
            raise NotFound("that user is not muted here", code="not_muted")
        await self.store.append_one(
            NewEvent(EventType.MEMBER_UNMUTED, room_id, {"user_id": str(target)}, actor_id=actor)
        )

    async def mutes(self, actor: UUID, room_id: UUID) -> dict[UUID, datetime]:
        await self._moderator(actor, room_id)
        async with self.db.cursor() as cur:
            return (await moderation_queries.room_rules(cur, room_id)).muted_until

    async def set_slow_mode(self, actor: UUID, room_id: UUID, seconds: int) -> None:
        await self._moderator(actor, room_id)
        await self.store.append_one(
            NewEvent(EventType.ROOM_SLOW_MODE_SET, room_id, {"seconds": seconds}, actor_id=actor)
        )

    # --- reports -------------------------------------------------------------------------------------
    async def report(self, actor: UUID, room_id: UUID, message_id: int, reason: str) -> moderation_queries.Report:
        """Any member flags a message of the room (its existence checked as the member sees it)."""
        (await room_access(self.db, actor, room_id)).require_post()
        await self.messages.get(actor, room_id, message_id)
        data = {"message_id": message_id, "reason": reason}
        result = await self.store.append_one(NewEvent(EventType.MESSAGE_REPORTED, room_id, data, actor_id=actor))
        async with self.db.cursor() as cur:
            found = await moderation_queries.get_report(cur, room_id, result.event.id)
        assert found is not None, "the moderation projection is inline"
        return found

    async def reports(
        self, actor: UUID, room_id: UUID, state: str | None, limit: int
    ) -> list[moderation_queries.Report]:
        await self._moderator(actor, room_id)
        async with self.db.cursor() as cur:
            return await moderation_queries.reports(cur, room_id, state, limit)

    async def resolve(
        self, actor: UUID, room_id: UUID, report_id: int, action: str, minutes: int | None = None
    ) -> moderation_queries.Report:
        """Close a report, acting on the reported message or its author first: `dismiss`, `delete`
        (the message), `mute` (its author, `minutes`), `kick` or `ban` (its author)."""
        await self._moderator(actor, room_id)
        async with self.db.cursor() as cur:
            report = await moderation_queries.get_report(cur, room_id, report_id)
        if report is None:
            raise NotFound("report not found", code="report_not_found")
        if report.state != "open":
            raise Conflict("that report is already resolved", code="report_resolved")
        if action != "dismiss":
            message = await self.messages.get(actor, room_id, report.message_id)
            await self._act(actor, room_id, message, action, minutes or DEFAULT_REPORT_MUTE_MINUTES)
        data = {"report_id": report_id, "action": action}
        await self.store.append_one(NewEvent(EventType.REPORT_RESOLVED, room_id, data, actor_id=actor))
        async with self.db.cursor() as cur:
            resolved = await moderation_queries.get_report(cur, room_id, report_id)
        assert resolved is not None
        return resolved

    async def _act(self, actor: UUID, room_id: UUID, message: Message, action: str, minutes: int) -> None:
        if action == "delete":
            await self.messages.delete(actor, room_id, message.id)
            return
        author = message.user_id
        if author is None:  # an erased author: nobody left to act on
            raise Conflict("the message's author no longer exists", code="author_erased")
        if action == "mute":
            await self.mute(actor, room_id, author, minutes)
        elif action == "kick":
            await self.rooms.kick(actor, room_id, author)
        elif action == "ban":
            await self.rooms.ban(actor, room_id, author, "reported message")

    # --- pins -----------------------------------------------------------------------------------------
    async def pin(self, actor: UUID, room_id: UUID, message_id: int) -> None:
        await self._moderator(actor, room_id)
        message = await self.messages.get(actor, room_id, message_id)
        if message.deleted:
            raise Conflict("that message was deleted", code="message_deleted")
        async with self.db.cursor() as cur:
            if message_id in await moderation_queries.pinned_ids(cur, room_id):
                return
        await self.store.append_one(
            NewEvent(EventType.MESSAGE_PINNED, room_id, {"message_id": message_id}, actor_id=actor)
        )

    async def unpin(self, actor: UUID, room_id: UUID, message_id: int) -> None:
        await self._moderator(actor, room_id)
        async with self.db.cursor() as cur:
            if message_id not in await moderation_queries.pinned_ids(cur, room_id):
                raise NotFound("that message is not pinned", code="not_pinned")
        await self.store.append_one(
            NewEvent(EventType.MESSAGE_UNPINNED, room_id, {"message_id": message_id}, actor_id=actor)
        )

    async def pins(self, actor: UUID, room_id: UUID) -> list[Message]:
        """The pinned messages, newest pin first, as the caller may read them (tombstones left out)."""
        (await room_access(self.db, actor, room_id)).require_read()
        async with self.db.read(actor) as cur:
            ids = await moderation_queries.pinned_ids(cur, room_id)
        found = [await self.messages.get(actor, room_id, i) for i in ids]
        return [m for m in found if not m.deleted]
