"""The append transaction: the SQL of one group-commit batch, one call of gochat_append
(sql/functions/gochat_append.sql), and the inline projections' share of it. The writer that batches
callers is in store.py.

Ordering guarantee. Every append transaction takes `LOCK TABLE events IN EXCLUSIVE MODE` before it
reads the head and assigns ids `head + 1 ...` (see store.py's module doc).
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Protocol

import orjson

from ..db import UNIQUE_VIOLATION, Cursor, DatabaseError, StatementBatch
from ..errors import VersionConflict
from .model import NO_STREAM, AppendResult, NewEvent, RecordedEvent, uuid_text
from .types import EventType

# The plain string: compared once per event of every batch, and a StrEnum member (looked up on its
# class, then compared as a str subclass) costs ~15x a str comparison on Python 3.11.
_POSTED: str = EventType.MESSAGE_POSTED.value

COLUMNS = "id, stream_id, version, type, schema_version, data, metadata, actor_id, client_msg_id, recorded_at"

_BY_IDS = f"SELECT {COLUMNS} FROM events WHERE id = ANY(%s)"

# Every batch is one call: gochat_append takes the lock and assigns ids and versions from the head
# and stream versions it reads under it, so no Python runs between taking the lock and writing. A
# function, so its plan is kept per connection: as a statement its planning cost more than its
# execution. Parameters travel as one JSON array of arrays: orjson encodes a batch (UUIDs included)
# in one C call, where psycopg2 would adapt every array element in Python and send long ARRAY[...]
# literals; jsonb_array_elements with ->> is also the cheapest of the JSON forms for the server.
#
# Sent without BEGIN the call is its own transaction: the whole append when no projection is inline,
# and for a batch of posts alone when every inline projection applies posts with a function of
# sql/functions (gochat_*_posted), which the call runs too, advancing their checkpoints. Otherwise
# it is sent after BEGIN, and the projections' writes and the COMMIT follow in one more round trip.
_APPEND = "SELECT * FROM gochat_append(%(rows)s::jsonb, %(names)s::text[], %(posted)s::text[], %(shape)s::jsonb)"
# SQLSTATE GC001: a projection is behind the log, nothing was written; the call is made again in a
# transaction without `posted`, and InlineProjections catches the projection up before the batch.
_BEHIND = "GC001"
# A key already stored, or twice in the batch: without a plan the unique index refused an idempotent
# retry (nothing was written); the call is made again with the batch's shape, which plans it.
_RETRY = UNIQUE_VIOLATION


class InlineProjector(Protocol):
    """A projection kept current inside the append transaction (read-your-writes views).

    Its writes go into `batch`, which the store sends with the COMMIT: the writers' lock is held
    across every round trip here, so the writes share one. Reads use `batch.cursor` (after
    `batch.flush()` if they depend on queued writes). The checkpoints it names are read (FOR
    UPDATE) by gochat_append and handed over, saving a round trip (None: a caller other than the
    store's `commit`, and the projector reads them itself)."""

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


async def commit(
    cur: Cursor,
    batch: list[Group],
    *,
    node_id: str,
    inline: Sequence[InlineProjector],
    rows_to_events: Callable[[Sequence[Sequence[Any]], Cursor], Awaitable[list[RecordedEvent]]],
) -> list[RecordedEvent]:
    """The batch's transaction, COMMIT included: one round trip when no inline projection runs, or
    for a batch of posts; two otherwise. Sets each group's results, or its error (a VersionConflict),
    and returns the events written."""
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
    # The plan is needed for expected versions; for idempotent retries only once the index found one.
    planned = any(e.expected_version is not None for g in batch for e in g.events)
    params = {"rows": _json(rows), "names": names, "posted": posted or [], "shape": _shape(batch) if planned else None}
    while True:
        own_transaction = not inline or posted is not None  # the call commits or rolls back by itself
        try:
            await cur.execute(_APPEND if own_transaction else "BEGIN; " + _APPEND, params)
            break
        except DatabaseError as exc:
            behind, retry = exc.pgcode == _BEHIND and posted is not None, exc.pgcode == _RETRY and not planned
            if not (behind or retry):
                raise
            if not own_transaction:
                await cur.execute("ROLLBACK")
            if behind:
                posted = None
                params["posted"] = []
            else:
                planned = True
                params["shape"] = _shape(batch)
    head, now, versions, found_names, positions, outcomes = await cur.fetchone()

    committed: list[RecordedEvent] = []
    retries: list[tuple[Group, int]] = []
    position = written = 0
    # outcomes: one per group when the call planned the batch (None: written), else None (all written)
    for g, outcome in zip(batch, outcomes if outcomes is not None else [None] * len(batch), strict=True):
        g.error, g.results = None, []
        if outcome is None:
            for new, data, row in zip(g.events, g.data, rows[position : position + len(g.events)], strict=True):
                ev = RecordedEvent(
                    head + written + 1, new.stream_id, versions[written], new.type, row[2],
                    data, row[4], new.actor_id, new.client_msg_id, now,
                )  # fmt: skip
                written += 1
                g.results.append(AppendResult(ev))
                committed.append(ev)
        elif outcome[0] == "duplicate":
            retries.append((g, int(outcome[1])))
        else:
            g.error, g.results = conflict(g.events[outcome[1]], int(outcome[2])), None
        position += len(g.events)
    if retries:
        await _originals(cur, retries, head, committed, rows_to_events)
    if inline and posted is None:
        if committed:
            found = dict(zip(found_names, positions, strict=True))
            await project(cur, inline, committed, {n: int(found.get(n, 0)) for n in names})
        else:
            await cur.execute("COMMIT")
    return committed


def _shape(batch: list[Group]) -> str:
    """What the plan of gochat_append needs besides the rows: each event's group (from 1) and expected version."""
    return _json([(number, e.expected_version) for number, g in enumerate(batch, 1) for e in g.events])


async def _originals(
    cur: Cursor,
    retries: list[tuple[Group, int]],
    head: int,
    committed: list[RecordedEvent],
    rows_to_events: Callable[[Sequence[Sequence[Any]], Cursor], Awaitable[list[RecordedEvent]]],
) -> None:
    """A retry's result is one: the original event, `duplicate=True` (written earlier in this batch, or read back)."""
    stored = sorted({original for _, original in retries if original <= head})
    found: dict[int, RecordedEvent] = {}
    if stored:
        await cur.execute(_BY_IDS, (stored,))
        found = {ev.id: ev for ev in await rows_to_events(await cur.fetchall(), cur)}
    for g, original in retries:
        event = committed[original - head - 1] if original > head else found[original]
        g.results = [AppendResult(event, duplicate=True)]


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


def conflict(event: NewEvent, actual: int) -> VersionConflict:
    """A group's expected version not met: checked at a stream's first event in the group."""
    what = "to be new" if event.expected_version == NO_STREAM else f"at version {event.expected_version}"
    return VersionConflict(
        f"stream {event.stream_id} expected {what}, found version {actual}",
        details={"stream_id": str(event.stream_id), "expected": event.expected_version, "actual": actual},
    )


def _json(value: Any) -> str:
    return orjson.dumps(value).decode()
