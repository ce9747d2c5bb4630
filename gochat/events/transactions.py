"""The append transaction: the SQL of one group-commit batch, on its one-statement path or its general
path, and the inline projections' share of it. The writer that batches callers is in store.py.

Ordering guarantee. Every append transaction takes `LOCK TABLE events IN EXCLUSIVE MODE` before it
reads the head and assigns ids `head + 1 ...` (see store.py's module doc).
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Protocol
from uuid import UUID

import orjson

from ..db import UNIQUE_VIOLATION, Cursor, DatabaseError, StatementBatch
from ..errors import VersionConflict
from .model import NO_STREAM, AppendResult, NewEvent, RecordedEvent, uuid_text
from .types import EventType

# The plain string: compared once per event of every batch, and a StrEnum member (looked up on its
# class, then compared as a str subclass) costs ~15x a str comparison on Python 3.11.
_POSTED: str = EventType.MESSAGE_POSTED.value

COLUMNS = "id, stream_id, version, type, schema_version, data, metadata, actor_id, client_msg_id, recorded_at"

# Parameters travel as one JSON array of arrays each: orjson encodes a batch (UUIDs included) in one C
# call, where psycopg2 would adapt every array element in Python and send long ARRAY[...] literals;
# jsonb_array_elements with ->> is also the cheapest of the JSON forms for the server to take apart.
_BEGIN = (
    "BEGIN; LOCK TABLE events IN EXCLUSIVE MODE;"
    " SELECT coalesce((SELECT max(id) FROM events), 0), now(),"
    # the current version of each stream, in the order the streams were given
    " ARRAY(SELECT coalesce((SELECT max(e.version) FROM events e WHERE e.stream_id = s.id::uuid), 0)"
    " FROM jsonb_array_elements_text(%s::jsonb) WITH ORDINALITY AS s(id, n) ORDER BY s.n),"
    # the ids of stored events sharing an idempotency key with the batch (almost always none)
    " ARRAY(SELECT e.id FROM events e WHERE (e.actor_id, e.stream_id, e.client_msg_id) IN"
    " (SELECT (k->>0)::uuid, (k->>1)::uuid, k->>2 FROM jsonb_array_elements(%s::jsonb) AS k))"
)
_BY_IDS = f"SELECT {COLUMNS} FROM events WHERE id = ANY(%s)"
# recorded_at is left to its default, now(): the transaction's start, the same `now` _BEGIN returned.
_INSERT = (
    "INSERT INTO events (id, stream_id, version, type, schema_version, data, metadata, actor_id, client_msg_id)"
    " SELECT (r->>0)::bigint, (r->>1)::uuid, (r->>2)::integer, r->>3, (r->>4)::smallint, r->5, r->6,"
    " (r->>7)::uuid, r->>8 FROM jsonb_array_elements(%s::jsonb) AS r"
)


# The common case in one round trip, the lock held for database work only: no group names an
# expected version. gochat_append (sql/functions/gochat_append.sql) takes the lock and assigns ids and versions from the
# head and stream versions it reads under it. A key already stored, or twice in the batch (an
# idempotent retry), fails the insert on the unique index events_idempotency: the call is rolled
# back and the writer takes the general path (_BEGIN), which looks the keys up, in a new
# transaction. A function, so its plan is kept per connection: as a statement its planning cost
# more than its execution. Without BEGIN the call is its own transaction, so without inline
# projections this is the whole append.
_FAST = "SELECT * FROM gochat_append(%(rows)s::jsonb, %(names)s::text[])"
# A batch of posts alone, when every inline projection applies posts with a function of sql/functions (gochat_*_posted):
# the call projects them and advances the checkpoints too, a transaction of its own (no BEGIN), so
# the whole append is one round trip. SQLSTATE GC001: a projection is behind the log, nothing was
# written, and the general path catches it up.
_FAST_POSTS = "SELECT * FROM gochat_append(%(rows)s::jsonb, %(names)s::text[], %(posted)s::text[])"
_BEHIND = "GC001"
_RETRY = UNIQUE_VIOLATION  # an idempotency key already stored


class InlineProjector(Protocol):
    """A projection kept current inside the append transaction (read-your-writes views).

    Its writes go into `batch`, which the store sends with the COMMIT: the writers' lock is held
    across every round trip here, so the writes share one. Reads use `batch.cursor` (after
    `batch.flush()` if they depend on queued writes). The checkpoints it names are read (FOR
    UPDATE) by the store's first statement and handed over, saving a round trip; None when the
    store took its general path, and the projector reads them itself."""

    @property
    def checkpoint_names(self) -> Sequence[str]: ...

    @property
    def posted_functions(self) -> Sequence[str] | None:
        """The SQL functions that apply a run of message.posted for it (None: not all have one)."""

    async def apply_batch(
        self, batch: StatementBatch, events: Sequence[RecordedEvent], checkpoints: Mapping[str, int] | None = None
    ) -> None: ...


@dataclass(slots=True)
class Group:
    """One caller's events: appended together or not at all."""

    events: list[NewEvent]
    data: list[dict[str, Any]]
    schema_versions: list[int]
    future: asyncio.Future[list[AppendResult]]
    results: list[AppendResult] | None = None
    error: BaseException | None = None
    link: Any = None  # with tracing on: a link to the caller's span, for the transaction's span
    stored: list[Mapping[str, Any]] | None = None  # `data` as stored: personal fields sealed (sealing.py)


