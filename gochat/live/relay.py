"""From committed events to local sockets, on every node, in order, with no gap and no duplicate:
the wiring of the live side.

Two inputs feed the room sequencer (sequencer.py) of the rooms this node has subscribers for:
- local commits (the event store's listener): rendered once (wire.py), delivered at once and
  queued for the other nodes (outbox.py);
- the broker (other nodes' commits), whose payloads envelope.py reads.
While the broker is unhealthy the node reads the log instead (log_tail.py). Presence changes
(presence.py) and session revocation (revocation.py) have channels of their own; other modules'
channels (people.py) are `channel_handlers`.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Callable, Sequence
from uuid import UUID

import orjson

from ..events.model import RecordedEvent
from ..events.store import EventStore
from ..events.types import EventType
from ..projections.current import CurrentLog
from ..telemetry import Telemetry
from .broker import Broker
from .envelope import CONTROL_CHANNEL, PRESENCE_CHANNEL, Header, commit_time, decode, encode_event, room_channel
from .frames import encode_text_frame
from .hub import Hub
from .log_tail import LogTail
from .outbox import Outbox
from .presence import EventHook, PresenceFanout, RoomsOf
from .revocation import Revocation
from .sequencer import LiveFrame, Sequencer, live_frame, marker
from .tasks import Tasks
from .wire import UNSENT_ROOM_EVENTS, render

ChannelHandler = Callable[[bytes], None]


class Relay:
    def __init__(
        self,
        hub: Hub,
        store: EventStore,
        broker: Broker,
        *,
        node_id: str,
        rooms_of: RoomsOf,
        gap_grace: float = 0.05,
        poll_interval: float = 0.1,
        current: CurrentLog | None = None,
    ) -> None:
        self.hub = hub
        self.store = store
        # Reads from the log (first read, gap fill, tail) serve messages as they are now.
        self.current = current or CurrentLog(store)
        self.broker = broker
        self.node_id = node_id
        self.hooks: list[EventHook] = []  # called with every event committed here, and remote presence
        # Channels of other modules (people.py: frames addressed to users): their payloads as published.
        self.channel_handlers: dict[str, ChannelHandler] = {}
        self.lag_observer: Callable[[float], None] | None = None
        self.tracing: Telemetry | None = None  # set by the app when OpenTelemetry is on
        self.tasks = Tasks("relay_task_failed")
        self.sequencer = Sequencer(hub, store, self.current, gap_grace=gap_grace, on_idle=self._idle)
        self.outbox = Outbox(broker)
        self.presence = PresenceFanout(hub, store, rooms_of, self.hooks, self.tasks)
        self.tail = LogTail(self.sequencer, self.current, self.presence, self.tasks, poll_interval=poll_interval)
        self.revocation = Revocation(hub, broker, node_id)
        self._watching: dict[UUID, asyncio.Future[None]] = {}

    @property
    def gaps_filled(self) -> int:
        return self.sequencer.gaps_filled

    # --- lifecycle ------------------------------------------------------------------------------
    async def start(self) -> None:
        self.broker.set_handler(self._on_broker)
        self.broker.add_health_listener(self._on_health)
        self.store.add_listener(self.on_commit)
        await self.presence.start()
        await self.broker.subscribe(PRESENCE_CHANNEL)
        await self.broker.subscribe(CONTROL_CHANNEL)
        if not self.broker.healthy:
            self._on_health(False)

    async def close(self) -> None:
        self.tasks.cancel()
        self.sequencer.close()
        await self.outbox.close()
        await self.tail.close()

    # --- which rooms this node follows -----------------------------------------------------------
    async def watch(self, room: UUID) -> None:
        """Follow a room (idempotent): sequence it from the log, subscribed to its channel."""
        if room in self.sequencer.rooms:
            return
        pending = self._watching.get(room)
        if pending is None:
            pending = self._watching[room] = asyncio.ensure_future(
                self.sequencer.start(room, lambda: self.broker.subscribe(room_channel(room)))
            )
            pending.add_done_callback(lambda _: self._watching.pop(room, None))
        await asyncio.shield(pending)

    def head(self, room: UUID) -> int:
        """The id of the newest event of a watched room delivered to the hub (0 when none)."""
        return self.sequencer.head(room)

    async def unwatch_if_idle(self, room: UUID) -> None:
        """Stop following a room once no local connection subscribes to it."""
        if room in self.hub.rooms or room not in self.sequencer.rooms:
            return
        self.sequencer.stop(room)
        await self.broker.unsubscribe(room_channel(room))

    def _idle(self, room: UUID) -> None:
        self.tasks.spawn(self.unwatch_if_idle(room))

    # --- local commits ---------------------------------------------------------------------------
    def on_commit(self, events: Sequence[RecordedEvent]) -> None:
        # The committing transaction's span (telemetry.py), carried to the other nodes.
        traceparent = self.tracing.traceparent() if self.tracing is not None else None
        outbox = self.outbox
        for e in events:
            for hook in self.hooks:
                hook(e)
            if e.type == EventType.PRESENCE_CHANGED:
                self.presence.committed(e)
                outbox.put(PRESENCE_CHANNEL, encode_event(self.node_id, e, None, b""))
                continue
            rendered = render(e)
            if rendered is None:
                if e.type in UNSENT_ROOM_EVENTS:  # its version, without a frame
                    self.sequencer.offer(marker(e))
                    outbox.put(room_channel(e.stream_id), encode_event(self.node_id, e, None, b"", traceparent))
                continue
            data = orjson.dumps(rendered)
            frame = live_frame(e, rendered, data)
            self.sequencer.offer(frame)
            outbox.put(room_channel(e.stream_id), encode_event(self.node_id, e, frame.member, data, traceparent))
        outbox.flush()

    def publish(self, channel: str, payload: bytes) -> None:
        """Send a payload to the other nodes' handler of `channel`, in order with room frames, kept
        and retried like them while the broker is down."""
        self.outbox.send(channel, payload)

    async def close_session(self, session_id: UUID) -> None:
        """Close a login's sockets on every node (revocation.py)."""
        await self.revocation.close_session(session_id)

    # --- the broker ------------------------------------------------------------------------------
    def _on_broker(self, channel: str, payload: bytes) -> None:
        handler = self.channel_handlers.get(channel)
        if handler is not None:
            handler(payload)
            return
        header, data = decode(payload)
        if header.node == self.node_id:
            return
        if channel == PRESENCE_CHANNEL:
            self.presence.announced(int(header.id))
        elif channel == CONTROL_CHANNEL:
            self.revocation.announced(header)
        else:
            self._on_room_frame(header, data)

    def _on_room_frame(self, header: Header, data: bytes) -> None:
        if self.lag_observer is not None and data:
            with contextlib.suppress(Exception):
                self.lag_observer(time.time() - commit_time(data))
        frame = LiveFrame(
            UUID(header.stream),
            int(header.version),
            int(header.id),
            header.type,
            header.member_id(),
            encode_text_frame(data) if data else b"",  # empty: a marker (sequencer.marker)
        )
        tracing = self.tracing
        if header.traceparent is None or tracing is None:
            self.sequencer.offer(frame)
            return
        span = tracing.start(
            "relay.deliver",
            parent=tracing.extract({"traceparent": header.traceparent}),
            attributes={
                "gochat.event_id": frame.event_id,
                "gochat.event_type": frame.type,
                "gochat.from_node": header.node,
            },
        )
        with tracing.current(span):
            self.sequencer.offer(frame)
        span.end()

    def _on_health(self, healthy: bool) -> None:
        self.tail.on_health(healthy)
        if healthy:
            self.outbox.flush()
