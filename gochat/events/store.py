"""The event store: append (group commit, optimistic concurrency, idempotency) and reads.

Ordering guarantee. Every append transaction takes `LOCK TABLE events IN EXCLUSIVE MODE` before it
reads the head and assigns ids `head + 1 ...`. The lock conflicts only with other writers (readers
take ACCESS SHARE and are never blocked) and is held until commit, so ids become visible strictly in
commit order and without gaps: a reader tailing `id > N` can never see N + 2 and later find N + 1.
The lock is transaction-scoped, so it works behind transaction-pooling proxies, and it serializes
writers across processes. Its cost is amortized by group commit: a flush per process at a time
(`pipeline`) takes every append waiting at that moment into one transaction.

Every batch is one call (transactions.py, `commit`: gochat_append, sql/functions/gochat_append.sql):
lock, head, stream versions, expected versions and idempotent retries, and an INSERT that assigns ids
and versions itself, so no Python runs between taking the lock and writing.

Pipelining (`pipeline` > 1, off by default). Up to `pipeline` transactions are in flight at once, on
separate connections: while one holds the lock and commits, the next has been sent and waits for
the lock inside PostgreSQL, and the callers of the one before are woken and queue their next
appends. Ids stay gapless and in commit order (each transaction reads the head after taking the
lock); callers and listeners are told in the order the flushes started, which is their commit
order but for a race in which the later one won the lock (the relay tolerates that, as it must
across processes). It raises a bulk writer's throughput; under chat load it shrank batches and
lengthened acks (docs/benchmarks.md), hence the default.
"""

from __future__ import annotations

import asyncio
import time
from collections import deque
from collections.abc import Awaitable, Callable, Iterable, Sequence
from contextlib import suppress
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any
from uuid import UUID

from ..db import Cursor, Database, is_connection_error
from ..errors import Unavailable
from .keystore import TableKeyStore
from .model import AppendResult, NewEvent, RecordedEvent
from .registry import EventRegistry
from .sealing import SEALED, Sealer
from .transactions import COLUMNS, Group, InlineProjector, commit

if TYPE_CHECKING:
    from ..telemetry import Telemetry

# A queue at least this long, met by an idle pipeline, is sent as two transactions (see _take_batch).
SPLIT_AT = 100

_HEAD = "SELECT coalesce(max(id), 0) FROM events"

CommitListener = Callable[[Sequence[RecordedEvent]], None]


@dataclass(slots=True)
class WriterStats:
    flushes: int = 0
    events: int = 0
    last_batch: int = 0


