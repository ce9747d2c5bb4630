"""Projection "history": messages (tombstones for deleted ones), thread counters, and reactions.

Runs of message.posted are applied set-based by gochat_history_posted (sql/functions/: one INSERT for the
run, one UPDATE for thread roots), everything else one event at a time, in log order, so a batch
gives what one-by-one gives.

Erasure (`user.erased`) tombstones every message of the user as a delete would, and removes their
reactions. Posts and edits by a user erased by then (a rebuild, which sees the users table at its
head) are stored with empty content: the tombstone comes when the rebuild reaches the erasure.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any
from uuid import UUID

import orjson

from ..db import Cursor, Executor
from ..events.model import RecordedEvent
from ..events.types import EventType
from ..previews.links import linked, offered
from .base import Projection
from .runs import apply_in_runs
from .users import ERASED_AUTHORS

# Only the author's edit counts (services/messages.py refuses anyone else's): its text is sealed
# under its actor's key (events/sealing.py), so the text of a message is always its author's, and
# erasing them blanks all of it, in a rebuild as live. The edit keeps the link previews of the links
# its text still has (the list: gochat/previews/links.py `linked`) and drops the others at once, and
# notes itself as the text's version (`edited_id`: a preview fetched for an older text is not applied).
_EDIT = (
    "UPDATE messages SET content = CASE WHEN user_id IN " + ERASED_AUTHORS + " THEN '' ELSE %s END, edited_at = %s,"
    " mentions = CASE WHEN user_id IN " + ERASED_AUTHORS + " THEN NULL ELSE %s::jsonb END,"
    " previews = (SELECT jsonb_agg(p ORDER BY n) FROM jsonb_array_elements(previews) WITH ORDINALITY x(p, n)"
    "             WHERE p->>'url' = ANY(%s::text[])), edited_id = %s"
    " WHERE room_id = %s AND id = %s AND NOT deleted AND user_id IS NOT DISTINCT FROM %s"
)
# Tombstone the message (only the first delete counts), uncount it from its thread, drop its reactions.
_DELETE = (
    "WITH d AS (UPDATE messages SET content = '', attachments = NULL, mentions = NULL, previews = NULL, deleted = true,"
    "           deleted_id = %(event)s WHERE room_id = %(room)s AND id = %(id)s AND NOT deleted RETURNING thread_root),"
    " c AS (UPDATE messages m SET reply_count = m.reply_count - 1 FROM d"
    "       WHERE m.room_id = %(room)s AND m.id = d.thread_root AND m.thread_root IS NULL)"
    " DELETE FROM reactions WHERE room_id = %(room)s AND message_id = %(id)s AND EXISTS (SELECT 1 FROM d)"
)
_REACT = (
    "INSERT INTO reactions (room_id, message_id, emoji, user_id, added_id)"
    " SELECT %(room)s, %(id)s, %(emoji)s, %(user)s, %(event)s"
    " WHERE EXISTS (SELECT 1 FROM messages WHERE room_id = %(room)s AND id = %(id)s AND NOT deleted)"
    " ON CONFLICT DO NOTHING"
)
# Erasure, in three statements: one statement cannot update a root and its replies both.
_ERASE = (
    "UPDATE messages SET content = '', attachments = NULL, mentions = NULL, previews = NULL, deleted = true,"
    " deleted_id = %(event)s"
    " WHERE user_id = %(user)s AND NOT deleted;"
    " UPDATE messages m SET reply_count = m.reply_count - x.n"
    " FROM (SELECT room_id, thread_root, count(*) AS n FROM messages"
    "       WHERE user_id = %(user)s AND deleted_id = %(event)s AND thread_root IS NOT NULL GROUP BY 1, 2) x"
    " WHERE m.room_id = x.room_id AND m.id = x.thread_root AND m.thread_root IS NULL;"
    " DELETE FROM reactions r WHERE r.user_id = %(user)s OR EXISTS (SELECT 1 FROM messages m"
    " WHERE m.room_id = r.room_id AND m.id = r.message_id AND m.user_id = %(user)s AND m.deleted_id = %(event)s)"
)
# A message's link previews (gochat/previews/): the last event's for the text the message shows
# (`edit_id`: the edit it previewed, absent for the text as posted), while the message lives and its
# author is not erased (the links are what they wrote). One for an older text (a fetch that raced an
# edit, or the previews an edit kept, appended with it for live clients) changes nothing.
_PREVIEWS = (
    "UPDATE messages SET previews = %s::jsonb WHERE room_id = %s AND id = %s AND NOT deleted"
    " AND edited_id IS NOT DISTINCT FROM %s AND (user_id IS NULL OR user_id NOT IN " + ERASED_AUTHORS + ")"
)
_UNREACT = (
    "DELETE FROM reactions"
    " WHERE room_id = %(room)s AND message_id = %(id)s AND emoji = %(emoji)s AND user_id = %(user)s"
)


class HistoryProjection(Projection):
    name = "history"
    posted_function = "gochat_history_posted"  # messages and thread counters (sql/functions/)
    tables = ("messages", "reactions")
    handles = frozenset(
        {
            EventType.MESSAGE_POSTED,
            EventType.MESSAGE_EDITED,
            EventType.MESSAGE_DELETED,
            EventType.REACTION_ADDED,
            EventType.REACTION_REMOVED,
            EventType.USER_ERASED,
            EventType.MESSAGE_LINK_PREVIEW,
        }
    )

    async def apply_batch(self, cur: Executor, events: Sequence[RecordedEvent]) -> None:
        await apply_in_runs(self, cur, events, EventType.MESSAGE_POSTED, self._post)

    async def apply(self, cur: Executor, e: RecordedEvent) -> None:
        d, room = e.data, e.stream_id
        match e.type:
            case EventType.MESSAGE_POSTED:
                await self._post(cur, [e])
            case EventType.MESSAGE_EDITED:
                mentions = orjson.dumps(d["mentions"]).decode() if d.get("mentions") else None
                kept = linked(offered(d))
                await cur.execute(
                    _EDIT, (d["content"], e.recorded_at, mentions, kept, e.id, room, d["message_id"], e.actor_id)
                )
            case EventType.MESSAGE_DELETED:
                await cur.execute(_DELETE, {"event": e.id, "room": room, "id": d["message_id"]})
            case EventType.REACTION_ADDED | EventType.REACTION_REMOVED if e.actor_id is not None:
                params = {"room": room, "id": d["message_id"], "emoji": d["emoji"], "user": e.actor_id, "event": e.id}
                await cur.execute(_REACT if e.type == EventType.REACTION_ADDED else _UNREACT, params)
            case EventType.USER_ERASED:
                await cur.execute(_ERASE, {"event": e.id, "user": e.stream_id})
            case EventType.MESSAGE_LINK_PREVIEW:
                previews = orjson.dumps(d["previews"]).decode() if d["previews"] else None
                await cur.execute(_PREVIEWS, (previews, room, d["message_id"], d.get("edit_id")))

    @staticmethod
    async def _post(cur: Executor, events: Sequence[RecordedEvent]) -> None:
        rows = [
            {
                "room_id": e.stream_id,
                "id": e.id,
                "user_id": e.actor_id,
                "content": e.data["content"],
                "created_at": e.recorded_at,
                "thread_root": e.data.get("thread_root"),
                "client_msg_id": e.client_msg_id,
                "attachments": e.data.get("attachments"),
                "mentions": e.data.get("mentions"),
            }
            for e in events
        ]
        await cur.execute("SELECT gochat_history_posted(%s::jsonb)", (orjson.dumps(rows).decode(),))


# --- read queries (inside Database.read(user): row-level security applies) -----------------------
@dataclass(frozen=True, slots=True)
class Reaction:
    emoji: str
    count: int
    me: bool  # the viewer is among those who reacted


@dataclass(frozen=True, slots=True)
class Message:
    id: int
    room_id: UUID
    user_id: UUID | None
    content: str
    created_at: datetime
    edited_at: datetime | None
    deleted: bool
    thread_root: int | None
    reply_count: int
    last_reply_id: int | None
    client_msg_id: str | None
    attachments: list[dict[str, Any]] | None
    reactions: tuple[Reaction, ...] = ()
    mentions: list[dict[str, Any]] | None = None  # entities (services/mentions.py)
    previews: list[dict[str, Any]] | None = None  # link previews (gochat/previews/)


@dataclass(frozen=True, slots=True)
class Page:
    messages: list[Message]
    has_more: bool


@dataclass(frozen=True, slots=True)
class Context:
    """Messages around one message, ascending, the target included."""

    messages: list[Message]
    has_more_before: bool
    has_more_after: bool


COLUMNS = (
    "m.id, m.room_id, m.user_id, m.content, m.created_at, m.edited_at, m.deleted, m.thread_root,"
    " m.reply_count, m.last_reply_id, m.client_msg_id, m.attachments, m.mentions, m.previews"
)
# The message's reactions for the viewer, [[emoji, count, me], ...] first used first: one primary-key
# range per message returned (a scalar subquery runs only for the rows a LIMIT lets through).
REACTIONS = (
    "(SELECT coalesce(jsonb_agg(jsonb_build_array(x.emoji, x.n, x.me) ORDER BY x.first), '[]')"
    " FROM (SELECT emoji, count(*) AS n, bool_or(user_id = %(viewer)s) AS me, min(added_id) AS first"
    " FROM reactions WHERE room_id = m.room_id AND message_id = m.id GROUP BY emoji) x)"
)


def message_row(row: Sequence[Any]) -> Message:
    """A Message from COLUMNS followed by REACTIONS."""
    id_, room, user, content, created, edited, deleted, root, replies, last_reply, cmid, files, mentions = row[:13]
    previews, reacts = row[13], row[14]
    return Message(
        id_, room, user, content, created, edited, deleted, root, replies, last_reply, cmid, files,
        tuple(Reaction(e, n, me) for e, n, me in reacts), mentions or None, previews or None,
    )  # fmt: skip


async def _select(cur: Cursor, viewer: UUID, where: str, params: dict[str, Any], order: str) -> list[Message]:
    await cur.execute(
        f"SELECT {COLUMNS}, {REACTIONS} FROM messages m WHERE {where} ORDER BY m.id {order} LIMIT %(limit)s",
        {**params, "viewer": viewer},
    )
    return [message_row(row) for row in await cur.fetchall()]


async def _window(
    cur: Cursor, viewer: UUID, room_id: UUID, *, after: int | None, before: int | None, limit: int, newest: bool
) -> tuple[list[Message], bool]:
    """Up to `limit` messages strictly between the cursors, the newest or the oldest of them,
    ascending, and whether more lie beyond in the direction taken."""
    where = ["m.room_id = %(room)s"]
    if after is not None:
        where.append("m.id > %(after)s")
    if before is not None:
        where.append("m.id < %(before)s")
    params = {"room": room_id, "after": after, "before": before, "limit": limit + 1}
    found = await _select(cur, viewer, " AND ".join(where), params, "DESC" if newest else "ASC")
    more = len(found) > limit
    found = found[:limit]
    return (found[::-1] if newest else found), more


async def page(
    cur: Cursor, viewer: UUID, room_id: UUID, *, before: int | None = None, after: int | None = None, limit: int = 50
) -> Page:
    """PROTOCOL.md's history page: no cursor = the newest `limit`; `before` = the newest `limit`
    older than it; `after` = the oldest `limit` newer than it (bounded by `before` if both are
    given). Always ascending; `has_more` says whether more lie beyond in the paging direction."""
    found, more = await _window(cur, viewer, room_id, after=after, before=before, limit=limit, newest=after is None)
    return Page(found, more)


async def get_message(cur: Cursor, viewer: UUID, room_id: UUID, message_id: int) -> Message | None:
    params = {"room": room_id, "id": message_id, "limit": 1}
    found = await _select(cur, viewer, "m.room_id = %(room)s AND m.id = %(id)s", params, "ASC")
    return found[0] if found else None


async def context(cur: Cursor, viewer: UUID, room_id: UUID, message_id: int, limit: int) -> Context | None:
    """The message with up to (limit - 1) // 2 older and the rest newer ones; None if unknown."""
    target = await get_message(cur, viewer, room_id, message_id)
    if target is None:
        return None
    n_before = (limit - 1) // 2
    older, more_before = await _window(cur, viewer, room_id, after=None, before=message_id, limit=n_before, newest=True)
    newer, more_after = await _window(
        cur, viewer, room_id, after=message_id, before=None, limit=limit - 1 - n_before, newest=False
    )
    return Context([*older, target, *newer], more_before, more_after)


