"""Projection "receipts": each joined member's read marker and unread count (rules in
sql/migrations/080_unread_counters.sql), plus the caller's room list that GET /rooms serves.

An unread count is the room's live-message count minus the member's `seen_count` (the live messages
at or below the marker), so a message writes its room's counter and its author's receipt, not every
member's. The receipts table lists exactly the joined members of each room, so this projection needs
no membership table of its own. Receipts and deletions read `messages` (owned by "history"), always
bounded to what was true at the event being applied (`id < event`, `deleted_id` compared with it),
so they give the same answer whether history is level with this projection (inline: history applies
each batch first) or far ahead of it (a rebuild catches history up first). History must therefore
come before receipts in `all_projections()`.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any
from uuid import UUID

import orjson

from ..db import Cursor, Executor
from ..events.model import RecordedEvent
from ..events.types import EventType
from .base import Projection
from .history import COLUMNS as MESSAGE_COLUMNS
from .history import REACTIONS, Message, message_row
from .rooms import ROOM_COLUMNS, room_row
from .runs import apply_in_runs

_LIVE = "coalesce((SELECT live_count FROM room_message_counts WHERE room_id = %(room)s), 0)"
# Forward only: seen_count is the live count less the live messages after the new marker, as of this
# event (a window no larger than the badge it replaces). A marker never passes the read itself (the
# service only reads to existing messages; a log may hold anything), so later posts land above it.
_READ = f"""
UPDATE receipts r SET last_read_id = least(%(to)s, %(event)s),
    seen_count = {_LIVE} - (SELECT count(*) FROM messages m
                            WHERE m.room_id = r.room_id AND m.id > least(%(to)s, %(event)s) AND m.id < %(event)s
                              AND (m.deleted_id IS NULL OR m.deleted_id > %(event)s))
WHERE r.room_id = %(room)s AND r.user_id = %(user)s AND r.last_read_id < least(%(to)s, %(event)s)
"""
# Only if this very event made the tombstone (a repeated delete changes nothing).
_DELETED = """
WITH m AS (SELECT id FROM messages WHERE room_id = %(room)s AND id = %(id)s AND deleted_id = %(event)s),
c AS (UPDATE room_message_counts SET live_count = live_count - 1
      WHERE room_id = %(room)s AND EXISTS (SELECT 1 FROM m))
UPDATE receipts r SET seen_count = r.seen_count - 1
FROM m WHERE r.room_id = %(room)s AND r.last_read_id >= m.id
"""
_JOINED = f"""
INSERT INTO receipts (room_id, user_id, last_read_id, seen_count)
VALUES (%(room)s, %(user)s,
        coalesce((SELECT max(id) FROM messages WHERE room_id = %(room)s AND id < %(event)s), 0), {_LIVE})
ON CONFLICT (room_id, user_id) DO NOTHING
"""
_GONE = "DELETE FROM receipts WHERE room_id = %(room)s AND user_id = %(user)s"
# As message.deleted, for every message the erasure tombstoned (history applied it first); then the
# erased user's own markers go.
_ERASED = """
WITH x AS (SELECT room_id, id FROM messages WHERE user_id = %(user)s AND deleted_id = %(event)s),
c AS (UPDATE room_message_counts rc SET live_count = rc.live_count - n.n
      FROM (SELECT room_id, count(*) AS n FROM x GROUP BY room_id) n WHERE rc.room_id = n.room_id)
UPDATE receipts r SET seen_count = r.seen_count - y.n
FROM (SELECT rc.room_id, rc.user_id, count(*) AS n FROM receipts rc
      JOIN x ON x.room_id = rc.room_id AND x.id <= rc.last_read_id
      WHERE rc.user_id <> %(user)s GROUP BY 1, 2) y
