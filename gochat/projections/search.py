"""Projection "search": a tsvector per live message (sql/functions/gochat_search_*.sql), and the search query.

Runs of message.posted are indexed set-based (one INSERT for the run, the documents computed by
PostgreSQL), edits re-index, deletes remove, and erasing a user removes all they wrote (a rebuild,
which sees the users table at its head, never indexes an erased user's posts). The language (a
text search configuration such as `english`) is fixed per database by `ensure_language`: a
different one empties the table, and the catch-up that follows indexes the log again.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any
from uuid import UUID

import orjson

from ..db import Cursor, Database, DatabaseError, Executor
from ..events.model import RecordedEvent
from ..events.types import EventType
from .base import Projection
from .engine import advance
from .history import COLUMNS, REACTIONS, Message, message_row
from .runs import apply_in_runs
from .users import ERASED_AUTHORS

MAX_QUERY = 256  # characters; far below the 256-position gap between a document's halves
# Highlight markers: private-use characters, stripped from the text before ts_headline runs, so
# only ts_headline's own can appear. `<` is swapped for another one while ts_headline runs, since
# its parser drops anything that looks like an HTML tag from the excerpt.
MARK_START, MARK_END, LT = "\ue000", "\ue001", "\ue002"
_HEADLINE_OPTIONS = f"StartSel={MARK_START}, StopSel={MARK_END}, MaxWords=35, MinWords=15"

_POST = (
    "INSERT INTO message_search (room_id, message_id, user_id, created_at, tsv)"
    " SELECT x.room_id, x.id, x.user_id, x.created_at, gochat_search_document(%(cfg)s::regconfig, x.content)"
    " FROM jsonb_to_recordset(%(rows)s::jsonb) AS x(room_id uuid, id bigint, user_id uuid, content text,"
    " created_at timestamptz)"
    " WHERE x.user_id IS NULL OR x.user_id NOT IN " + ERASED_AUTHORS + " ON CONFLICT (room_id, message_id) DO NOTHING"
)
# An edit changes the text, not the attachments: their names (from the message's row) stay indexed.
# Only the author's edit counts, as in history.
_EDIT = (
    "UPDATE message_search SET tsv = gochat_search_document(%(cfg)s::regconfig, concat_ws(' ', %(content)s::text,"
    " (SELECT string_agg(a->>'name' || ' ' || regexp_replace(a->>'name', '[._-]+', ' ', 'g'), ' ')"
    "  FROM messages m, jsonb_array_elements(m.attachments) a WHERE m.room_id = %(room)s AND m.id = %(id)s)))"
    " WHERE room_id = %(room)s AND message_id = %(id)s AND user_id IS NOT DISTINCT FROM %(actor)s"
)
_DELETE = "DELETE FROM message_search WHERE room_id = %s AND message_id = %s"
_ERASE = "DELETE FROM message_search WHERE user_id = %s"  # rare: a scan, rather than an index on every insert


class SearchProjection(Projection):
    name = "search"
    tables = ("message_search",)
    handles = frozenset(
        {EventType.MESSAGE_POSTED, EventType.MESSAGE_EDITED, EventType.MESSAGE_DELETED, EventType.USER_ERASED}
    )
    # Followed, not inline: computing documents inside the append transaction, under the event
    # table lock, cost appends a fifth of their throughput (docs/benchmarks.md, "Search").
    inline = False

    def __init__(self, language: str = "english") -> None:
        self.language = language

    async def apply_batch(self, cur: Executor, events: Sequence[RecordedEvent]) -> None:
        await apply_in_runs(self, cur, events, EventType.MESSAGE_POSTED, self._post)

    async def apply(self, cur: Executor, e: RecordedEvent) -> None:
        match e.type:
            case EventType.MESSAGE_POSTED:
                await self._post(cur, [e])
            case EventType.MESSAGE_EDITED if not e.data.get("encrypted"):
                params = {"cfg": self.language, "content": e.data["content"], "room": e.stream_id,
                          "id": e.data["message_id"], "actor": e.actor_id}  # fmt: skip
                await cur.execute(_EDIT, params)
            case EventType.MESSAGE_DELETED:
                await cur.execute(_DELETE, (e.stream_id, e.data["message_id"]))
            case EventType.USER_ERASED:
                await cur.execute(_ERASE, (e.stream_id,))

    async def _post(self, cur: Executor, events: Sequence[RecordedEvent]) -> None:
        rows = [
            {
                "room_id": e.stream_id,
                "id": e.id,
                "user_id": e.actor_id,
                "content": searchable(e.data),
                "created_at": e.recorded_at,
            }
            for e in events
            if not e.data.get("encrypted")  # ciphertext: nothing to index (docs/api.md)
        ]
        if not rows:
            return
        await cur.execute(_POST, {"cfg": self.language, "rows": orjson.dumps(rows).decode()})


_NAME_SEPARATORS = re.compile(r"[._\-]+")


def searchable(data: Mapping[str, Any]) -> str:
    """A post's text as indexed: its content, then the names of its attachments (find a file by name)."""
    names = [str(a.get("name", "")) for a in data.get("attachments") or () if isinstance(a, dict)]
    if not names:
        return str(data["content"])
    # PostgreSQL's parser reads "q3-report.pdf" as one host name: the name's words are added apart too
    return " ".join([data["content"], *names, *(_NAME_SEPARATORS.sub(" ", n) for n in names)])