async def thread(cur: Cursor, viewer: UUID, room_id: UUID, root_id: int, *, after: int | None, limit: int) -> Page:
    """A thread's replies, oldest first, after a cursor."""
    where = "m.room_id = %(room)s AND m.thread_root = %(root)s AND m.id > %(after)s"
    params = {"room": room_id, "root": root_id, "after": after or 0, "limit": limit + 1}
    found = await _select(cur, viewer, where, params, "ASC")
    return Page(found[:limit], len(found) > limit)


@dataclass(frozen=True, slots=True)
class Erasure:
    user_id: UUID
    event_id: int  # the user.erased event
    rooms: list[UUID]  # where history changed: the user's messages it tombstoned, or their reactions


# The erasures in a stretch of the log (an index range on events_type_id: almost always none), each
# with the rooms where it changed what history shows. Its tombstones carry its id; its reactions are
# gone from `reactions` by then (removed in the same transaction), so the log's reaction.added tell
# where they were: a pass over the log's reactions, once per erasure (erasing already passes over
# every message). A room where the user reacted and unreacted is named too: nothing there changes.
_ERASURES = (
    "SELECT e.stream_id, e.id, array(SELECT room_id FROM messages WHERE user_id = e.stream_id AND deleted_id = e.id"
    "   UNION SELECT stream_id FROM events WHERE type = 'reaction.added' AND actor_id = e.stream_id AND id < e.id"
    "   ORDER BY 1)"
    " FROM events e WHERE e.type = 'user.erased' AND e.id > %s AND e.id <= %s ORDER BY e.id"
)


async def erasures(cur: Cursor, after: int, upto: int) -> list[Erasure]:
    """The erasures with ids in (after, upto], read after history applied them (as the owner)."""
    await cur.execute(_ERASURES, (after, upto))
    return [Erasure(user, event, list(rooms)) for user, event, rooms in await cur.fetchall()]


async def reaction_state(cur: Cursor, room_id: UUID, message_id: int, emoji: str, user_id: UUID) -> tuple[bool, int]:
    """Whether the user already reacted with this emoji, and how many distinct emoji the message has."""
    await cur.execute(
        "SELECT bool_or(emoji = %s AND user_id = %s), count(DISTINCT emoji) FROM reactions"
        " WHERE room_id = %s AND message_id = %s",
        (emoji, user_id, room_id, message_id),
    )
    row = await cur.fetchone()
    return bool(row[0]), int(row[1])


async def text_id(cur: Cursor, room_id: UUID, message_id: int) -> int:
    """The id of the event whose text the message shows: its last edit's, or its post's."""
    await cur.execute(
        "SELECT coalesce(edited_id, id) FROM messages WHERE room_id = %s AND id = %s", (room_id, message_id)
    )
    row = await cur.fetchone()
    return int(row[0]) if row else message_id
