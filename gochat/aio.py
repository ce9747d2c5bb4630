"""Stopping a background task for good."""

from __future__ import annotations

import asyncio
from typing import Any

import structlog

log = structlog.get_logger("gochat")


async def cancel_and_wait(task: asyncio.Future[Any] | None, *, again_after: float = 1.0) -> None:
    """Cancel `task` and wait until it has ended, cancelling it again every `again_after` seconds
    while it runs on.

    One cancel is not always enough. Python 3.11's `asyncio.wait_for` (aiopg's polls use it) can
    swallow a cancellation that races its inner future, and a cancel landing inside a Redis command
    can come back as a connection error; a loop that catches either carries on, and a bare
    `await task` then waits for ever (seen: a node's log tail kept a test's shutdown waiting for
    two minutes). The task's own failure is logged, not raised: the caller is stopping it."""
    if task is None:
        return
    while not task.done():
        task.cancel()
        await asyncio.wait((task,), timeout=again_after)
    if not task.cancelled() and (exc := task.exception()) is not None:
        log.warning("background_task_failed", task=getattr(task, "get_name", lambda: "?")(), error=repr(exc))