async def ensure_language(db: Database, language: str) -> bool:
    """Check that `language` names a text search configuration (ValueError if not) and make it the
    one the index is built with; True if the index had another and was emptied for a re-index."""
    try:
        oid = await db.fetchval("SELECT %s::regconfig::oid", (language,))
    except DatabaseError:
        raise ValueError(f"{language!r} is not a text search configuration of this database") from None
    async with db.transaction() as cur:
        await cur.execute("SELECT language::oid FROM search_config FOR UPDATE")
        current = await cur.fetchone()
        if current is not None and current[0] == oid:
            return False
        await cur.execute(
            "INSERT INTO search_config (language) VALUES (%s::regconfig)"
            " ON CONFLICT (only_row) DO UPDATE SET language = EXCLUDED.language",
            (language,),
        )
        if current is None:
            return False
        await cur.execute("TRUNCATE message_search")
        await advance(cur, [SearchProjection.name], 0)
        return True


# --- read-your-writes ---------------------------------------------------------------------------
# The newest of the user's own events the index has not taken in yet: a scan of the (short) stretch
# of the log past the checkpoint only (which has no row before the first catch-up that moved it).
_OWN_PENDING = (
    "SELECT max(e.id) FROM events e WHERE e.actor_id = %s AND e.type = ANY(%s)"
    " AND e.id > coalesce((SELECT position FROM projection_checkpoints WHERE name = %s), 0)"
)
_INDEXED_UP_TO = "SELECT coalesce(max(position), 0) FROM projection_checkpoints WHERE name = %s"
_CHANGES_INDEX = [EventType.MESSAGE_POSTED.value, EventType.MESSAGE_EDITED.value, EventType.MESSAGE_DELETED.value]


async def own_pending_write(db: Database, user_id: UUID) -> int | None:
    """The id of the user's newest post, edit or delete not yet in the index; None when none is."""
    found = await db.fetchval(_OWN_PENDING, (user_id, _CHANGES_INDEX, SearchProjection.name))
    return None if found is None else int(found)


async def indexed_up_to(db: Database) -> int:
    """The log position the index has taken in."""
    return int(await db.fetchval(_INDEXED_UP_TO, (SearchProjection.name,)))


# --- the query (inside Database.read(user): row-level security applies) ---------------------------
@dataclass(frozen=True, slots=True)
class After:
    """Where a page ended: results strictly after it come next."""

    rank: float
    message_id: int


@dataclass(frozen=True, slots=True)
class Filters:
    room_id: UUID | None = None
    user_id: UUID | None = None
    since: datetime | None = None  # inclusive
    until: datetime | None = None  # exclusive
    before: int | None = None  # message ids below this one


@dataclass(frozen=True, slots=True)
class Hit:
    message: Message
    rank: float
    # an excerpt of the content with MARK_START / MARK_END around the matched words
    highlight: str


_SEARCH = (
    "WITH q AS (SELECT gochat_search_query(%(cfg)s::regconfig, %(q)s) AS q)"
    " SELECT {columns}, {reactions}, h.rank, CASE WHEN strpos(hl.text, %(mark)s) > 0 THEN hl.text"
    "   ELSE ts_headline('simple', hl.doc, q.q, %(options)s) END"
    " FROM q CROSS JOIN LATERAL gochat_search_hits(q.q, %(room)s::uuid, %(user)s::uuid, %(since)s::timestamptz,"
    "   %(until)s::timestamptz, %(before)s::bigint, %(after_rank)s::real, %(after_id)s::bigint, %(recent)s,"
    "   %(limit)s) h"
    # row-level security applies to both: only rows of rooms the caller reads come out
    " JOIN message_search s ON s.room_id = h.room_id AND s.message_id = h.message_id"
    " JOIN messages m ON m.room_id = h.room_id AND m.id = h.message_id AND NOT m.deleted"
    " CROSS JOIN LATERAL (SELECT translate(m.content, %(strip)s, %(lt)s) AS doc) d"
    " CROSS JOIN LATERAL (SELECT d.doc, ts_headline(%(cfg)s::regconfig, d.doc, q.q, %(options)s) AS text) hl"
    " ORDER BY {order}"
)


async def search(
    cur: Cursor,
    viewer: UUID,
    language: str,
    query: str,
    filters: Filters,
    *,
    after: After | None = None,
    recent: bool = False,
    limit: int = 20,
) -> list[Hit]:
    """The best matches (or the newest, `recent`), at most `limit`, after `after`, with the
    viewer's reactions."""
    order = "h.message_id DESC" if recent else "h.rank DESC, h.message_id DESC"
    params = {
        "viewer": viewer,
        "cfg": language,
        "q": query,
        "room": filters.room_id,
        "user": filters.user_id,
        "since": filters.since,
        "until": filters.until,
        "before": filters.before,
        "after_rank": after.rank if after else None,
        "after_id": after.message_id if after else None,
        "recent": recent,
        "limit": limit,
        "mark": MARK_START,
        "options": _HEADLINE_OPTIONS,
        "strip": "<" + MARK_START + MARK_END + LT,
        "lt": LT,
    }
    await cur.execute(_SEARCH.format(columns=COLUMNS, reactions=REACTIONS, order=order), params)
    return [Hit(message_row(row[:-2]), float(row[-2]), row[-1].replace(LT, "<")) for row in await cur.fetchall()]
