"""A room as it was at a past position of the log ("time travel"), folded from its events.

Nothing is kept and no live table is touched: the projections themselves (`apply_batch`, the code
the append, the followers and rebuilds run) apply a few of the room's events to empty copies of
their tables, in a schema of the request's own put first on the search_path, and the answer is
read from those copies with the projections' own queries before the transaction is rolled back.
So every rule has one definition, time travel included. The room's name, topic and members come
from the rooms projection applied to its room.* and member.* events up to the position; the
messages are one page of the room's posts up to the position, with the edits, deletes, reactions
and thread replies that touched them up to it, applied by the history projection. The work is the
room's membership events plus one page, however long the room's history, plus creating the schema
and its tables (twice: the room, then the page), which costs more than the Python folds of the
rules this replaced did (docs/benchmarks.md, "Figures behind the code's comments"): the price of
one definition, on a moderators' endpoint.
Erasures count from their position (memberships go, messages become tombstones); and what an
erased user wrote is blank whatever the position: looking back does not undo an erasure.

`tests/test_timetravel.py` holds these equal to the projections' tables at many positions of a
random log.
"""

from __future__ import annotations

import secrets
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any
from uuid import UUID

from ..db import Cursor, StatementBatch
from ..events.model import RecordedEvent
from ..events.store import EventStore
from ..events.transactions import COLUMNS
from ..events.types import EventType
from .history import COLUMNS as HISTORY_COLUMNS
from .history import REACTIONS, HistoryProjection, Message, message_row
from .rooms import RoomsProjection

# a room's own events (erasures are merged in by position, posts are the history's business)
ROOM_TYPES = sorted(str(t) for t in RoomsProjection.handles - {EventType.MESSAGE_POSTED, EventType.USER_ERASED})
_ON_MESSAGE = [
    EventType.MESSAGE_EDITED,
    EventType.MESSAGE_DELETED,
    EventType.REACTION_ADDED,
    EventType.REACTION_REMOVED,
]


@dataclass(frozen=True, slots=True)
class Point:
    """A position of the log and the time its event was recorded."""

    id: int
    recorded_at: datetime


@dataclass(slots=True)
class Member:
    state: str  # joined | invited | banned
    role: str
    joined_at: datetime | None
    since_id: int


@dataclass(slots=True)
class RoomState:
    id: UUID
    name: str
    type: str
    topic: str
    created_by: UUID | None
    created_at: datetime
    members: dict[UUID, Member] = field(default_factory=dict)

    def joined(self) -> list[dict[str, Any]]:
        """Joined members as list_members returns them: by join time, then id."""
        rows = [(m.joined_at, u, m.role) for u, m in self.members.items() if m.state == "joined"]
        return [{"user_id": u, "role": role, "joined_at": at} for at, u, role in sorted(rows)]


# --- reading the log ---------------------------------------------------------------------------------
async def point(cur: Cursor, room_id: UUID, at: int | datetime) -> Point | None:
    """A position as given (if the log has it), or for a time the room's last event recorded at or
    before it; None when there is no such event."""
    if isinstance(at, int):
        await cur.execute("SELECT id, recorded_at FROM events WHERE id = %s", (at,))
    else:
        await cur.execute(
            "SELECT id, recorded_at FROM events WHERE stream_id = %s AND recorded_at <= %s ORDER BY id DESC LIMIT 1",
            (room_id, at),
        )
    row = await cur.fetchone()
    return Point(row[0], row[1]) if row else None


async def _events(cur: Cursor, store: EventStore, where: str, params: dict[str, Any]) -> list[RecordedEvent]:
    await cur.execute(f"SELECT {COLUMNS} FROM events WHERE {where} ORDER BY id", params)
    return await store.rows_to_events(await cur.fetchall(), cur)


async def erasures(cur: Cursor) -> dict[UUID, int]:
    """Every erased user and the position of their erasure."""
    await cur.execute("SELECT stream_id, id FROM events WHERE type = 'user.erased' ORDER BY id")
    return dict(await cur.fetchall())


async def room_at(cur: Cursor, store: EventStore, room_id: UUID, at: int, erased: dict[UUID, int]) -> RoomState | None:
    """The room and its memberships as of position `at`; None if it did not exist yet. `cur` is an
    autocommit cursor (see `scratch`)."""
    events = await _events(
        cur, store, "stream_id = %(room)s AND id <= %(at)s AND type = ANY(%(types)s)",
        {"room": room_id, "at": at, "types": ROOM_TYPES},
    )  # fmt: skip
    projection = RoomsProjection()
    async with scratch(cur, projection.tables) as batch:
        await projection.apply_batch(batch, _with_erasures(events, erased, at))
        await batch.execute(
            "SELECT r.name, r.type, r.topic, r.created_by, r.created_at,"
            " m.user_id, m.state, m.role, m.joined_at, m.since_id"
            " FROM rooms r LEFT JOIN memberships m ON m.room_id = r.id WHERE r.id = %s",
            (room_id,),
        )
        await batch.flush()
        rows = await cur.fetchall()
    if not rows:
        return None
    name, type_, topic, created_by, created_at = rows[0][:5]
    members = {row[5]: Member(*row[6:]) for row in rows if row[5] is not None}
    return RoomState(room_id, name, type_, topic, created_by, created_at, members)


