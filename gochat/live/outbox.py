"""Publishing to the other nodes: in commit order per channel, in batches, and kept while the
broker refuses.

Best effort but not fire-and-forget: a payload the broker refused (this node's link is down, a
publish timed out) is kept, a bounded number per channel, and sent once the broker is healthy
again. Other nodes whose own link stayed up are not tailing the log, and without that late frame
they would notice nothing until the room's next event.
"""

from __future__ import annotations

import asyncio
from collections import deque

from ..aio import cancel_and_wait
from .broker import Broker

# Frames kept per channel while the broker refuses them: for a room the newest alone would do (a
# receiver fills the gap before it from the log); a few more spare receivers that round trip.
MAX_UNSENT_PER_CHANNEL = 256
PUBLISH_BATCH = 500

Item = tuple[str, bytes]  # (channel, payload), as Broker.publish_many takes them


class Outbox:
    def __init__(self, broker: Broker, *, retry_interval: float = 0.2) -> None:
        self.broker = broker
        self.retry_interval = retry_interval
        self._queued: list[Item] = []
        self._unsent: dict[str, deque[bytes]] = {}
        self._publisher: asyncio.Task[None] | None = None

    def put(self, channel: str, payload: bytes) -> None:
        """Queue a payload; `flush` starts sending (one call after a batch of puts)."""
        self._queued.append((channel, payload))

    def send(self, channel: str, payload: bytes) -> None:
        self._queued.append((channel, payload))
        self.flush()

    def flush(self) -> None:
        """Start the publisher if there is something to send (call it when the broker recovers)."""
        if self._publisher is None and (self._queued or (self._unsent and self.broker.healthy)):
            self._publisher = asyncio.get_running_loop().create_task(self._publish())

    def unsent(self, channel: str) -> int:
        """How many payloads of a channel wait for the broker to recover."""
        return len(self._unsent.get(channel, ()))

    async def close(self) -> None:
        if self._publisher is not None:
            await cancel_and_wait(self._publisher)

    async def _publish(self) -> None:
        # One task drains the queue in order, so payloads leave in commit order per channel;
        # payloads refused earlier go first. While the broker is down nothing is tried (it would
        # fail at once): `flush` on recovery starts this task again.
        try:
            while self._queued or (self._unsent and self.broker.healthy):
                batch, self._queued = self._queued, []
                if self._unsent and self.broker.healthy:
                    batch = [(ch, p) for ch, q in self._unsent.items() for p in q] + batch
                    self._unsent = {}
                # One round trip per batch: awaiting each publish in turn caps a node at
                # 1 / RTT frames per second (a few hundred on a loaded machine).
                sent = 0
                for start in range(0, len(batch), PUBLISH_BATCH):
                    chunk = batch[start : start + PUBLISH_BATCH]
                    sent += await self.broker.publish_many(chunk)
                    if sent < start + len(chunk):
                        break
                for channel, payload in batch[sent:]:  # kept in order, sent on recovery
                    self._keep_unsent(channel, payload)
                refused = sent < len(batch)
                if refused and self.broker.healthy:
                    await asyncio.sleep(self.retry_interval)  # a transient failure: try again
                elif refused:
                    break
        finally:
            self._publisher = None
        self.flush()  # queued while the last publish was in flight

    def _keep_unsent(self, channel: str, payload: bytes) -> None:
        queue = self._unsent.get(channel)
        if queue is None:
            queue = self._unsent[channel] = deque(maxlen=MAX_UNSENT_PER_CHANNEL)
        queue.append(payload)
