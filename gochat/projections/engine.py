"""Keeping projections current: inline in the append transaction, catch-up at start-up, and a
follower for projections that may lag.

Inline projections run inside the writer's transaction (the event table lock is held), so their
checkpoints can be checked and advanced exactly: if a projection is behind the batch's first event
(a node started before catching up, or a projection was just added), the missing events are read
and applied first, in the same transaction. The bulk of any catch-up happens at start-up, outside
the append path.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Awaitable, Callable, Mapping, Sequence
from typing import TYPE_CHECKING

import structlog

from ..aio import cancel_and_wait
from ..db import Cursor, Database, Executor, StatementBatch
from ..errors import Unavailable
from ..events.model import RecordedEvent
from ..events.store import EventStore
from ..events.types import EventType
from .base import Projection
from .status import lags

if TYPE_CHECKING:
    from ..telemetry import Telemetry

log = structlog.get_logger("gochat.projections")

_READ_CHECKPOINTS = "SELECT name, position FROM projection_checkpoints WHERE name = ANY(%s) FOR UPDATE"
# The followers' checkpoints (locked: another node's follower, or a rebuild, waits) and the head.
_CHECKPOINTS_AND_HEAD = (
    "SELECT name, position, (SELECT coalesce(max(id), 0) FROM events) FROM projection_checkpoints"
    " WHERE name = ANY(%s) FOR UPDATE"
)
_ADVANCE = (
    "INSERT INTO projection_checkpoints (name, position) SELECT n, %s FROM unnest(%s::text[]) AS n"
    " ON CONFLICT (name) DO UPDATE SET position = EXCLUDED.position, updated_at = now()"
)


async def read_checkpoints(cur: Cursor, names: Sequence[str]) -> dict[str, int]:
    await cur.execute(_READ_CHECKPOINTS, (list(names),))
    found = {n: int(p) for n, p in await cur.fetchall()}
    return {n: found.get(n, 0) for n in names}


async def advance(cur: Executor, names: Sequence[str], position: int) -> None:
    await cur.execute(_ADVANCE, (position, list(names)))


class InlineProjections:
    """The store's in-transaction hook: applies every inline projection to each committed batch."""

    def __init__(self, store: EventStore, projections: Sequence[Projection]) -> None:
        self.store = store
        self.projections = [p for p in projections if p.inline]
        self.checkpoint_names = [p.name for p in self.projections]
        posting = [p for p in self.projections if EventType.MESSAGE_POSTED in p.handles]
        functions = [p.posted_function for p in posting if p.posted_function is not None]
        self.posted_functions: list[str] | None = functions if len(functions) == len(posting) else None

    async def apply_batch(
        self, batch: StatementBatch, events: Sequence[RecordedEvent], checkpoints: Mapping[str, int] | None = None
    ) -> None:
        """Every projection's writes and the checkpoints are queued in `batch`, which the store sends
        with its COMMIT (see InlineProjector); the checkpoints come from the store's first statement
        when it took its one-statement path, and are read here otherwise."""
        if not self.projections:
            return
        cur = batch.cursor
        if checkpoints is None:
            await batch.flush()  # whatever the caller queued runs first
            checkpoints = await read_checkpoints(cur, self.checkpoint_names)
        first = events[0].id
        for projection in self.projections:
            behind = checkpoints[projection.name]
            if behind < first - 1:
                await batch.flush()
                await self._fill(cur, projection, behind, first)
            await projection.apply_batch(batch, events)
        await advance(batch, self.checkpoint_names, events[-1].id)

    async def _fill(self, cur: Cursor, projection: Projection, after: int, until: int) -> None:
        while after < until - 1:
            await cur.execute(
                "SELECT id, stream_id, version, type, schema_version, data, metadata, actor_id, client_msg_id,"
                " recorded_at FROM events WHERE id > %s AND id < %s AND type = ANY(%s) ORDER BY id LIMIT 5000",
                (after, until, list(projection.handles)),
            )
            rows = await cur.fetchall()
            if not rows:
                return
            events = await self.store.rows_to_events(rows, cur)
            await projection.apply_batch(cur, events)
            after = events[-1].id


#: Told, after a page of events committed into a projection, the positions it covered (after, upto].
AppliedListener = Callable[[Projection, int, int], Awaitable[None]]


