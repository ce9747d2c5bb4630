"""`db.StatementBatch`: writes gathered into one query string run exactly as if executed one by one."""

from __future__ import annotations

import asyncio
import gc
import os
import resource
import weakref

import psycopg2.errors
import pytest

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


async def test_a_failing_query_on_a_socket_numbered_past_1024_raises_at_once(database_url: str) -> None:
    """aiopg checks the socket of a connection whose query failed with select(), which refuses
    descriptors of 1024 and above: a node holding a thousand sockets (a soak at 5,000 found it)
    then never woke the query, which waited for its timeout instead of raising."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (min(hard, 4096), hard))
    held = [os.open(os.devnull, os.O_RDONLY) for _ in range(1100)]
    database = await Database.connect(database_url, minsize=1, maxsize=1)
    try:
        async with database.connection_cursor() as (conn, cur):
            assert conn.raw.fileno() >= 1024
            with pytest.raises(psycopg2.errors.DivisionByZero):
                async with asyncio.timeout(5):  # aiopg's own timeout is 30 s
                    await cur.execute("SELECT 1 / 0")
            await cur.execute("SELECT 1")  # and the connection is still good
            assert await cur.fetchone() == (1,)
    finally:
        await database.close()
        for fd in held:
            os.close(fd)
        resource.setrlimit(resource.RLIMIT_NOFILE, (soft, hard))
