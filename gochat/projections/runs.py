"""Splitting a batch into runs, so a projection can apply a run of one hot event type set-based
and everything else one by one, in log order (the result then equals one-by-one application)."""

from __future__ import annotations

import itertools
from collections.abc import Awaitable, Callable, Iterator, Sequence

from ..db import Executor
from ..events.model import RecordedEvent
from .base import Projection

Bulk = Callable[[Executor, list[RecordedEvent]], Awaitable[None]]


def runs(
    events: Sequence[RecordedEvent], handles: frozenset[str], bulk_type: str
) -> Iterator[tuple[bool, list[RecordedEvent]]]:
    """(True, consecutive `bulk_type` events) or (False, other handled events), in order; events the
    projection does not handle are dropped, so they do not break a run."""
    handled = (e for e in events if e.type in handles)
    bulk_type = str(bulk_type)  # a plain str, should an EventType come: compared once per event
    for is_bulk, group in itertools.groupby(handled, key=lambda e: e.type == bulk_type):
        yield is_bulk, list(group)


async def apply_in_runs(
    projection: Projection, cur: Executor, events: Sequence[RecordedEvent], bulk_type: str, bulk: Bulk
) -> None:
    """`bulk` for each run of `bulk_type`, `projection.apply` for every other handled event."""
    for is_bulk, run in runs(events, projection.handles, bulk_type):
        if is_bulk:
            await bulk(cur, run)
        else:
            for e in run:
                await projection.apply(cur, e)