class ProjectionRunner:
    """Catches projections up from their checkpoints, and follows the log for non-inline ones."""

    def __init__(self, db: Database, store: EventStore, projections: Sequence[Projection], page: int = 2000) -> None:
        self.db = db
        self.store = store
        self.projections = list(projections)
        self.page = page
        # e.g. notification delivery (live/people.py): acts on what a follower just wrote
        self.listeners: list[AppliedListener] = []
        self._follower: asyncio.Task[None] | None = None
        self._stopping = asyncio.Event()
        self.tracing: Telemetry | None = None  # set by the app when OpenTelemetry is on
        # Set by `nudge` (a commit on this node): the follower runs at once instead of at its next poll.
        self._wake = asyncio.Event()
        #: at least this long between two follower runs, however often it is nudged
        self.min_gap = 0.02  # under load: at most 50 runs a second (the poll alone made 20)

    def get(self, name: str) -> Projection:
        for p in self.projections:
            if p.name == name:
                return p
        raise KeyError(name)

    async def catch_up(self, projection: Projection, until: int | None = None) -> int:
        """Apply what the projection handles after its checkpoint, a page per transaction, and
        move the checkpoint to the head (or `until`) read before the events were; the events applied."""
        return await self.catch_up_together([projection], until)

    async def catch_up_together(self, projections: Sequence[Projection], until: int | None = None) -> int:
        """`catch_up` for several projections at once, a page per transaction: their checkpoints
        are read together and the log once, for the union of the types they handle, and each is
        applied what it handles past its own checkpoint. The follower's way: four followers read
        every post, and a page read once costs PostgreSQL a quarter of four."""
        names = [p.name for p in projections]
        types = frozenset().union(*(p.handles for p in projections))
        applied = 0
        while True:
            moved: list[tuple[Projection, int]] = []  # what advanced, from where, with events applied
            async with self.db.transaction() as cur:
                await cur.execute(_CHECKPOINTS_AND_HEAD, (names,))
                rows = await cur.fetchall()
                found = {name: int(position) for name, position, _ in rows}
                positions = {name: found.get(name, 0) for name in names}
                head = until if until is not None else int(rows[0][2]) if rows else await self.store.head(cur)
                start = min(positions.values())
                if start >= head:
                    return applied
                events = await self.store.read_all(after=start, limit=self.page, types=types, cur=cur)
                full = len(events) == self.page
                events = [e for e in events if e.id <= head]
                reached = events[-1].id if full and events else head
                for projection in projections:
                    after = positions[projection.name]
                    if after >= reached:
                        continue
                    mine = [e for e in events if e.id > after and e.type in projection.handles]
                    if mine:
                        await self._apply(cur, projection, mine)
                        moved.append((projection, after))
                        applied += len(mine)
                await advance(cur, [n for n in names if positions[n] < reached], reached)
            for projection, after in moved:
                await self._applied(projection, after, reached)
            if reached >= head or self._stopping.is_set():
                return applied

    async def _apply(self, cur: Cursor, projection: Projection, events: Sequence[RecordedEvent]) -> None:
        if self.tracing is None:
            await projection.apply_batch(cur, events)
            return
        span = self.tracing.start(
            "projection.apply", attributes={"gochat.projection": projection.name, "gochat.events": len(events)}
        )
        with self.tracing.current(span):
            await projection.apply_batch(cur, events)
        span.end()

    async def _applied(self, projection: Projection, after: int, upto: int) -> None:
        for listener in self.listeners:
            try:
                await listener(projection, after, upto)
            except Unavailable as exc:
                # The database went away between the apply and the listener's read (a restart): its
                # live push is lost, what it reports stays in the projection (the notifications inbox).
                log.warning("projection_listener_unavailable", projection=projection.name, error=str(exc))
            except Exception:
                log.exception("projection_listener_failed", projection=projection.name)

    async def catch_up_all(self) -> None:
        for projection in self.projections:
            n = await self.catch_up(projection)
            if n:
                log.info("projection_caught_up", projection=projection.name, events=n)

    def start_follower(self, interval: float = 0.05) -> None:
        lagging = [p for p in self.projections if not p.inline]
        if lagging and self._follower is None:
            self._stopping.clear()
            self._follower = asyncio.get_running_loop().create_task(self._follow(lagging, interval))

    async def _follow(self, projections: list[Projection], interval: float) -> None:
        clock = asyncio.get_running_loop().time
        nudged = False
        while not self._stopping.is_set():
            pause, started = interval, clock()
            try:
                # A poll reads the lags first: one that finds every follower at the head costs a
                # round trip, not a transaction (an idle node polls 20 times a second). After a
                # nudge something committed: straight to the catch-up.
                due = projections
                if not nudged:
                    behind = await lags(self.db, [p.name for p in projections])
                    due = [p for p in projections if behind.get(p.name, 1) > 0]
                if len(due) > 1:
                    due = await self._together_or_each(due)
                for p in due:
                    try:
                        await self.catch_up(p)
                    except Unavailable:
                        raise
                    except Exception:
                        log.exception("projection_follow_failed", projection=p.name)
                        pause = 1.0
            except Unavailable as exc:  # the database is down: try again in a moment, quietly
                log.warning("projection_follow_paused", error=exc.message)
                pause = 1.0
            except Exception:
                log.exception("projection_follow_failed")
                pause = 1.0
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), max(0.0, started + pause - clock()))
            nudged = self._wake.is_set() and pause == interval
            self._wake.clear()
            if (early := started + self.min_gap - clock()) > 0 and not self._stopping.is_set():
                await asyncio.sleep(early)

    async def _together_or_each(self, due: list[Projection]) -> list[Projection]:
        """Catch `due` up together; if that fails for another reason than the database, they are
        caught up one by one (returned), so one failing projection stops none of the others."""
        try:
            await self.catch_up_together(due)
        except Unavailable:
            raise
        except Exception:
            log.exception("projection_follow_together_failed", projections=[p.name for p in due])
            return due
        return []

    def nudge(self) -> None:
        """Something committed: let the follower catch up now (notifications reach their sockets
        within a round trip or two, not up to a poll interval later)."""
        self._wake.set()

    async def stop(self, timeout: float = 10.0) -> None:
        """Let the follower finish the page it is on, then stop it. Cancelling it mid-query could
        leave its pooled connection unreleased, and closing the pool would then wait forever."""
        if self._follower is not None:
            self._stopping.set()
            self._wake.set()
            try:
                await asyncio.wait_for(asyncio.shield(self._follower), timeout)
            except TimeoutError:
                await cancel_and_wait(self._follower)
            self._follower = None
            self._stopping.clear()
