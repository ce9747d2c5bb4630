"""A room as it was at a past position of the log ("time travel"), folded from its events.

Nothing is written and no table is rebuilt: the room's name, topic and members come from folding
its room.* and member.* events up to the position with the rules of the rooms projection; the
messages are one page of the room's posts up to the position, with the edits, deletes, reactions
and thread replies that touched them up to it applied with the rules of the history projection.
So the work is the room's membership events plus one page, however long the room's history.
Erasures count from their position (memberships go, messages become tombstones); and what an
erased user wrote is blank whatever the position: looking back does not undo an erasure.

`tests/test_timetravel.py` holds these folds equal to the projections' tables at many positions
of a random log.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime
from typing import Any
from uuid import UUID

from ..db import Cursor
from ..events.model import RecordedEvent
from ..events.store import EventStore
from ..events.transactions import COLUMNS
from .history import Message, Reaction
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
    they were at `at`; and whether older ones exist."""
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
    return fold_messages(posts, _with_erasures(later, erased, at), set(erased), viewer), has_more


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
            case "member.declined" if user and current and current.state == "invited":
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


@dataclass(slots=True)
class _Message:
    message: Message
    reactions: dict[tuple[str, UUID], int] = field(default_factory=dict)  # (emoji, user) -> added at


def fold_messages(
    posts: Sequence[RecordedEvent], later: Iterable[RecordedEvent], erased_now: set[UUID], viewer: UUID
) -> list[Message]:
    """The history projection's rules (gochat/projections/history.py) on some posts and what came
    after them; replies to them count in their threads."""
    page = {p.id: _Message(_posted(p, erased_now)) for p in posts}
    replies: dict[int, tuple[int, UUID | None, bool]] = {}  # reply -> (root, author, deleted)

    def uncount(reply: int) -> None:
        root, author, deleted = replies[reply]
        if not deleted:
            replies[reply] = (root, author, True)
            _add_reply(page[root], -1, None)

    for e in later:
        d = e.data
        target = page.get(d.get("message_id", 0))
        match e.type:
            case "message.posted" if (root := page.get(d.get("thread_root") or 0)) and root.message.thread_root is None:
                replies[e.id] = (root.message.id, e.actor_id, False)
                _add_reply(root, 1, e.id)
            case "message.edited" if target and not target.message.deleted:
                content = "" if target.message.user_id in erased_now else d["content"]
                target.message = replace(target.message, content=content, edited_at=e.recorded_at)
            case "message.deleted":
                if target and not target.message.deleted:
                    _tombstone(target)
                if d["message_id"] in replies:  # the first delete of a reply uncounts it
                    uncount(d["message_id"])
            case "reaction.added" if target and not target.message.deleted and e.actor_id:
                target.reactions.setdefault((d["emoji"], e.actor_id), e.id)
            case "reaction.removed" if target and e.actor_id:
                target.reactions.pop((d["emoji"], e.actor_id), None)
            case "user.erased":
                for m in page.values():
                    if m.message.user_id == e.stream_id and not m.message.deleted:
                        _tombstone(m)
                    m.reactions = {k: v for k, v in m.reactions.items() if k[1] != e.stream_id}
                for reply, (_, author, _) in list(replies.items()):
                    if author == e.stream_id:
                        uncount(reply)
    return [_with_reactions(m, viewer) for m in page.values()]


def _posted(e: RecordedEvent, erased_now: set[UUID]) -> Message:
    blank = e.actor_id in erased_now
    return Message(
        e.id, e.stream_id, e.actor_id, "" if blank else e.data["content"], e.recorded_at, None, False,
        e.data.get("thread_root"), 0, None, e.client_msg_id, None if blank else e.data.get("attachments"),
    )  # fmt: skip


def _add_reply(root: _Message, n: int, reply: int | None) -> None:
    last = max(root.message.last_reply_id or 0, reply or 0) or None
    root.message = replace(root.message, reply_count=root.message.reply_count + n, last_reply_id=last)


def _tombstone(m: _Message) -> None:
    m.message = replace(m.message, content="", attachments=None, deleted=True)
    m.reactions = {}


def _with_reactions(m: _Message, viewer: UUID) -> Message:
    """Per emoji: count and whether the viewer is among them, first used first (as REACTIONS)."""
    by_emoji: dict[str, list[tuple[int, UUID]]] = {}
    for (emoji, user), added in m.reactions.items():
        by_emoji.setdefault(emoji, []).append((added, user))
    ordered = sorted(by_emoji.items(), key=lambda kv: min(a for a, _ in kv[1]))
    reactions = tuple(Reaction(emoji, len(us), any(u == viewer for _, u in us)) for emoji, us in ordered)
    return replace(m.message, reactions=reactions)
