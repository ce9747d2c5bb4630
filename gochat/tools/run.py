"""Running a command's coroutine against the configured database (or the embedded one).

Every `gochat` command that is not `serve` opens its database here; gochat/cli.py imports this
module (and tools/cli.py, which registers the log tools), never the other way round.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable, Coroutine
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from typing import Any

from .. import migrations
from ..db import Database
from ..embedded import EmbeddedPostgres
from ..settings import Settings

OpenDatabase = Callable[[Settings], AbstractAsyncContextManager[Database]]


@asynccontextmanager
async def open_server(settings: Settings) -> AsyncIterator[str]:
    """The DSN of the configured database, or of the embedded one (started for the command and
    stopped after)."""
    if settings.database_url is not None:
        yield settings.database_url
        return
    embedded = EmbeddedPostgres(settings.data_dir)
    dsn = await asyncio.to_thread(embedded.start)
    try:
        yield dsn
    finally:
        await asyncio.to_thread(embedded.stop)


@asynccontextmanager
async def open_database(settings: Settings, *, migrate: bool = False) -> AsyncIterator[Database]:
    """The configured database, or the embedded one (started for the command and stopped after)."""
    async with open_server(settings) as dsn:
        db = await Database.connect(dsn, minsize=1, maxsize=4)
        try:
            if migrate:
                await migrations.migrate(db)
            yield db
        finally:
            await db.close()


def run_async(coro: Coroutine[Any, Any, int]) -> int:
    try:
        import uvloop

        return uvloop.run(coro)
    except ImportError:  # pragma: no cover - uvloop is not built for every platform
        return asyncio.run(coro)


def run(main: Callable[[OpenDatabase], Coroutine[Any, Any, int]]) -> int:
    return run_async(main(open_database))
