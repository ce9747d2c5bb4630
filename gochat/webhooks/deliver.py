"""The deliverer: POSTs what the outbox queued, signed, at least once, with backoff.

Every `poll` seconds (sooner while there is work) it claims due deliveries (outbox.claim_due) and
sends them concurrently, each bounded by the client's timeout, so a slow or dead endpoint takes
only its own few slots and delays nobody else's deliveries, nor the log. A 2xx answer delivers;
anything else (another status, a timeout, a refused address) counts an attempt and retries after
`backoff * 2^(attempts - 1)` seconds (at most `backoff_max`), until `max_attempts`: then the
delivery is dead (the dead-letter list, GET .../deliveries?state=dead). Everything is in
PostgreSQL, so a restart resumes where it stopped.
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import functools
import time
import uuid
from typing import Any

import orjson
import structlog

from ..aio import cancel_and_wait
from ..db import Database
from ..events import EventStore, RecordedEvent
from ..live.wire import render, timestamp
from ..netguard import GuardedClient, describe
from . import outbox
from .signing import signature

log = structlog.get_logger("gochat.webhooks")

USER_AGENT = "gochat-webhooks/1"


def payload(event: RecordedEvent, webhook_id: Any) -> bytes:
    """The POST body: the event as a WebSocket frame shows it, with its id as the idempotency key."""
    return orjson.dumps(
        {
            "id": event.id,
            "type": event.type,
            "webhook_id": str(webhook_id),
            "room_id": str(event.stream_id),
            "timestamp": timestamp(event.recorded_at),
            "event": render(event),
        }
    )


class Deliverer:
    def __init__(
        self,
        db: Database,
        store: EventStore,
        client: GuardedClient,
        *,
        max_attempts: int = 8,
        backoff: float = 1.0,
        backoff_max: float = 3600.0,
        poll: float = 0.2,
        batch: int = 100,
        per_webhook: int = 4,
    ) -> None:
        self.db = db
        self.store = store
        self.client = client
        self.max_attempts = max_attempts
        self.backoff = backoff
        self.backoff_max = backoff_max
        self.poll = poll
        self.batch = batch
        self.per_webhook = per_webhook
        self._task: asyncio.Task[None] | None = None
        self._inflight: dict[asyncio.Task[None], outbox.Due] = {}
        self._stop = asyncio.Event()
        self._busy: collections.Counter[uuid.UUID] = collections.Counter()  # attempts in flight per webhook

    def start(self) -> None:
        self._task = asyncio.get_running_loop().create_task(self._run(), name="gochat-webhooks")

    async def close(self, grace: float = 1.0) -> None:
        """Stop claiming, give attempts in flight `grace` seconds, cut the rest short.

        The loop is asked to stop rather than cancelled: a task cancelled while it takes a pooled
        connection can leave the pool waiting for that connection at close, for ever."""
        self._stop.set()
        if self._task is not None:
            done, _ = await asyncio.wait((self._task,), timeout=self.poll + 10.0)
            if not done:
                await cancel_and_wait(self._task)
        if self._inflight:
            await asyncio.wait(set(self._inflight), timeout=grace)
        if self._inflight:
            # Attempts cut short are released, so a restart (or another node) tries them at once
            # rather than when their lease ends.
            cut = list(self._inflight.values())
            for task in list(self._inflight):
                task.cancel()
            await asyncio.gather(*self._inflight, return_exceptions=True)
            try:
                async with self.db.transaction() as cur:
                    await outbox.release(cur, cut)
            except Exception as exc:  # their leases end by themselves
                log.warning("webhook_release_failed", error=describe(exc))
        await self.client.close()

    async def _pause(self, seconds: float) -> None:
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._stop.wait(), seconds)

    async def _run(self) -> None:
        failures = 0
        while not self._stop.is_set():
            try:
                claimed = await self.run_once()
                failures = 0
            except Exception as exc:
                # The database is away (or going: shutdown): say so once per failure, briefly, and
                # back off, so a long outage neither floods the log nor spins.
                failures += 1
                log.warning("webhook_claim_failed", error=describe(exc), failures=failures)
                await self._pause(min(5.0, self.poll * 2**failures))
                continue
            if claimed:
                await asyncio.sleep(0)
            else:
                await self._pause(self.poll)

    async def run_once(self) -> int:
        """Claim what is due and start its attempts; returns how many were claimed."""
        room = max(0, self.batch - len(self._inflight))
        if not room:
            return 0
        # The lease outlives an attempt (the client's total timeout) with room to record it.
        lease = (self.client.timeout.total or 30.0) + 10.0
        async with self.db.transaction() as cur:
            due = await outbox.claim_due(
                cur, limit=room, per_webhook=self.per_webhook, lease=lease, busy=dict(+self._busy)
            )
        events: dict[int, RecordedEvent | None] = {}
        for d in due:
            if d.event_id not in events:
                events[d.event_id] = await self.store.get(d.event_id)
            task = asyncio.get_running_loop().create_task(self._attempt(d, events[d.event_id]))
            self._inflight[task] = d
            self._busy[d.webhook_id] += 1
            task.add_done_callback(functools.partial(self._done, d.webhook_id))
        return len(due)

    def _done(self, webhook_id: uuid.UUID, task: asyncio.Task[None]) -> None:
        self._inflight.pop(task, None)
        self._busy[webhook_id] -= 1

    async def _attempt(self, due: outbox.Due, event: RecordedEvent | None) -> None:
        status: int | None = None
        error: str | None = None
        if event is None:
            error = "event not found"
        else:
            body = payload(event, due.webhook_id)
            now = int(time.time())
            headers = {
                "Content-Type": "application/json",
                "User-Agent": USER_AGENT,
                "X-Gochat-Event-Id": str(event.id),
                "Idempotency-Key": str(event.id),
                "X-Gochat-Timestamp": str(now),
                "X-Gochat-Signature": signature(due.secret, now, body),
            }
            try:
                answer = await self.client.request("POST", due.url, data=body, headers=headers)
                status = answer.status
                if not 200 <= status < 300:
                    error = f"HTTP {status}"
            except Exception as exc:  # every failure is an attempt: the network's, the guard's
                error = describe(exc)
        ok = error is None
        retry_in = min(self.backoff_max, self.backoff * 2**due.attempts)
        try:
            async with self.db.transaction() as cur:
                state = await outbox.record(
                    cur, due, ok=ok, status=status, error=error, max_attempts=self.max_attempts, retry_in=retry_in
                )
        except Exception as exc:  # the lease ends and the attempt is made again
            log.warning("webhook_record_failed", webhook_id=str(due.webhook_id), event_id=due.event_id,
                        error=describe(exc))  # fmt: skip
            return
        if state == "dead":
            log.warning("webhook_dead_letter", webhook_id=str(due.webhook_id), event_id=due.event_id, error=error)
