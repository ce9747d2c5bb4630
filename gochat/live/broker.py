"""Cross-node fan-out of live frames: the `Broker` protocol and its in-process backend.

The contract both backends keep (one suite runs against both: tests/test_broker.py):

- Best effort, at most once. The event log is the truth: every frame carries its event id, so a
  receiver that sees a gap fills it from the log. `publish` returns True once the frame is handed
  to the transport and False *at once* when the transport is down; it never raises for an outage
  and never waits out a reconnect. The caller has already committed, so it must not fail the
  request on False. A node receives its own publishes.
- Subscriptions are reference-counted here, not by the caller: every `subscribe(ch)` is paired with
  exactly one `unsubscribe(ch)`; the transport subscribes on 0 -> 1 and unsubscribes on 1 -> 0.
- `subscribe` returns once frames published afterwards will be delivered, so the relay can
  subscribe, then read the log, then drop buffered duplicates. While unhealthy it returns at once:
  the channel is kept and subscribed again on recovery.
- One handler per node, `handler(channel, payload)`, called in publish order per channel for one
  publisher. It must not block (hand slow work to a queue or task); its exceptions are logged and
  swallowed. Frames for a channel already unsubscribed are dropped.
- Health: `healthy`, and listeners called with the new value on every transition (not on close).
  True is announced only after every channel is subscribed again, so on True the relay reads the
  log from its last id and misses nothing; on False it tails the log until True.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Sequence
from typing import Protocol

import structlog

log = structlog.get_logger("gochat.broker")

MessageHandler = Callable[[str, bytes], None]
HealthListener = Callable[[bool], None]


class Broker(Protocol):
    @property
    def healthy(self) -> bool: ...

    @property
    def channels(self) -> frozenset[str]:
        """The channels this node is subscribed to (kept across outages)."""
        ...

    def set_handler(self, handler: MessageHandler) -> None: ...

    def add_health_listener(self, listener: HealthListener) -> None: ...

    async def start(self) -> None: ...

    async def close(self) -> None: ...

    async def publish(self, channel: str, payload: bytes) -> bool: ...

    async def publish_many(self, items: Sequence[tuple[str, bytes]]) -> int:
        """Publish in order, in as few round trips as the transport allows; returns how many of
        the first items were handed over (the rest were not: the transport is down)."""
        ...

    async def subscribe(self, channel: str) -> None: ...

    async def unsubscribe(self, channel: str) -> None: ...


class BrokerBase:
    """What every backend shares: the handler, health transitions and subscription counts."""

    def __init__(self) -> None:
        self._handler: MessageHandler | None = None
        self._listeners: list[HealthListener] = []
        self._counts: dict[str, int] = {}
        self._healthy = False

    @property
    def healthy(self) -> bool:
        return self._healthy

    @property
    def channels(self) -> frozenset[str]:
        return frozenset(self._counts)

    def set_handler(self, handler: MessageHandler) -> None:
        self._handler = handler

    def add_health_listener(self, listener: HealthListener) -> None:
        self._listeners.append(listener)

    def _set_healthy(self, healthy: bool, *, notify: bool = True) -> None:
        if healthy == self._healthy:
            return
        self._healthy = healthy
        if not notify:
            return
        (log.info if healthy else log.warning)("broker_health", healthy=healthy)
        for listener in list(self._listeners):
            try:
                listener(healthy)
            except Exception:
                log.exception("broker_health_listener_failed")

    async def publish(self, channel: str, payload: bytes) -> bool:
        raise NotImplementedError

    async def publish_many(self, items: Sequence[tuple[str, bytes]]) -> int:
        for sent, (channel, payload) in enumerate(items):
            if not await self.publish(channel, payload):
                return sent
        return len(items)

    def _deliver(self, channel: str, payload: bytes) -> None:
        if self._handler is None or channel not in self._counts:
            return
        try:
            self._handler(channel, payload)
        except Exception:
            log.exception("broker_handler_failed", channel=channel)

    def _retain(self, channel: str) -> bool:
        """Count one more subscriber; True when it is the first."""
        count = self._counts.get(channel, 0)
        self._counts[channel] = count + 1
        return count == 0

    def _release(self, channel: str) -> bool:
        """Count one subscriber less; True when it was the last."""
        count = self._counts.get(channel, 0)
        if count == 0:
            log.warning("broker_unsubscribe_unknown", channel=channel)
            return False
        if count == 1:
            del self._counts[channel]
            return True
        self._counts[channel] = count - 1
        return False


class MemoryBus:
    """In-process stand-in for Redis: MemoryBrokers on one bus behave as nodes of one cluster."""

    def __init__(self) -> None:
        self.nodes: set[MemoryBroker] = set()


class MemoryBroker(BrokerBase):
    """Single-process deployments and tests; several on one `MemoryBus` model several nodes."""

    def __init__(self, bus: MemoryBus | None = None) -> None:
        super().__init__()
        self._bus = bus if bus is not None else MemoryBus()

    async def start(self) -> None:
        self._bus.nodes.add(self)
        self._set_healthy(True)

    async def close(self) -> None:
        self._bus.nodes.discard(self)
        self._set_healthy(False, notify=False)
        self._counts.clear()

    def set_healthy(self, healthy: bool) -> None:
        """Simulate an outage of this node's link (relay tests): nothing goes in or out meanwhile."""
        self._set_healthy(healthy)

    async def publish(self, channel: str, payload: bytes) -> bool:
        if not self._healthy:
            return False
        loop = asyncio.get_running_loop()
        for node in self._bus.nodes:
            if node._healthy and channel in node._counts:
                # Delivered on a later loop turn, as from a socket: no re-entry into the publisher,
                # and call_soon keeps publish order.
                loop.call_soon(node._deliver, channel, payload)
        return True

    async def subscribe(self, channel: str) -> None:
        self._retain(channel)

    async def unsubscribe(self, channel: str) -> None:
        self._release(channel)
