"""Running an admin command's coroutine against the configured database (or the embedded one)."""

from __future__ import annotations

from collections.abc import Callable, Coroutine
from contextlib import AbstractAsyncContextManager
from typing import Any

from ..db import Database
from ..settings import Settings

OpenDatabase = Callable[[Settings], AbstractAsyncContextManager[Database]]


def run(main: Callable[[OpenDatabase], Coroutine[Any, Any, int]]) -> int:
    # Imported here: gochat.cli imports tools/cli.py, which registers the commands.
    from ..cli import open_database, run_async

    return run_async(main(open_database))
