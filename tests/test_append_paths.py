"""The append's two paths (docs/architecture.md, "Why the append has two paths") write the same log
and the same projections: the one call of gochat_append, and the general path that expected
versions and idempotent retries take."""

from __future__ import annotations

import random
from typing import Any

import pytest
from conftest import FreshDb
from test_projection_equivalence import EveryTypeLog

from gochat.db import Database
from gochat.events import EventStore, build_registry
from gochat.events import store as store_module
from gochat.projections.catalog import all_projections
from gochat.projections.engine import InlineProjections, ProjectionRunner

# Every projection table and the log, row by row, without the columns that hold the time of the
# append (the two databases append at different moments).
_ROWS = """
SELECT coalesce(jsonb_agg(r ORDER BY r::text), '[]')::text FROM (
    SELECT jsonb_object_agg(k, v) AS r FROM {table} t, jsonb_each(to_jsonb(t)) AS c(k, v)
    WHERE NOT (jsonb_typeof(v) = 'string' AND v #>> '{{}}' ~ '^\\d{{4}}-\\d\\d-\\d\\dT')
    GROUP BY t.ctid) x
"""


# The log's rows with their sealed fields taken out (each database seals under keys of its own, with
# random nonces: events/sealing.py), and which rows had them; what they seal is compared opened.
_EVENTS = (
    "SELECT coalesce(jsonb_agg(to_jsonb(e) ORDER BY e.id), '[]')::text FROM (SELECT id, stream_id, version, type,"
    " schema_version, data - 'sealed' AS data, data ? 'sealed' AS sealed, metadata, actor_id, client_msg_id"
    " FROM events) e"
)


async def _tables(db: Database) -> dict[str, Any]:
    found: dict[str, Any] = {}
    async with db.cursor() as cur:
        await cur.execute(_EVENTS)
        found["events"] = (await cur.fetchone())[0]
        for table in (t for p in all_projections() for t in p.tables):
            await cur.execute(_ROWS.format(table=table))
            found[table] = (await cur.fetchone())[0]
    opened = await EventStore(db, build_registry()).read_all(limit=100_000)
    found["events opened"] = [(e.id, dict(e.data)) for e in opened]
    return found


async def _append_in_batches(db: Database, *, general: bool, monkeypatch: pytest.MonkeyPatch) -> int:
    """Appends a random log in batches of 1 to 40; returns how many batches took the general path."""
    store = EventStore(db, build_registry(), node_id="test")
    store.inline.append(InlineProjections(store, all_projections()))
    refused: list[int] = []

    def general_only(batch: Any) -> bool:
        refused.append(len(batch))
        return False

    with monkeypatch.context() as patch:
        if general:
            patch.setattr(store_module, "fast_path_applies", general_only)
        store.start()
        try:
            log, sizes, appended = EveryTypeLog(seed=5), random.Random(5), 0
            while appended < 900:
                events = [log.next_event() for _ in range(sizes.randint(1, 40))]
                for event, result in zip(events, await store.append(*events), strict=True):
                    log.appended(event, result.event.id)
                appended += len(events)
            followers = ProjectionRunner(db, store, [p for p in all_projections() if not p.inline])
            for projection in followers.projections:
                await followers.catch_up(projection)
        finally:
            await store.close()
    return len(refused)


async def test_the_one_call_path_and_the_general_path_write_the_same_rows(
    fresh_db: FreshDb, monkeypatch: pytest.MonkeyPatch
) -> None:
    fast_db, general_db = await fresh_db(), await fresh_db()
    await _append_in_batches(fast_db, general=False, monkeypatch=monkeypatch)
    assert await _append_in_batches(general_db, general=True, monkeypatch=monkeypatch) > 20
    fast, general = await _tables(fast_db), await _tables(general_db)
    assert fast.keys() == general.keys()
    for table in fast:
        assert fast[table] == general[table], f"{table} differs"
    # and the log meant something
    assert len(fast["events"]) > 10_000
    assert len(fast["events opened"]) > 800
    assert len(fast["messages"]) > 1_000
