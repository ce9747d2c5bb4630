"""Background work a live component starts and does not await (a presence fan-out, a profile
frame, unwatching an idle room): kept referenced so it runs to its end, cancelled on close, and a
failure logged once with a name instead of lost."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable
from typing import Any

import structlog

log = structlog.get_logger("gochat.live")


class Tasks:
    def __init__(self, failure_event: str) -> None:
        self.failure_event = failure_event
        self._running: set[asyncio.Future[Any]] = set()

    def spawn(self, work: Awaitable[object]) -> None:
        task = asyncio.ensure_future(work)
        self._running.add(task)
        task.add_done_callback(self._done)

    def cancel(self) -> None:
        for task in list(self._running):
            task.cancel()

    def __len__(self) -> int:
        return len(self._running)

    def _done(self, task: asyncio.Future[Any]) -> None:
        self._running.discard(task)
        if not task.cancelled() and task.exception() is not None:
            # e.g. the database pool timed out under load: the log says so, once, with a name
            log.warning(self.failure_event, error=repr(task.exception()))
