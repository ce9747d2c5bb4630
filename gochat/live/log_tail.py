"""Reading the log while the broker is down: the node follows every room it watches, and presence,
from the log until the broker is healthy again, then reads once more from where the tail was, so
nothing committed meanwhile is missed (the broker announces recovery only once every channel is
subscribed again: broker.py)."""

from __future__ import annotations

import asyncio

import structlog

from ..aio import cancel_and_wait
from ..projections.current import CurrentLog
from .presence import PresenceFanout
from .sequencer import Sequencer
from .tasks import Tasks

log = structlog.get_logger("gochat.relay")

PAGE = 1000


class LogTail:
    def __init__(
        self, sequencer: Sequencer, current: CurrentLog, presence: PresenceFanout, tasks: Tasks, *, poll_interval: float
    ) -> None:
        self.sequencer = sequencer
        self.current = current
        self.presence = presence
        self.tasks = tasks
        self.poll_interval = poll_interval
        self.after: int | None = None  # the tail's position (None: not tailing yet)
        self._poller: asyncio.Task[None] | None = None

    @property
    def tailing(self) -> bool:
        return self._poller is not None

    def on_health(self, healthy: bool) -> None:
        """The broker's health listener: tail while it is down, catch up once it is back."""
        if not healthy and self._poller is None:
            self._poller = asyncio.get_running_loop().create_task(self._tail())
        elif healthy and self._poller is not None:
            self._poller.cancel()
            self._poller = None
            # Subscriptions are back: one more read covers what committed since the tail's last.
            self.tasks.spawn(self.catch_up(self.after))
            self.after = None

    async def close(self) -> None:
        if self._poller is not None:
            await cancel_and_wait(self._poller)

    async def _tail(self) -> None:
        while True:
            try:
                self.after = await self.catch_up(self.after)
            except asyncio.CancelledError:
                raise
            except Exception:
                log.exception("log_tail_failed")
            await asyncio.sleep(self.poll_interval)

    async def catch_up(self, after: int | None) -> int | None:
        """Offer every event of the watched rooms after `after`, and presence changes not heard yet;
        returns the position reached. The first pass (after=None) starts from the oldest room's
        last delivered event, since frames lost just before an outage was noticed are older than
        anything the tail has read; later passes start where the previous one ended."""
        await self.presence.catch_up()
        if not self.sequencer.rooms:
            return after
        if after is None:
            after = self.sequencer.oldest()
        while True:
            events = await self.current.read_streams(list(self.sequencer.rooms), after=after, limit=PAGE)
            self.sequencer.offer_events(events)
            if events:
                after = events[-1].id
            if len(events) < PAGE:
                return after
