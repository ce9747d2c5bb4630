"""The Broker over Redis pub/sub, for several nodes (contract in broker.py).

One task owns the subscriber connection: it connects, subscribes every channel this node holds,
reads frames, and pings when idle so a silently dead link is noticed too. When the connection
drops (Redis restarted, CLIENT KILL, network), the node turns unhealthy, the task reconnects with
jittered exponential backoff and subscribes the whole set again; it turns healthy only once Redis
confirmed every channel. The subscriber client never retries by itself: a redis-py reconnect behind
our back would come up subscribed to nothing and fail silently.

Publishes go through a separate pooled client with short socket timeouts and are skipped while the
subscriber link is down, so an outage costs a publisher nothing but a False.
"""

from __future__ import annotations

import asyncio
import random
from collections import deque
from collections.abc import Sequence
from contextlib import suppress
from typing import Any

import structlog
from redis.asyncio.client import PubSub

from ..aio import cancel_and_wait
from ..redis_client import TRANSPORT_ERRORS, connect_redis
from .broker import BrokerBase

log = structlog.get_logger("gochat.broker")


class RedisBroker(BrokerBase):
    def __init__(
        self,
        url: str,
        *,
        prefix: str = "gochat:",
        timeout: float = 1.0,
        ping_interval: float = 5.0,
        backoff_base: float = 0.05,
        backoff_cap: float = 2.0,
    ) -> None:
        super().__init__()
        self._sub_client = connect_redis(url, timeout=timeout, retries=0)
        self._pub_client = connect_redis(url, timeout=timeout)
        self._prefix = f"{prefix}bus:"
        self._timeout = timeout
        self._ping_interval = ping_interval
        self._backoff = (backoff_base, backoff_cap)
        self._pubsub: PubSub | None = None
        # One SUBSCRIBE answers with one confirmation, in order: waiters queue per channel.
        self._confirms: dict[str, deque[asyncio.Future[None]]] = {}
        self._resubscribing: set[str] = set()
        # Keeps subscribe/unsubscribe commands in call order on the wire.
        self._write_lock = asyncio.Lock()
        self._first_attempt = asyncio.Event()
        self._failures = 0
        self._task: asyncio.Task[None] | None = None

    # --- lifecycle ------------------------------------------------------------------------------
    async def start(self) -> None:
        """Starts the subscriber task and waits for its first attempt; a Redis that is down leaves
        the broker unhealthy (the app still starts, readiness says degraded)."""
        if self._task is None:
            self._task = asyncio.get_running_loop().create_task(self._run(), name="gochat-broker-redis")
        with suppress(TimeoutError):
            await asyncio.wait_for(self._first_attempt.wait(), self._timeout * 3)

    async def close(self) -> None:
        self._set_healthy(False, notify=False)
        if self._task is not None:
            await cancel_and_wait(self._task)
            self._task = None
        self._counts.clear()
        await self._sub_client.aclose()
        await self._pub_client.aclose()

    # --- the Broker API -------------------------------------------------------------------------
    async def publish(self, channel: str, payload: bytes) -> bool:
        if not self._healthy:
            return False
        try:
            await self._pub_client.publish(self._prefix + channel, payload)
            return True
        except TRANSPORT_ERRORS as exc:
            log.warning("broker_publish_failed", channel=channel, error=repr(exc))
            return False

    async def publish_many(self, items: Sequence[tuple[str, bytes]]) -> int:
        """One pipeline (not a transaction): one round trip, order kept on the one connection."""
        if not self._healthy or not items:
            return 0
        try:
            async with self._pub_client.pipeline(transaction=False) as pipe:
                for channel, payload in items:
                    pipe.publish(self._prefix + channel, payload)
                await pipe.execute()
            return len(items)
        except TRANSPORT_ERRORS as exc:
            log.warning("broker_publish_failed", frames=len(items), error=repr(exc))
            return 0

    async def subscribe(self, channel: str) -> None:
        if not self._retain(channel):
            pending = self._confirms.get(channel)
            if pending:
                await self._await_confirm(channel, pending[-1])
            return
        pubsub = self._pubsub
        if pubsub is None:
            return  # subscribed by the reconnect, which includes every counted channel
        confirmed = asyncio.get_running_loop().create_future()
        self._confirms.setdefault(channel, deque()).append(confirmed)
        if await self._send(pubsub, "SUBSCRIBE", channel):
            await self._await_confirm(channel, confirmed)

    async def unsubscribe(self, channel: str) -> None:
        if self._release(channel) and self._pubsub is not None:
            await self._send(self._pubsub, "UNSUBSCRIBE", channel)

    async def _send(self, pubsub: PubSub, command: str, channel: str) -> bool:
        async with self._write_lock:
            conn = pubsub.connection
            # A dropped connection must not be silently reopened (it would hold no subscriptions).
            if self._pubsub is not pubsub or conn is None or not conn.is_connected:
                return False
            try:
                await pubsub.execute_command(command, self._prefix + channel)
                return True
            except TRANSPORT_ERRORS as exc:
                self._broken(pubsub, exc)
                return False

    async def _await_confirm(self, channel: str, confirmed: asyncio.Future[None]) -> None:
        try:
            await asyncio.wait_for(asyncio.shield(confirmed), self._timeout * 2)
        except TimeoutError:
            log.warning("broker_subscribe_unconfirmed", channel=channel)

    # --- the subscriber task --------------------------------------------------------------------
    async def _run(self) -> None:
        while True:
            pubsub = self._sub_client.pubsub()
            try:
                await self._session(pubsub)
            except asyncio.CancelledError:
                await self._teardown(pubsub)
                raise
            except Exception as exc:  # whatever broke the link, the answer is to reconnect
                if self._failures == 0:
                    log.warning("broker_link_down", error=repr(exc))
            await self._teardown(pubsub)
            self._first_attempt.set()
            self._failures += 1
            base, cap = self._backoff
            await asyncio.sleep(min(cap, base * 2 ** (self._failures - 1)) * random.uniform(0.5, 1.0))

    def _up(self) -> None:
        self._failures = 0
        self._set_healthy(True)

    async def _session(self, pubsub: PubSub) -> None:
        await pubsub.connect()  # type: ignore[no-untyped-call]
        # Snapshot the set and publish the connection in one step (no await between), so a
        # concurrent subscribe either is in the snapshot or sends its own SUBSCRIBE.
        names = list(self._counts)
        self._resubscribing = set(names)
        self._pubsub = pubsub
        async with self._write_lock:
            if names:
                await pubsub.execute_command("SUBSCRIBE", *(self._prefix + n for n in names))
            else:
                self._up()
        self._first_attempt.set()
        loop = asyncio.get_running_loop()
        last_heard = last_ping = loop.time()
        while True:
            conn = pubsub.connection
            if self._pubsub is not pubsub or conn is None or not conn.is_connected:
                raise ConnectionError("subscriber connection lost")
            message = await pubsub.get_message(timeout=min(1.0, self._ping_interval))
            now = loop.time()
            if message is not None:
                last_heard = now
                self._on_message(message)
            elif now - last_heard > 3 * self._ping_interval:
                raise ConnectionError("Redis stopped answering pings")
            elif now - last_ping >= self._ping_interval:
                last_ping = now
                async with self._write_lock:
                    await pubsub.execute_command("PING")

    def _on_message(self, message: dict[str, Any]) -> None:
        kind = message["type"]
        if kind not in ("message", "subscribe"):
            return
        channel = message["channel"].decode()[len(self._prefix) :]
        if kind == "message":
            self._deliver(channel, message["data"])
            return
        if channel in self._resubscribing:
            self._resubscribing.discard(channel)
            if not self._resubscribing:
                self._up()
            return
        waiters = self._confirms.get(channel)
        if waiters:
            waiter = waiters.popleft()
            if not waiters:
                del self._confirms[channel]
            if not waiter.done():
                waiter.set_result(None)

    def _broken(self, pubsub: PubSub, exc: BaseException) -> None:
        """A command on the subscriber link failed: the reader task sees this and reconnects."""
        if self._pubsub is pubsub:
            log.debug("broker_command_failed", error=repr(exc))
            self._pubsub = None
            self._set_healthy(False)

    async def _teardown(self, pubsub: PubSub) -> None:
        if self._pubsub is pubsub:
            self._pubsub = None
        self._set_healthy(False)
        self._resubscribing = set()
        # Waiters are released: their channels stay counted and the reconnect subscribes them.
        for waiters in self._confirms.values():
            for waiter in waiters:
                if not waiter.done():
                    waiter.set_result(None)
        self._confirms.clear()
        with suppress(*TRANSPORT_ERRORS):  # the connection is already gone
            await pubsub.aclose()  # type: ignore[no-untyped-call]