def fast_path_applies(batch: list[Group]) -> bool:
    """No group names an expected version. (A key stored already, or twice in the batch, is caught
    by the unique index: the fast path then writes nothing and returns None.)"""
    return all(e.expected_version is None for g in batch for e in g.events)


async def commit_fast(
    cur: Cursor, batch: list[Group], *, node_id: str, inline: Sequence[InlineProjector]
) -> list[RecordedEvent] | None:
    """One round trip when no inline projection runs, or for a batch of posts; None, having written
    nothing, when an idempotency key was already stored or an inline projection is behind the log."""
    names = [n for p in inline for n in p.checkpoint_names]
    posted = _posted_functions(batch, inline)
    # [stream, type, schema_version, stored data, metadata, actor, client_msg_id(, plain data)]: the
    # posted functions project the plain data; the log stores the sealed (gochat_append.sql)
    rows: list[tuple[Any, ...]] = []
    for g in batch:
        assert g.stored is not None
        for new, data, stored, schema_version in zip(g.events, g.data, g.stored, g.schema_versions, strict=True):
            row = (new.stream_id, new.type, schema_version, stored, metadata(new, node_id), new.actor_id,
                   new.client_msg_id)  # fmt: skip
            rows.append(row if posted is None or stored is data else (*row, data))
    params = {"rows": _json(rows), "names": names, "posted": posted}
    own_transaction = not inline or posted is not None  # the call commits or rolls back by itself
    try:
        if posted is not None:
            await cur.execute(_FAST_POSTS, params)
        else:
            await cur.execute(_FAST if own_transaction else "BEGIN; " + _FAST, params)
    except DatabaseError as exc:
        if exc.pgcode not in (_BEHIND, _RETRY):
            raise
        if not own_transaction:
            await cur.execute("ROLLBACK")
        return None  # nothing written: the general path finds the originals or catches projections up
    head, now, versions, found_names, positions = await cur.fetchone()
    committed: list[RecordedEvent] = []
    position = 0
    for g in batch:
        g.error, g.results = None, []
        for new, data, row in zip(g.events, g.data, rows[position : position + len(g.events)], strict=True):
            ev = RecordedEvent(
                head + position + 1, new.stream_id, versions[position], new.type, row[2],
                data, row[4], new.actor_id, new.client_msg_id, now,
            )  # fmt: skip
            position += 1
            g.results.append(AppendResult(ev))
            committed.append(ev)
    if inline and posted is None:
        found = dict(zip(found_names, positions, strict=True))
        await project(cur, inline, committed, {n: int(found.get(n, 0)) for n in names})
    return committed


def _posted_functions(batch: list[Group], inline: Sequence[InlineProjector]) -> list[str] | None:
    """The functions that project this batch inside the append call, or None when it is not a
    batch of posts alone or some inline projection has no function for them."""
    if not inline or any(e.type != _POSTED for g in batch for e in g.events):
        return None
    functions: list[str] = []
    for projector in inline:
        mine = projector.posted_functions
        if mine is None:
            return None
        functions.extend(mine)
    return functions or None


async def project(
    cur: Cursor,
    inline: Sequence[InlineProjector],
    committed: list[RecordedEvent],
    checkpoints: Mapping[str, int] | None = None,
) -> None:
    """The inline projections' writes and the COMMIT, in one round trip when none has to read."""
    batch = StatementBatch(cur)
    for projector in inline:
        await projector.apply_batch(batch, committed, checkpoints)
    await batch.flush("COMMIT")


