"""What a projection is: tables it owns, the event types it handles, and pure handlers.

A projection's rows are a function of the log alone. `apply` must be deterministic (use the
event's `id`, `recorded_at` and data, never the clock or a random source) so that applying events
one at a time, in batches, or in a rebuild from zero all give the same tables.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Sequence
from typing import ClassVar

from ..db import Executor, json_text
from ..events.model import RecordedEvent
from ..events.sealing import PERSONAL_TYPES


class Projection(ABC):
    #: checkpoint key; also the name ops use (`gochat projections rebuild NAME`)
    name: ClassVar[str]
    #: tables this projection owns, parents first (rebuild creates and swaps these)
    tables: ClassVar[tuple[str, ...]]
    #: event types it reads; all others are skipped without a call
    handles: ClassVar[frozenset[str]]
    #: True: applied inside the append transaction, so a client reads its own writes at once.
    #: False: a follower task catches it up shortly after commit.
    inline: ClassVar[bool] = True
    #: The SQL function (sql/functions/gochat_*_posted.sql) that applies a run of message.posted,
    #: if the projection handles them with one: its `apply_batch` calls it, and the writer calls it
    #: inside its own statement for a batch of posts (one round trip), so both paths run the same code.
    posted_function: ClassVar[str | None] = None

    @abstractmethod
    async def apply(self, cur: Executor, event: RecordedEvent) -> None:
        """Apply one event (only types in `handles` arrive here)."""

    async def apply_batch(self, cur: Executor, events: Sequence[RecordedEvent]) -> None:
        """Apply events in id order. Override with set-based SQL where a batch is common and hot;
        the result must equal applying them one by one (tests check it)."""
        handles = self.handles
        for event in events:
            if event.type in handles:
                await self.apply(cur, event)


class SqlProjection(Projection):
    """A projection whose rules are written once, in SQL: `function` names a PL/pgSQL function in
    `sql/functions/<function>.sql` taking one `events` row (a CASE on its type). The inline append,
    the follower, rebuilds (whose search_path points its unqualified tables at shadow copies) and
    catch-up all call that function, so no path can drift from another.

    An inline SqlProjection must not handle message.posted: the append call projects a batch of posts
    itself only with a `posted_function` from every inline projection that does
    (engine.InlineProjections); otherwise the batch's projections take a second round trip after the
    call, holding the writers' lock. Projections fed by posts follow the log instead.
    """

    function: ClassVar[str]

    async def apply(self, cur: Executor, event: RecordedEvent) -> None:
        await self.apply_batch(cur, [event])

    async def apply_batch(self, cur: Executor, events: Sequence[RecordedEvent]) -> None:
        """The rule function over the events' rows in the log; an event with personal fields (stored
        sealed: events/sealing.py) gets its data as the caller holds it, opened."""
        handles = self.handles
        ids = [e.id for e in events if e.type in handles]
        if not ids:
            return
        opened = {str(e.id): e.data for e in events if e.type in PERSONAL_TYPES and e.type in handles}
        if opened:
            await cur.execute(
                "SELECT gochat_apply_opened(%s::regproc, %s::bigint[], %s::jsonb)",
                (self.function, ids, json_text(opened)),
            )
        else:
            await cur.execute("SELECT gochat_apply_events(%s::regproc, %s::bigint[])", (self.function, ids))