WHERE r.room_id = y.room_id AND r.user_id = y.user_id;
DELETE FROM receipts WHERE user_id = %(user)s
"""
# A member's unread count, from their receipt `rc` and their room's counter `c`.
UNREAD = "coalesce(c.live_count, 0) - rc.seen_count"


class ReceiptsProjection(Projection):
    name = "receipts"
    tables = ("receipts", "room_message_counts")
    posted_function = "gochat_receipts_posted"
    handles = frozenset(
        {
            EventType.MESSAGE_POSTED,
            EventType.MESSAGE_DELETED,
            EventType.RECEIPT_READ,
            EventType.MEMBER_JOINED,
            EventType.MEMBER_LEFT,
            EventType.MEMBER_KICKED,
            EventType.MEMBER_BANNED,
            EventType.USER_ERASED,
        }
    )

    async def apply_batch(self, cur: Executor, events: Sequence[RecordedEvent]) -> None:
        await apply_in_runs(self, cur, events, EventType.MESSAGE_POSTED, self._posted)

    async def apply(self, cur: Executor, e: RecordedEvent) -> None:
        params: dict[str, Any] = {"room": e.stream_id, "event": e.id}
        match e.type:
            case EventType.MESSAGE_POSTED:
                await self._posted(cur, [e])
            case EventType.RECEIPT_READ if e.actor_id is not None:
                await cur.execute(_READ, {**params, "user": e.actor_id, "to": e.data["message_id"]})
            case EventType.MESSAGE_DELETED:
                await cur.execute(_DELETED, {**params, "id": e.data["message_id"]})
            case EventType.MEMBER_JOINED:
                await cur.execute(_JOINED, {**params, "user": e.data["user_id"]})
            case EventType.MEMBER_LEFT | EventType.MEMBER_KICKED | EventType.MEMBER_BANNED:
                await cur.execute(_GONE, {**params, "user": e.data["user_id"]})
            case EventType.USER_ERASED:
                await cur.execute(_ERASED, {**params, "user": e.stream_id})

    @staticmethod
    async def _posted(cur: Executor, events: Sequence[RecordedEvent]) -> None:
        # the run's rules are gochat_receipts_posted's (sql/functions/)
        rows = [{"room_id": e.stream_id, "id": e.id, "user_id": e.actor_id} for e in events]
        await cur.execute("SELECT gochat_receipts_posted(%s::jsonb)", (orjson.dumps(rows).decode(),))


# --- read queries (inside Database.read(user): row-level security applies) -----------------------
@dataclass(frozen=True, slots=True)
class Receipt:
    last_read_id: int
    unread_count: int


async def get_receipt(cur: Cursor, room_id: UUID, user_id: UUID) -> Receipt | None:
    await cur.execute(
        f"SELECT rc.last_read_id, {UNREAD} FROM receipts rc LEFT JOIN room_message_counts c ON c.room_id = rc.room_id"
        " WHERE rc.room_id = %s AND rc.user_id = %s",
        (room_id, user_id),
    )
    row = await cur.fetchone()
    return Receipt(*row) if row else None


@dataclass(frozen=True, slots=True)
class RoomEntry:
    """One room of the caller's room list."""

    room: dict[str, Any]
    role: str
    receipt: Receipt
    last_message: Message | None


async def my_rooms(cur: Cursor, user_id: UUID) -> list[RoomEntry]:
    """The rooms the user has joined, most recent activity first, each with the user's marker and
    unread count and the room's newest message: primary-key lookups per room, no counting."""
    await cur.execute(
        f"SELECT {ROOM_COLUMNS}, mb.role, coalesce(rc.last_read_id, 0),"
        f" CASE WHEN rc.room_id IS NULL THEN 0 ELSE {UNREAD} END,"
        f" {MESSAGE_COLUMNS}, {REACTIONS}"
        " FROM memberships mb"
        " JOIN rooms r ON r.id = mb.room_id"
        " LEFT JOIN receipts rc ON rc.room_id = mb.room_id AND rc.user_id = mb.user_id"
        " LEFT JOIN room_message_counts c ON c.room_id = mb.room_id"
        " LEFT JOIN messages m ON m.room_id = r.id AND m.id = r.last_message_id"
        " WHERE mb.user_id = %(viewer)s AND mb.state = 'joined'"
        " ORDER BY coalesce(r.last_message_id, 0) DESC, r.created_at DESC, r.id",
        {"viewer": user_id},
    )
    n = len(ROOM_COLUMNS.split(","))
    return [
        RoomEntry(
            room_row(row[:n]),
            row[n],
            Receipt(row[n + 1], row[n + 2]),
            message_row(row[n + 3 :]) if row[n + 3] is not None else None,
        )
        for row in await cur.fetchall()
    ]