async def messages_at(
    cur: Cursor,
    store: EventStore,
    room_id: UUID,
    at: int,
    erased: dict[UUID, int],
    viewer: UUID,
    *,
    before: int | None,
    limit: int,
) -> tuple[list[Message], bool]:
    """The newest `limit` messages posted at or before `at` (and before `before`), ascending, as
    they were at `at`; and whether older ones exist. `cur` is an autocommit cursor: the page is
    projected in a transaction of its own, always rolled back."""
    params = {"room": room_id, "at": at, "before": before if before is not None else at + 1, "limit": limit + 1}
    await cur.execute(
        f"SELECT {COLUMNS} FROM events WHERE stream_id = %(room)s AND type = 'message.posted'"
        " AND id <= %(at)s AND id < %(before)s ORDER BY id DESC LIMIT %(limit)s",
        params,
    )
    posts = await store.rows_to_events((await cur.fetchall())[::-1], cur)
    has_more = len(posts) > limit
    posts = posts[-limit:] if has_more else posts
    if not posts:
        return [], False
    ids = [p.id for p in posts]
    # What touched those messages up to `at`: edits, deletes, reactions, replies, and deletes of replies.
    later = await _events(
        cur, store,
        "stream_id = %(room)s AND id > %(first)s AND id <= %(at)s AND ("
        " (type = ANY(%(on)s) AND (data->>'message_id')::bigint = ANY(%(ids)s))"
        " OR (type = 'message.posted' AND (data->>'thread_root')::bigint = ANY(%(ids)s))"
        " OR (type = 'message.deleted' AND (data->>'message_id')::bigint IN (SELECT r.id FROM events r"
        "     WHERE r.stream_id = %(room)s AND r.type = 'message.posted' AND r.id > %(first)s AND r.id <= %(at)s"
        "     AND (r.data->>'thread_root')::bigint = ANY(%(ids)s))))",
        {"room": room_id, "first": ids[0], "at": at, "ids": ids, "on": _ON_MESSAGE},
    )  # fmt: skip
    # a reply on the page is also among the replies to its roots: each event once
    touched = {e.id: e for e in [*posts, *later]}
    events = _with_erasures(sorted(touched.values(), key=lambda e: e.id), erased, at)
    return await _project_page(cur, room_id, ids, events, viewer), has_more


async def _project_page(
    cur: Cursor, room_id: UUID, ids: list[int], events: Sequence[RecordedEvent], viewer: UUID
) -> list[Message]:
    projection = HistoryProjection()
    async with scratch(cur, projection.tables) as batch:
        await projection.apply_batch(batch, events)
        await batch.execute(
            f"SELECT {HISTORY_COLUMNS}, {REACTIONS} FROM messages m"
            " WHERE m.room_id = %(room)s AND m.id = ANY(%(ids)s) ORDER BY m.id",
            {"room": room_id, "ids": ids, "viewer": viewer},
        )
        await batch.flush()
        return [message_row(row) for row in await cur.fetchall()]


@asynccontextmanager
async def scratch(cur: Cursor, tables: Sequence[str]) -> AsyncIterator[StatementBatch]:
    """A transaction on the autocommit cursor `cur` in which `tables` are empty copies of the live
    ones, always rolled back. The copies live in a schema named for this call, first on the
    search_path, as a rebuild's shadow tables are: the projections' statements and their PL/pgSQL
    functions name their tables unqualified, and a plan PL/pgSQL kept for another search_path is
    made again rather than reused. What the caller queues on the batch (a projection's writes,
    then the one query it reads with) goes with the set-up in one round trip at its `flush`; the
    last statement's rows are then on `cur`."""
    schema = f"gochat_asof_{secrets.token_hex(6)}"
    batch = StatementBatch(cur)
    await batch.execute(f"BEGIN; CREATE SCHEMA {schema}")
    for table in tables:
        await batch.execute(f"CREATE TABLE {schema}.{table} (LIKE public.{table} INCLUDING ALL)")
    await batch.execute("SELECT set_config('search_path', %s, true)", (f"{schema}, public",))
    try:
        yield batch
    finally:
        await cur.execute("ROLLBACK")


def _with_erasures(events: Sequence[RecordedEvent], erased: dict[UUID, int], at: int) -> list[RecordedEvent]:
    """The events with markers for erasures up to `at` merged in, in log order."""
    marks = [_erasure_mark(user, position) for user, position in erased.items() if position <= at]
    return sorted([*events, *marks], key=lambda e: e.id) if marks else list(events)


def _erasure_mark(user: UUID, position: int) -> RecordedEvent:
    return RecordedEvent(position, user, 0, EventType.USER_ERASED, 1, {}, {}, None, None, datetime.min)