class EventStore:
    def __init__(
        self,
        db: Database,
        registry: EventRegistry,
        *,
        node_id: str = "",
        max_batch: int = 1000,
        pipeline: int = 1,
        inline: Sequence[InlineProjector] = (),
        commit_timeout: float | None = None,
        sealer: Sealer | None = None,
    ) -> None:
        self.db = db
        self.registry = registry
        # personal content is sealed under its owner's key before it is stored (sealing.py); by
        # default the keys are in the user_keys table, unwrapped (the app passes the configured one)
        self.sealer = sealer if sealer is not None else Sealer(TableKeyStore(db))
        self.node_id = node_id
        self.max_batch = max_batch
        self.pipeline = max(1, pipeline)
        self.inline = list(inline)
        self.commit_timeout = commit_timeout
        self.listeners: list[CommitListener] = []
        self.stats = WriterStats()
        self.flush_observer: Callable[[float, int], None] | None = None
        self.tracing: Telemetry | None = None  # set by the app when OpenTelemetry is on
        self._queue: deque[Group] = deque()
        self._flushes: set[asyncio.Task[None]] = set()
        self._last: asyncio.Task[None] | None = None
        self._busy = 0  # flushes launched and not yet committed
        self._starting = False  # a flush is launched and has not yet taken its batch
        self._accepting = False

    # --- lifecycle ------------------------------------------------------------------------------
    def start(self) -> None:
        self._accepting = True

    async def close(self) -> None:
        """Stop accepting appends, then wait until every one already accepted is committed."""
        self._accepting = False
        while self._flushes:
            await asyncio.wait(set(self._flushes))

    def add_listener(self, listener: CommitListener) -> None:
        self.listeners.append(listener)

    # --- append ---------------------------------------------------------------------------------
    async def append(self, *events: NewEvent) -> list[AppendResult]:
        """Append events atomically; returns one result per event once the transaction committed.

        Raises ValidationFailed (unknown type, bad data) before anything is queued, VersionConflict
        when a stream is not at `expected_version`, Unavailable when the database cannot be reached.
        An idempotent retry (same actor, stream and client_msg_id as a stored event) returns the
        original event with `duplicate=True` and writes nothing.
        """
        if not events:
            return []
        # A caller cancelled here cancels only its own wait: the group stays queued and is committed
        # with its batch (the writer skips futures already done), like any append already accepted.
        return await self.submit(*events)

    def submit(self, *events: NewEvent) -> asyncio.Future[list[AppendResult]]:
        """`append` in two halves: validate and queue now (raising as `append` does), and return
        the future its commit resolves. Appends submitted one after another commit in that order,
        so a caller can queue the next before the previous committed (a WebSocket's pipeline)."""
        if not self._accepting:
            raise Unavailable("the event store is not accepting appends (shutting down)")
        data = [self.registry.validate(e.type, e.data) for e in events]
        schema_versions = [self.registry.spec(e.type).version for e in events]
        future: asyncio.Future[list[AppendResult]] = asyncio.get_running_loop().create_future()
        group = Group(list(events), data, schema_versions, future)
        tracing = self.tracing
        if tracing is not None:
            # The events.append span, under the caller's, lasts from queueing to commit (posts
            # call submit directly); the transaction that commits the group links to it.
            span = tracing.start("events.append", attributes={"gochat.events": len(events)})
            with tracing.current(span):
                group.link = tracing.link_to_current()
            future.add_done_callback(lambda _: span.end())
        self._queue.append(group)
        self._launch()
        return future

    async def append_one(self, event: NewEvent) -> AppendResult:
        return (await self.append(event))[0]

    def _launch(self) -> None:
        """Start a flush if work waits, no flush is about to take it, and the pipeline has room. The
        flush takes its batch when it first runs, so it gathers every append queued until then."""
        if self._queue and not self._starting and self._busy < self.pipeline:
            self._starting = True
            self._busy += 1
            task = asyncio.get_running_loop().create_task(self._flush(self._last), name="gochat-group-commit")
            self._last = task
            self._flushes.add(task)
            task.add_done_callback(self._flushes.discard)

    def _take_batch(self, *, split: bool) -> list[Group]:
        limit = self.max_batch
        if split and self.pipeline > 1:
            # A long queue and an idle pipeline (a closed loop of many callers): send half now, so
            # the other half waits for the lock inside PostgreSQL while the first half's callers wake.
            waiting = sum(len(g.events) for g in self._queue)
            if waiting >= SPLIT_AT:
                limit = min(limit, (waiting + 1) // 2)
        batch: list[Group] = []
        count = 0
        while self._queue and (not batch or count + len(self._queue[0].events) <= limit):
            group = self._queue.popleft()
            batch.append(group)
            count += len(group.events)
        return batch

    async def _flush(self, previous: asyncio.Task[None] | None) -> None:
        self._starting = False
        batch = self._take_batch(split=self._busy == 1)
        self._launch()  # what a split or max_batch left queued, when the pipeline has room
        tracing = self.tracing
        span = None
        if tracing is not None:
            links = [g.link for g in batch if g.link is not None]
            # One caller: the transaction is a step of its trace. Several: a trace of its own,
            # linked to each caller's.
            parent = tracing.parent_of(links[0]) if len(links) == 1 else tracing.root()
            span = tracing.start("events.commit", parent=parent, links=links if len(links) > 1 else ())
        started = time.perf_counter()
        try:
            committed = await self._commit_or_isolate(batch)
        finally:
            self._busy -= 1
        if self._queue:
            # The next batch goes to the database before this one is delivered: the caller wake-ups
            # and the fan-out below then overlap its round trips instead of delaying them.
            self._launch()
            await asyncio.sleep(0)
        elapsed = time.perf_counter() - started
        if previous is not None and not previous.done():
            # Callers and listeners hear of flushes in the order they started (see the module doc).
            await asyncio.wait((previous,))
        self.stats.flushes += 1
        self.stats.last_batch = sum(len(g.events) for g in batch)
        self.stats.events += len(committed)
        if self.flush_observer is not None:
            self.flush_observer(elapsed, self.stats.last_batch)
        for g in batch:
            if g.future.done():
                continue
            if g.error is not None:
                g.future.set_exception(g.error)
            else:
                assert g.results is not None
                g.future.set_result(g.results)
        if span is None:
            self._notify(committed)
            return
        assert tracing is not None
        span.set_attribute("gochat.events", len(committed))
        with tracing.current(span):  # listeners (the relay) carry this span's context onwards
            self._notify(committed)
        span.end()

    def _notify(self, committed: list[RecordedEvent]) -> None:
        if committed:
            for listener in self.listeners:
                listener(committed)

    async def _commit_or_isolate(self, batch: list[Group]) -> list[RecordedEvent]:
        try:
            # Bounded: a transaction that does not answer in time is abandoned (aiopg closes its
            # connection, which rolls it back unless the COMMIT got there first; a retry with the
            # same client_msg_id then finds the original), and its callers get Unavailable, rather
            # than every append on the node waiting behind it. A database going away usually fails
            # at once; this is for one that does not answer (or a connection whose wake-up was lost).
            async with asyncio.timeout(self.commit_timeout):
                return await self._commit(batch)
        except Exception as exc:
            if is_connection_error(exc) or isinstance(exc, Unavailable) or len(batch) == 1:
                err = Unavailable("database unavailable") if is_connection_error(exc) else exc
                for g in batch:
                    g.error, g.results = err, None
                return []
            # One bad group must not sink its neighbours: retry each on its own.
            committed: list[RecordedEvent] = []
            for g in batch:
                g.error, g.results = None, None
                try:
                    committed.extend(await self._commit([g]))
                except Exception as one:
                    g.error = Unavailable("database unavailable") if is_connection_error(one) else one
            return committed

    async def _commit(self, batch: list[Group]) -> list[RecordedEvent]:
        unsealed = [g for g in batch if g.stored is None]
        if unsealed:
            stored = iter(
                await self.sealer.seal_all(
                    (e.type, e.stream_id, e.actor_id, d)
                    for g in unsealed
                    for e, d in zip(g.events, g.data, strict=True)
                )
            )
            for g in unsealed:
                g.stored = [next(stored) for _ in g.events]
                for i, (data, kept) in enumerate(zip(g.data, g.stored, strict=True)):
                    if kept is not data and SEALED not in kept:
                        # the owner's keys are destroyed (an erasure raced this append): nothing of
                        # theirs is kept, in the log or in what projections and frames get now
                        g.data[i] = dict(kept)
        return await self._with_cursor(
            lambda cur: commit(cur, batch, node_id=self.node_id, inline=self.inline, rows_to_events=self.rows_to_events)
        )

    async def _with_cursor(self, txn: Callable[[Cursor], Awaitable[list[RecordedEvent]]]) -> list[RecordedEvent]:
        async with self.db.connection_cursor() as (conn, cur):
            try:
                return await txn(cur)
            except BaseException:
                if not conn.closed:
                    with suppress(Exception):  # a broken connection is discarded anyway
                        await cur.execute("ROLLBACK")
                raise

    # --- reads ----------------------------------------------------------------------------------
    def _row_to_event(self, row: Sequence[Any]) -> RecordedEvent:
        """A row of COLUMNS as an event, opened (its keys prepared: `rows_to_events`) and upcast."""
        id_, stream, version, type_, sv, data, metadata, actor, cmid, at = row
        sv, data = self.registry.upcast(type_, sv, self.sealer.open(type_, stream, data))
        return RecordedEvent(id_, stream, version, type_, sv, data, metadata, actor, cmid, at)

    async def rows_to_events(self, rows: Sequence[Sequence[Any]], cur: Cursor | None = None) -> list[RecordedEvent]:
        """Rows of COLUMNS as events: every reader of the log's data goes through here (or through
        `sealer.prepare` and `sealer.open` itself), so personal fields come back opened."""
        await self.sealer.prepare((r[5] for r in rows), cur)
        return [self._row_to_event(r) for r in rows]

    async def _select(
        self, where: str, params: Sequence[Any], limit: int, cur: Cursor | None = None
    ) -> list[RecordedEvent]:
        if cur is None:
            async with self.db.cursor() as own:
                return await self._select(where, params, limit, own)
        await cur.execute(f"SELECT {COLUMNS} FROM events WHERE {where} ORDER BY id LIMIT %s", (*params, limit))
        return await self.rows_to_events(await cur.fetchall(), cur)

    async def read_all(
        self, after: int = 0, limit: int = 1000, types: Iterable[str] | None = None, cur: Cursor | None = None
    ) -> list[RecordedEvent]:
        """Events after a position, in id order. Given `cur`, read with it: a caller holding a
        connection must not wait for a second one (a full pool would leave it waiting on itself)."""
        if types is not None:
            return await self._select("id > %s AND type = ANY(%s)", (after, list(types)), limit, cur)
        return await self._select("id > %s", (after,), limit, cur)

    async def read_stream(self, stream_id: UUID, after: int = 0, limit: int = 1000) -> list[RecordedEvent]:
        return await self._select("stream_id = %s AND id > %s", (stream_id, after), limit)

    async def read_streams(self, stream_ids: Iterable[UUID], after: int = 0, limit: int = 1000) -> list[RecordedEvent]:
        """Events of several streams after a global position, in id order (WebSocket resume)."""
        return await self._select("stream_id = ANY(%s) AND id > %s", (list(stream_ids), after), limit)

    async def read_stream_types(
        self, stream_id: UUID, types: Iterable[str], before: int | None = None, limit: int = 100
    ) -> list[RecordedEvent]:
        """A stream's events of some types, newest first, older than `before` (a room's moderation history)."""
        async with self.db.cursor() as cur:
            await cur.execute(
                f"SELECT {COLUMNS} FROM events WHERE stream_id = %s AND type = ANY(%s) AND id < %s"
                " ORDER BY id DESC LIMIT %s",
                (stream_id, list(types), before if before is not None else 2**62, limit),
            )
            rows = await cur.fetchall()
        return await self.rows_to_events(rows)

    async def get(self, event_id: int) -> RecordedEvent | None:
        found = await self._select("id = %s", (event_id,), 1)
        return found[0] if found else None

    async def head(self, cur: Cursor | None = None) -> int:
        if cur is None:
            return int(await self.db.fetchval(_HEAD))
        await cur.execute(_HEAD)
        return int((await cur.fetchone())[0])

    async def stream_version(self, stream_id: UUID) -> int:
        return int(
            await self.db.fetchval("SELECT coalesce(max(version), 0) FROM events WHERE stream_id = %s", (stream_id,))
        )

    async def stream_versions(self, stream_ids: Sequence[UUID]) -> dict[UUID, int]:
        """The current version of each of these streams that exists (one query)."""
        async with self.db.cursor() as cur:
            await cur.execute(
                "SELECT s, (SELECT max(version) FROM events WHERE stream_id = s) FROM unnest(%s::uuid[]) AS s",
                (list(stream_ids),),
            )
            return {s: int(v) for s, v in await cur.fetchall() if v is not None}

    async def last_in_stream(self, stream_id: UUID) -> RecordedEvent | None:
        """The stream's newest event (a relay's baseline for a room)."""
        async with self.db.cursor() as cur:
            await cur.execute(
                f"SELECT {COLUMNS} FROM events WHERE stream_id = %s ORDER BY version DESC LIMIT 1", (stream_id,)
            )
            row = await cur.fetchone()
        return (await self.rows_to_events([row]))[0] if row else None
