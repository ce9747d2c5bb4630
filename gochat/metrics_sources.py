"""Moves what the hot paths count in plain ints into the Prometheus metrics (metrics.py).

Once a second, and before every scrape, the sampler reads the hub's counters, the writer's message
count, the pool, Redis health and the projections' checkpoints, and adds the differences since the
last sample. Its own timer doubles as the event-loop lag probe: how late it fires is how long the
loop was busy elsewhere.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Awaitable, Callable, Sequence

import structlog

from .aio import cancel_and_wait
from .db import Database
from .events import EventType
from .events.model import RecordedEvent
from .live.hub import Hub
from .metrics import Metrics
from .projections import status as projection_status

log = structlog.get_logger("gochat.metrics")
POSTED = EventType.MESSAGE_POSTED


class Sampler:
    def __init__(
        self,
        metrics: Metrics,
        *,
        hub: Hub,
        db: Database,
        projections: Sequence[str],
        redis_ping: Callable[[], Awaitable[bool]] | None = None,
        interval: float = 1.0,
    ) -> None:
        self.metrics = metrics
        self.hub = hub
        self.db = db
        self.projections = list(projections)
        self.redis_ping = redis_ping
        self.interval = interval
        self.posted = 0  # message.posted events committed by this node (a commit listener)
        self._seen: dict[str, int] = {}
        self._seen_in: dict[str, int] = {}
        self._seen_out: dict[str, int] = {}
        self._rate_at = time.monotonic()
        self._rate_posted = 0
        self._task: asyncio.Task[None] | None = None
        self._lock = asyncio.Lock()

    def on_commit(self, events: Sequence[RecordedEvent]) -> None:
        """An EventStore commit listener: one comparison per event, no metric call."""
        n = 0
        for e in events:
            if e.type == POSTED:
                n += 1
        self.posted += n

    def start(self) -> None:
        self._task = asyncio.get_running_loop().create_task(self._run())

    async def close(self) -> None:
        if self._task is not None:
            await cancel_and_wait(self._task)

    async def _run(self) -> None:
        loop = asyncio.get_running_loop()
        while True:
            due = loop.time() + self.interval
            await asyncio.sleep(self.interval)
            lag = max(0.0, loop.time() - due)
            self.metrics.loop_lag.observe(lag)
            self.metrics.loop_lag_last.set(lag)
            try:
                await self.sample()
            except Exception:  # a metric must never take the node down
                log.exception("metrics_sample_failed")

    def _delta(self, name: str, now: int) -> int:
        before = self._seen.get(name, 0)
        self._seen[name] = now
        return now - before

    @staticmethod
    def _deltas(now: dict[str, int], seen: dict[str, int]) -> dict[str, int]:
        out = {k: v - seen.get(k, 0) for k, v in now.items()}
        seen.update(now)
        return out

    async def sample(self) -> None:
        async with self._lock:  # a scrape and the timer must not add the same difference twice
            m, hub = self.metrics, self.hub
            m.ws_opened.inc(self._delta("opened", hub.opened))
            m.ws_open.set(hub.connections)
            m.deliveries.inc(self._delta("deliveries", hub.deliveries))
            m.ws_closed.labels("slow_consumer").inc(self._delta("slow", hub.slow_closed))
            m.ws_closed.labels("dead_peer").inc(self._delta("dead", hub.dead_closed))
            m.add_counts(m.frames_in, self._deltas(dict(hub.frames_in), self._seen_in))
            m.add_counts(m.frames_out, self._deltas(dict(hub.frames_out), self._seen_out))
            posted = self.posted
            m.messages.inc(self._delta("posted", posted))
            now = time.monotonic()
            if now - self._rate_at >= 0.5 * self.interval:  # a scrape right after a tick keeps the last rate
                m.messages_rate.set((posted - self._rate_posted) / (now - self._rate_at))
                self._rate_at, self._rate_posted = now, posted
            in_use, idle, waiting = self.db.pool_stats()
            m.pool_in_use.set(in_use)
            m.pool_idle.set(idle)
            m.pool_waiting.set(waiting)
            if self.redis_ping is not None and m.redis_up is not None:
                m.redis_up.set(1 if await self.redis_ping() else 0)
            with contextlib.suppress(Exception):  # the database down: keep the last lags
                for name, lag in (await projection_status.lags(self.db, self.projections)).items():
                    m.projection_lag.labels(name).set(lag)
