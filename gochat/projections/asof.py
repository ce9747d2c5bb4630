"""A room as it was at a past position of the log ("time travel"), folded from its events.

Nothing is kept and no live table is touched. The room's name, topic and members come from folding
its room.* and member.* events up to the position with the rules of the rooms projection (a fold
in Python, below, that restates them: left so while that projection is being changed). The
messages are one page of the room's posts up to the position, with the edits, deletes, reactions
and thread replies that touched them up to it, applied by the history projection itself
(`HistoryProjection.apply_batch`, the code the append and rebuilds run) to empty copies of its
tables in a schema of the request's own, read with the history page's own query, then rolled
back: the rules of a message's rows have one definition. So the work is the room's membership
events plus one page, however long the room's history (a few statements more than a fold: the
schema and two tables are created and dropped with the transaction).
Erasures count from their position (memberships go, messages become tombstones); and what an
erased user wrote is blank whatever the position: looking back does not undo an erasure.

`tests/test_timetravel.py` holds these equal to the projections' tables at many positions of a
random log.
"""

from __future__ import annotations

import secrets
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any
from uuid import UUID

from ..db import Cursor
from ..events.model import RecordedEvent
from ..events.store import EventStore
from ..events.transactions import COLUMNS
from .history import COLUMNS as HISTORY_COLUMNS
from .history import REACTIONS, HistoryProjection, Message, message_row
from .rooms import RoomsProjection

ROOM_TYPES = sorted(RoomsProjection.handles - {"message.posted", "user.erased"})
_ON_MESSAGE = ["message.edited", "message.deleted", "reaction.added", "reaction.removed"]


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
    return [store._row_to_event(r) for r in await cur.fetchall()]


async def erasures(cur: Cursor) -> dict[UUID, int]:
    """Every erased user and the position of their erasure."""
    await cur.execute("SELECT stream_id, id FROM events WHERE type = 'user.erased' ORDER BY id")
    return dict(await cur.fetchall())


async def room_at(cur: Cursor, store: EventStore, room_id: UUID, at: int, erased: dict[UUID, int]) -> RoomState | None:
    """The room and its memberships as of position `at`; None if it did not exist yet."""
    events = await _events(
        cur, store, "stream_id = %(room)s AND id <= %(at)s AND type = ANY(%(types)s)",
        {"room": room_id, "at": at, "types": ROOM_TYPES},
    )  # fmt: skip
    return fold_room(_with_erasures(events, erased, at))


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
    posts = [store._row_to_event(r) for r in reversed(await cur.fetchall())]
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
    """The history projection applied to `events` in empty copies of its tables, the page `ids`
    read from them, and everything rolled back. The copies live in a schema named for this call,
    put first on the search_path, as a rebuild's shadow tables are: the projection's statements and
    its PL/pgSQL function name their tables unqualified, and a plan PL/pgSQL kept for another
    search_path is made again rather than reused."""
    projection = HistoryProjection()
    scratch = f"gochat_asof_{secrets.token_hex(6)}"
    await cur.execute("BEGIN")
    try:
        await cur.execute(f"CREATE SCHEMA {scratch}")
        for table in projection.tables:
            await cur.execute(f"CREATE TABLE {scratch}.{table} (LIKE public.{table} INCLUDING ALL)")
        await cur.execute("SELECT set_config('search_path', %s, true)", (f"{scratch}, public",))
        await projection.apply_batch(cur, events)
        await cur.execute(
            f"SELECT {HISTORY_COLUMNS}, {REACTIONS} FROM messages m"
            " WHERE m.room_id = %(room)s AND m.id = ANY(%(ids)s) ORDER BY m.id",
            {"room": room_id, "ids": ids, "viewer": viewer},
        )
        return [message_row(row) for row in await cur.fetchall()]
    finally:
        await cur.execute("ROLLBACK")


def _with_erasures(events: Sequence[RecordedEvent], erased: dict[UUID, int], at: int) -> list[RecordedEvent]:
    """The events with markers for erasures up to `at` merged in, in log order."""
    marks = [_erasure_mark(user, position) for user, position in erased.items() if position <= at]
    return sorted([*events, *marks], key=lambda e: e.id) if marks else list(events)


def _erasure_mark(user: UUID, position: int) -> RecordedEvent:
    return RecordedEvent(position, user, 0, "user.erased", 1, {}, {}, None, None, datetime.min)


# --- folds (pure) ------------------------------------------------------------------------------------
def fold_room(events: Iterable[RecordedEvent]) -> RoomState | None:
    """The rooms projection's rules (gochat/projections/rooms.py), on one room's events."""
    room: RoomState | None = None
    members: dict[UUID, Member] = {}
    for e in events:
        d = e.data
        user = UUID(d["user_id"]) if "user_id" in d else None
        current = members.get(user) if user else None
        match e.type:
            case "room.created" if room is None:
                room = RoomState(e.stream_id, d["name"], d["type"], d.get("topic", ""), e.actor_id, e.recorded_at)
            case "room.updated" if room is not None:
                room.name = d.get("name") or room.name
                room.topic = d["topic"] if d.get("topic") is not None else room.topic
            case "member.joined" if user and (current is None or current.state != "joined"):
                members[user] = Member("joined", d["role"], e.recorded_at, e.id)
            case "member.left" | "member.kicked" if user and current and current.state in ("joined", "invited"):
                del members[user]
            case "member.unbanned" if user and current and current.state in ("banned", "invited"):
                del members[user]
            case "member.invited" if user and current is None:
                members[user] = Member("invited", "member", None, e.id)
            case "member.banned" if user:
                members[user] = Member("banned", "member", None, e.id)
            case "member.role_changed" if current and current.state == "joined":
                current.role = d["role"]
            case "user.erased":
                members.pop(e.stream_id, None)
    if room is not None:
        room.members = members
    return room