def metadata(new: NewEvent, node_id: str) -> dict[str, Any]:
    metadata: dict[str, Any] = {}
    if node_id:
        metadata["node"] = node_id
    if new.actor_id is not None:
        metadata["actor_id"] = uuid_text(new.actor_id)
    if new.client_msg_id is not None:
        metadata["client_msg_id"] = new.client_msg_id
    if new.metadata:
        metadata.update(new.metadata)  # the caller's own keys win, as before
    return metadata


async def commit_general(
    cur: Cursor,
    batch: list[Group],
    *,
    node_id: str,
    inline: Sequence[InlineProjector],
    rows_to_events: Callable[[Sequence[Sequence[Any]]], Awaitable[list[RecordedEvent]]],
) -> list[RecordedEvent]:
    """The whole transaction, COMMIT included, in as few round trips as possible: two when no
    inline projection runs and no idempotent retry is in the batch."""
    streams = list({e.stream_id for g in batch for e in g.events})
    keys = [(e.actor_id, e.stream_id, e.client_msg_id) for g in batch for e in g.events if e.client_msg_id]
    await cur.execute(_BEGIN, (_json(streams), _json(keys)))
    head, now, heads, duplicate_ids = await cur.fetchone()
    versions: dict[UUID, int] = dict(zip(streams, heads, strict=True))

    originals: dict[tuple[UUID | None, UUID, str], RecordedEvent] = {}
    if duplicate_ids:
        await cur.execute(_BY_IDS, (duplicate_ids,))
        for ev in await rows_to_events(await cur.fetchall()):
            originals[(ev.actor_id, ev.stream_id, ev.client_msg_id or "")] = ev

    committed: list[RecordedEvent] = []
    stored: list[Mapping[str, Any]] = []  # each committed event's data as the log keeps it
    for g in batch:
        g.error = None
        dup = find_duplicate(g, originals)
        if dup is not None:
            g.results = [AppendResult(dup, duplicate=True)]
            continue
        conflict = check_versions(g, versions)
        if conflict is not None:
            g.error, g.results = conflict, None
            continue
        g.results = []
        assert g.stored is not None
        stored.extend(g.stored)
        for new, data, schema_version in zip(g.events, g.data, g.schema_versions, strict=True):
            head += 1
            versions[new.stream_id] = version = versions.get(new.stream_id, 0) + 1
            ev = RecordedEvent(
                head, new.stream_id, version, new.type, schema_version,
                data, metadata(new, node_id), new.actor_id, new.client_msg_id, now,
            )  # fmt: skip
            g.results.append(AppendResult(ev))
            committed.append(ev)
            if new.client_msg_id:
                originals[(new.actor_id, new.stream_id, new.client_msg_id)] = ev

    if not committed:
        await cur.execute("COMMIT")
    elif not inline:
        await cur.execute(_INSERT + "; COMMIT", (_event_rows(committed, stored),))
    else:
        await cur.execute(_INSERT, (_event_rows(committed, stored),))
        await project(cur, inline, committed)
    return committed


def find_duplicate(g: Group, originals: dict[tuple[UUID | None, UUID, str], RecordedEvent]) -> RecordedEvent | None:
    # A group's identity is its first keyed event: a retry of the group finds that one.
    for e in g.events:
        if e.client_msg_id:
            return originals.get((e.actor_id, e.stream_id, e.client_msg_id))
    return None


def check_versions(g: Group, versions: dict[UUID, int]) -> VersionConflict | None:
    # An expected version applies to a stream's first event in the group.
    seen: set[UUID] = set()
    for e in g.events:
        if e.expected_version is not None and e.stream_id not in seen:
            current = versions.get(e.stream_id, 0)
            if e.expected_version != current:
                what = "to be new" if e.expected_version == NO_STREAM else f"at version {e.expected_version}"
                return VersionConflict(
                    f"stream {e.stream_id} expected {what}, found version {current}",
                    details={"stream_id": str(e.stream_id), "expected": e.expected_version, "actual": current},
                )
        seen.add(e.stream_id)
    return None


def _json(value: Any) -> str:
    return orjson.dumps(value).decode()


def _event_rows(events: Sequence[RecordedEvent], stored: Sequence[Mapping[str, Any]]) -> str:
    """The rows for _INSERT, in its column order (tuples: orjson encodes them ~6x faster than
    dataclasses), each with its data as stored (sealed)."""
    return _json(
        [
            (e.id, e.stream_id, e.version, e.type, e.schema_version, data, e.metadata, e.actor_id, e.client_msg_id)
            for e, data in zip(events, stored, strict=True)
        ]
    )
