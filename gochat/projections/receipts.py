"""Projection "receipts": each joined member's read marker and unread count (rules in
sql/030_messages.sql), plus the caller's room list that GET /rooms serves.

The receipts table lists exactly the joined members of each room, so this projection needs no
membership table of its own. Recounts and deletions read `messages` (owned by "history"), always
bounded to what was true at the event being applied (`id < event`, `deleted_id` compared with
it), so they give the same answer whether history is level with this projection (inline: history
applies each batch first) or far ahead of it (a rebuild catches history up first). History must
therefore come before receipts in `all_projections()`.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any
from uuid import UUID

import orjson

from ..db import Cursor, Executor
from ..events.model import RecordedEvent
from .base import Projection
from .history import COLUMNS as MESSAGE_COLUMNS
from .history import REACTIONS, Message, message_row
from .rooms import ROOM_COLUMNS, room_row
from .runs import apply_in_runs

# A run of posts, set-based. For each member of a room in the run: if they posted, their marker
# moves to their last post and their count restarts at 0; either way every post of the run after
# their (new) marker adds one. Only the posters can have a marker inside the run, so everyone else
# takes the cheap branch (the whole run of the room). LIMIT <the run's length> tells the planner
# how many rows the set-returning function yields: assuming its default 100 rooms, it chose to scan
# all of receipts (twice) for each run while the table was a few thousand rows; that scan, under the
# writers' lock, grew with the table and its dead rows (`rebuild all` of 1M events: 1,051 s).
_POSTED = """
WITH p AS (SELECT * FROM jsonb_to_recordset(%s::jsonb) AS p(room uuid, id bigint, author uuid) LIMIT %s),
rs AS (SELECT room, min(id) AS first, count(*) AS n FROM p GROUP BY room),
own AS (SELECT room, author, max(id) AS last FROM p WHERE author IS NOT NULL GROUP BY room, author),
t AS (SELECT r.room_id, r.user_id, greatest(r.last_read_id, o.last) AS marker, o.last IS NOT NULL AS posted,
             rs.first, rs.n
      FROM rs JOIN receipts r ON r.room_id = rs.room
      LEFT JOIN own o ON o.room = r.room_id AND o.author = r.user_id)
UPDATE receipts r SET last_read_id = t.marker,
    unread_count = CASE WHEN t.posted THEN 0 ELSE r.unread_count END
        + CASE WHEN t.marker < t.first THEN t.n
               ELSE (SELECT count(*) FROM p WHERE p.room = t.room_id AND p.id > t.marker) END
FROM t WHERE r.room_id = t.room_id AND r.user_id = t.user_id
"""
# Forward only; the count is redone over the window after the new marker, as of this event.
_READ = """
UPDATE receipts r SET last_read_id = %(to)s,
    unread_count = (SELECT count(*) FROM messages m
                    WHERE m.room_id = r.room_id AND m.id > %(to)s AND m.id < %(event)s
                      AND m.user_id IS DISTINCT FROM r.user_id
                      AND (m.deleted_id IS NULL OR m.deleted_id > %(event)s))
WHERE r.room_id = %(room)s AND r.user_id = %(user)s AND r.last_read_id < %(to)s
"""
# Only if this very event made the tombstone (a repeated delete changes nothing).
_DELETED = """
UPDATE receipts r SET unread_count = r.unread_count - 1
FROM messages m
WHERE m.room_id = %(room)s AND m.id = %(id)s AND m.deleted_id = %(event)s
  AND r.room_id = %(room)s AND r.last_read_id < m.id AND r.user_id IS DISTINCT FROM m.user_id
"""
_JOINED = """
INSERT INTO receipts (room_id, user_id, last_read_id, unread_count)
VALUES (%(room)s, %(user)s,
        coalesce((SELECT max(id) FROM messages WHERE room_id = %(room)s AND id < %(event)s), 0), 0)
ON CONFLICT (room_id, user_id) DO NOTHING
"""
_GONE = "DELETE FROM receipts WHERE room_id = %(room)s AND user_id = %(user)s"
# As message.deleted, for every message the erasure tombstoned (history applied it first); then the
# erased user's own markers go.
_ERASED = """
UPDATE receipts r SET unread_count = r.unread_count - x.n
FROM (SELECT rc.room_id, rc.user_id, count(*) AS n FROM receipts rc
      JOIN messages m ON m.room_id = rc.room_id AND m.id > rc.last_read_id
      WHERE m.user_id = %(user)s AND m.deleted_id = %(event)s AND rc.user_id <> %(user)s
      GROUP BY 1, 2) x
WHERE r.room_id = x.room_id AND r.user_id = x.user_id;
DELETE FROM receipts WHERE user_id = %(user)s
"""


class ReceiptsProjection(Projection):
    name = "receipts"
    tables = ("receipts",)
    handles = frozenset(
        {"message.posted", "message.deleted", "receipt.read", "member.joined", "member.left",
         "member.kicked", "member.banned", "user.erased"}
    )  # fmt: skip

    async def apply_batch(self, cur: Executor, events: Sequence[RecordedEvent]) -> None:
        await apply_in_runs(self, cur, events, "message.posted", self._posted)

    async def apply(self, cur: Executor, e: RecordedEvent) -> None:
        params: dict[str, Any] = {"room": e.stream_id, "event": e.id}
        match e.type:
            case "message.posted":
                await self._posted(cur, [e])
            case "receipt.read" if e.actor_id is not None:
                await cur.execute(_READ, {**params, "user": e.actor_id, "to": e.data["message_id"]})
            case "message.deleted":
                await cur.execute(_DELETED, {**params, "id": e.data["message_id"]})
            case "member.joined":
                await cur.execute(_JOINED, {**params, "user": e.data["user_id"]})
            case "member.left" | "member.kicked" | "member.banned":
                await cur.execute(_GONE, {**params, "user": e.data["user_id"]})
            case "user.erased":
                await cur.execute(_ERASED, {**params, "user": e.stream_id})

    @staticmethod
    async def _posted(cur: Executor, events: Sequence[RecordedEvent]) -> None:
        rows = [{"room": e.stream_id, "id": e.id, "author": e.actor_id} for e in events]
        await cur.execute(_POSTED, (orjson.dumps(rows).decode(), len(rows)))


# --- read queries (inside Database.read(user): row-level security applies) -----------------------
@dataclass(frozen=True, slots=True)
class Receipt:
    last_read_id: int
    unread_count: int


async def get_receipt(cur: Cursor, room_id: UUID, user_id: UUID) -> Receipt | None:
    await cur.execute(
        "SELECT last_read_id, unread_count FROM receipts WHERE room_id = %s AND user_id = %s", (room_id, user_id)
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
        f"SELECT {ROOM_COLUMNS}, mb.role, coalesce(rc.last_read_id, 0), coalesce(rc.unread_count, 0),"
        f" {MESSAGE_COLUMNS}, {REACTIONS}"
        " FROM memberships mb"
        " JOIN rooms r ON r.id = mb.room_id"
        " LEFT JOIN receipts rc ON rc.room_id = mb.room_id AND rc.user_id = mb.user_id"
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
