"""`db.StatementBatch`: writes gathered into one query string run exactly as if executed one by one."""

from __future__ import annotations

import gc
import weakref

from gochat.db import Database, StatementBatch


async def test_a_batch_runs_every_statement_in_order_in_one_round_trip(db: Database) -> None:
    async with db.transaction() as cur:
        await cur.execute("CREATE TEMP TABLE notes (n int, body text) ON COMMIT DROP")
        batch = StatementBatch(cur)
        await batch.execute("INSERT INTO notes VALUES (%s, %s)", (1, "100% sure -- not a comment; really"))
        await batch.execute("INSERT INTO notes VALUES (2, 'two') -- a trailing comment")
        await batch.execute("UPDATE notes SET body = body || %s WHERE n = %s", ("!", 2))
        await batch.execute("INSERT INTO notes VALUES (3, '%')")  # no parameters: % stays as it is
        await cur.execute("SELECT count(*) FROM notes")
        assert (await cur.fetchone())[0] == 0  # nothing sent yet
        await batch.flush()
        await cur.execute("SELECT n, body FROM notes ORDER BY n")
        assert await cur.fetchall() == [(1, "100% sure -- not a comment; really"), (2, "two!"), (3, "%")]
        await batch.flush()  # an empty batch sends nothing


async def test_a_used_cursor_is_freed_without_the_cyclic_collector(db: Database) -> None:
    """aiopg's cursor and its transaction object point at each other; left to the cyclic collector,
    thousands pile up under load and each collection stalls the loop (docs/benchmarks.md)."""
    gc.disable()
    try:
        async with db.cursor() as cur:
            await cur.execute("SELECT 1")
            ref = weakref.ref(cur)
        del cur
        assert ref() is None
    finally:
        gc.enable()
