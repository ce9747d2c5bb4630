"""Splitting a batch into runs, so a projection can apply a run of one hot event type set-based
and everything else one by one, in log order (the result then equals one-by-one application)."""

from __future__ import annotations

import itertools
from collections.abc import Iterator, Sequence

from ..events.model import RecordedEvent


def runs(
    events: Sequence[RecordedEvent], handles: frozenset[str], bulk_type: str
) -> Iterator[tuple[bool, list[RecordedEvent]]]:
    """(True, consecutive `bulk_type` events) or (False, other handled events), in order; events the
    projection does not handle are dropped, so they do not break a run."""
    handled = (e for e in events if e.type in handles)
    for is_bulk, group in itertools.groupby(handled, key=lambda e: e.type == bulk_type):
        yield is_bulk, list(group)
