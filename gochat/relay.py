"""From committed events to local sockets, on every node, in order, with no gap and no duplicate.

Two inputs feed one sequencer per room this node has subscribers for:
- local commits (the event store's listener), delivered at once and published to the broker;
- the broker (other nodes' commits). The broker may drop frames, so each room tracks the last
  stream version it delivered: an older version is a duplicate and is dropped; a newer one than
  expected means a gap, which waits a moment for the missing frames and is then filled from the
  log. While the broker is unhealthy the relay tails the log for its rooms (and presence) instead,
  and when it recovers it reads the log once more from where the tail was, so nothing committed is
  missed.
Publishing is best effort but not fire-and-forget: a frame the broker refused (this node's link is
down, a publish timed out) is kept, a bounded number per channel, and sent once the broker is
healthy again. Other nodes whose own link stayed up are not tailing the log, and without that
late frame they would notice nothing until the room's next event.
Presence changes (user streams) go to the connections subscribed to rooms the user is in.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections import deque
from collections.abc import Awaitable, Callable, Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any
from uuid import UUID

import orjson
import structlog

from .broker import Broker
from .events.model import RecordedEvent
from .events.store import EventStore
from .hub import Hub, encode_text_frame
from .projections.current import CurrentLog
from .telemetry import Telemetry
from .wire import render

log = structlog.get_logger("gochat.relay")

PRESENCE_CHANNEL = "presence"
CONTROL_CHANNEL = "control"
CLOSE_REVOKED = 4401
ROOM_PREFIX = "room:"
PRESENCE_TYPES = ("presence.changed",)
# Frames kept per channel while the broker refuses them: for a room the newest alone would do (a
# receiver fills the gap before it from the log); a few more spare receivers that round trip.
MAX_UNSENT_PER_CHANNEL = 256
PUBLISH_BATCH = 500
# Presence ids remembered to drop the same change heard twice (broker and log tail overlap).
PRESENCE_SEEN = 4096
# Membership events after which the member stops receiving the room.
REMOVALS = frozenset({"member.left", "member.kicked", "member.banned"})

RoomsOf = Callable[[UUID], Awaitable[Iterable[UUID]]]
EventHook = Callable[[RecordedEvent], None]
ChannelHandler = Callable[[bytes], None]


@dataclass(slots=True)
class _Room:
    version: int
    last_id: int
    waiting: dict[int, tuple[int, str, str | None, bytes]] = field(default_factory=dict)
    filling: asyncio.Task[None] | None = None


def _envelope(node: str, e: RecordedEvent, member: str | None, data: bytes, traceparent: str | None = None) -> bytes:
    """`node|id|version|stream|type|member[|traceparent]` and a newline, then the frame. The
    traceparent (W3C) is there only while OpenTelemetry is on: enable it once every node reads it."""
    tail = f"|{traceparent}" if traceparent else ""
    return f"{node}|{e.id}|{e.version}|{e.stream_id}|{e.type}|{member or '-'}{tail}\n".encode() + data


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
        self.rooms_of = rooms_of
        self.gap_grace = gap_grace
        self.poll_interval = poll_interval
        self._rooms: dict[UUID, _Room] = {}
        self._watching: dict[UUID, asyncio.Future[None]] = {}
        self._outbox: list[tuple[str, bytes]] = []
        self._unsent: dict[str, deque[bytes]] = {}
        self.retry_interval = 0.2
        # The log tail's position (None: not tailing); presence heard so far, to tail from.
        self._tail_after: int | None = None
        self._presence_after = 0
        self._presence_seen: set[int] = set()
        self._presence_order: deque[int] = deque()
        self._publisher: asyncio.Task[None] | None = None
        self._poller: asyncio.Task[None] | None = None
        self._tasks: set[asyncio.Task[Any]] = set()
        self.hooks: list[EventHook] = []
        # Channels of other modules (people_live.py: frames addressed to users): their payloads as published.
        self.channel_handlers: dict[str, ChannelHandler] = {}
        self.gaps_filled = 0
        self.lag_observer: Callable[[float], None] | None = None
        self.tracing: Telemetry | None = None  # set by the app when OpenTelemetry is on

    # --- lifecycle ------------------------------------------------------------------------------
    async def start(self) -> None:
        self.broker.set_handler(self._on_broker)
        self.broker.add_health_listener(self._on_health)
        self.store.add_listener(self.on_commit)
        self._presence_after = await self.store.head()
        await self.broker.subscribe(PRESENCE_CHANNEL)
        await self.broker.subscribe(CONTROL_CHANNEL)
        if not self.broker.healthy:
            self._on_health(False)

    async def close(self) -> None:
        for task in (self._publisher, self._poller, *self._tasks, *(r.filling for r in self._rooms.values())):
            if task is not None:
                task.cancel()
        for task in (self._publisher, self._poller):
            if task is not None:
                with contextlib.suppress(asyncio.CancelledError):
                    await task

    # --- which rooms this node follows -------------------------------------------------------------
    async def watch(self, room: UUID) -> None:
        """Follow a room (idempotent). The baseline comes from the log before the broker
        subscription, so every later event is sequenced against it."""
        if room in self._rooms:
            return
        pending = self._watching.get(room)
        if pending is None:
            pending = self._watching[room] = asyncio.ensure_future(self._start_watch(room))
            pending.add_done_callback(lambda _: self._watching.pop(room, None))
        await asyncio.shield(pending)

    async def _start_watch(self, room: UUID) -> None:
        last = await self.store.last_in_stream(room)
        state = self._rooms[room] = _Room(last.version, last.id) if last else _Room(0, 0)
        await self.broker.subscribe(ROOM_PREFIX + str(room))
        # Frames published between the baseline and the subscription were not heard: read them.
        if self._rooms.get(room) is state:
            for e in await self.current.read_stream(room, after=state.last_id):
                self._offer_event(e)

    def head(self, room: UUID) -> int:
        """The id of the newest event of a watched room delivered to the hub (0 when none)."""
        state = self._rooms.get(room)
        return state.last_id if state else 0

    async def unwatch_if_idle(self, room: UUID) -> None:
        """Stop following a room once no local connection subscribes to it."""
        if room in self.hub.rooms or room not in self._rooms:
            return
        state = self._rooms.pop(room)
        if state.filling:
            state.filling.cancel()
        await self.broker.unsubscribe(ROOM_PREFIX + str(room))

    # --- local commits ---------------------------------------------------------------------------
    def on_commit(self, events: Sequence[RecordedEvent]) -> None:
        # The committing transaction's span (telemetry.py), carried to the other nodes.
        traceparent = self.tracing.traceparent() if self.tracing is not None else None
        for e in events:
            for hook in self.hooks:
                hook(e)
            if e.type == "presence.changed":
                self._heard_presence(e.id)
                self._schedule(self._presence(UUID(e.data["user_id"]), self._presence_frame(e)))
                self._outbox.append((PRESENCE_CHANNEL, _envelope(self.node_id, e, None, b"")))
                continue
            frame = render(e)
            if frame is None:
                continue
            data = orjson.dumps(frame)
            member = frame["user_id"] if e.type in REMOVALS else None
            self._offer(e.stream_id, e.version, e.id, e.type, member, encode_text_frame(data))
            self._outbox.append((ROOM_PREFIX + str(e.stream_id), _envelope(self.node_id, e, member, data, traceparent)))
        self._kick_publisher()

    def _kick_publisher(self) -> None:
        if self._publisher is None and (self._outbox or (self._unsent and self.broker.healthy)):
            self._publisher = asyncio.get_running_loop().create_task(self._publish())

    async def _publish(self) -> None:
        # One task drains the outbox in order, so frames leave in commit order per channel; frames
        # refused earlier go first. While the broker is down nothing is tried (it would fail at
        # once): the health listener starts this task again on recovery.
        try:
            while self._outbox or (self._unsent and self.broker.healthy):
                batch, self._outbox = self._outbox, []
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
        self._kick_publisher()  # appended while the last publish was in flight

    def _keep_unsent(self, channel: str, payload: bytes) -> None:
        queue = self._unsent.get(channel)
        if queue is None:
            queue = self._unsent[channel] = deque(maxlen=MAX_UNSENT_PER_CHANNEL)
        queue.append(payload)

    # --- the broker ----------------------------------------------------------------------------
    def _on_broker(self, channel: str, payload: bytes) -> None:
        handler = self.channel_handlers.get(channel)
        if handler is not None:
            handler(payload)
            return
        header, _, data = payload.partition(b"\n")
        node, id_, version, stream, type_, member, *trace = header.decode().split("|")
        if node == self.node_id:
            return
        if channel == PRESENCE_CHANNEL:
            if self._heard_presence(int(id_)):
                self._schedule(self._remote_presence(int(id_)))
            return
        if channel == CONTROL_CHANNEL:
            # close_session: header "node|session|...": end that login's sockets here too
            self.hub.close_where(CLOSE_REVOKED, b"session revoked", session_id=id_)
            return
        if self.lag_observer is not None and data:
            with contextlib.suppress(Exception):
                self.lag_observer(time.time() - _frame_time(data))
        offer = (
            UUID(stream),
            int(version),
            int(id_),
            type_,
            None if member == "-" else member,
            encode_text_frame(data),
        )
        if trace and self.tracing is not None:
            tracing = self.tracing
            span = tracing.start(
                "relay.deliver",
                parent=tracing.extract({"traceparent": trace[0]}),
                attributes={"gochat.event_id": int(id_), "gochat.event_type": type_, "gochat.from_node": node},
            )
            with tracing.current(span):
                self._offer(*offer)
            span.end()
            return
        self._offer(*offer)

    def _on_health(self, healthy: bool) -> None:
        if not healthy and self._poller is None:
            self._poller = asyncio.get_running_loop().create_task(self._tail_log())
        elif healthy and self._poller is not None:
            self._poller.cancel()
            self._poller = None
            # Subscriptions are back: one more read covers what committed since the tail's last.
            self._schedule(self._catch_up(self._tail_after))
            self._tail_after = None
        if healthy:
            self._kick_publisher()

    # --- sequencing ------------------------------------------------------------------------------
    def _offer(self, room: UUID, version: int, id_: int, type_: str, member: str | None, framed: bytes) -> None:
        state = self._rooms.get(room)
        if state is None or version <= state.version:
            return
        if version > state.version + 1:
            state.waiting[version] = (id_, type_, member, framed)
            if state.filling is None:
                state.filling = asyncio.get_running_loop().create_task(self._fill(room, state))
            return
        self._deliver(room, state, version, id_, type_, member, framed)
        while state.version + 1 in state.waiting:
            nid, ntype, nmember, nframed = state.waiting.pop(state.version + 1)
            self._deliver(room, state, state.version + 1, nid, ntype, nmember, nframed)

    def _deliver(
        self, room: UUID, state: _Room, version: int, id_: int, type_: str, member: str | None, framed: bytes
    ) -> None:
        state.version, state.last_id = version, id_
        self.hub.publish(room, id_, framed, type_)
        if member is not None:
            self.hub.drop_room_for(UUID(member), room)
            if room not in self.hub.rooms:
                self._schedule(self.unwatch_if_idle(room))

    async def _fill(self, room: UUID, state: _Room) -> None:
        try:
            await asyncio.sleep(self.gap_grace)
            while state.waiting and self._rooms.get(room) is state:
                events = await self.current.read_stream(room, after=state.last_id, limit=1000)
                if not events:
                    break
                self.gaps_filled += 1
                for e in events:
                    self._offer_event(e)
                state.waiting = {v: w for v, w in state.waiting.items() if v > state.version}
        except asyncio.CancelledError:
            raise
        except Exception:
            log.exception("gap_fill_failed", room=str(room))
        finally:
            state.filling = None

    def _offer_event(self, e: RecordedEvent) -> None:
        frame = render(e)
        state = self._rooms.get(e.stream_id)
        if state is None:
            return
        if frame is None:
            # Not a room frame (cannot happen for room streams today); keep the sequence moving.
            if e.version == state.version + 1:
                state.version, state.last_id = e.version, e.id
            return
        member = frame["user_id"] if e.type in REMOVALS else None
        self._offer(e.stream_id, e.version, e.id, e.type, member, encode_text_frame(orjson.dumps(frame)))

    async def _tail_log(self) -> None:
        """Broker down: follow the log for every watched room, and presence, until it is back."""
        while True:
            try:
                self._tail_after = await self._catch_up(self._tail_after)
            except asyncio.CancelledError:
                raise
            except Exception:
                log.exception("log_tail_failed")
            await asyncio.sleep(self.poll_interval)

    async def _catch_up(self, after: int | None) -> int | None:
        """Offer every event of the watched rooms after `after`, and presence changes not heard yet;
        returns the position reached. The first pass (after=None) starts from the oldest room's
        last delivered event, since frames lost just before an outage was noticed are older than
        anything the tail has read; later passes start where the previous one ended."""
        await self._catch_up_presence()
        if not self._rooms:
            return after
        if after is None:
            after = min(s.last_id for s in self._rooms.values())
        while True:
            events = await self.current.read_streams(list(self._rooms), after=after, limit=1000)
            for e in events:
                self._offer_event(e)
            if events:
                after = events[-1].id
            if len(events) < 1000:
                return after

    async def _catch_up_presence(self) -> None:
        while True:
            events = await self.store.read_all(after=self._presence_after, limit=1000, types=PRESENCE_TYPES)
            for e in events:
                if self._heard_presence(e.id):
                    self._deliver_presence(e)
            if len(events) < 1000:
                return

    def publish(self, channel: str, payload: bytes) -> None:
        """Send a payload to the other nodes' handler of `channel`, in order with room frames, kept
        and retried like them while the broker is down."""
        self._outbox.append((channel, payload))
        self._kick_publisher()

    # --- control ---------------------------------------------------------------------------------
    async def close_session(self, session_id: UUID) -> None:
        """Close a login's sockets on every node (logout, refresh-token reuse): 4401, so the
        client knows to authenticate again."""
        self.hub.close_where(CLOSE_REVOKED, b"session revoked", session_id=str(session_id))
        header = f"{self.node_id}|{session_id}|-|-|-|-\n".encode()
        if self.broker.healthy:
            await self.broker.publish(CONTROL_CHANNEL, header)

    # --- presence --------------------------------------------------------------------------------
    @staticmethod
    def _presence_frame(e: RecordedEvent) -> bytes:
        from .wire import presence_frame

        return encode_text_frame(orjson.dumps(presence_frame(e.data["user_id"], e.data["status"], e.recorded_at)))

    def _heard_presence(self, event_id: int) -> bool:
        """Note a presence change; False when it was heard already (broker and tail overlap)."""
        if event_id in self._presence_seen:
            return False
        self._presence_seen.add(event_id)
        self._presence_order.append(event_id)
        if len(self._presence_order) > PRESENCE_SEEN:
            self._presence_seen.discard(self._presence_order.popleft())
        self._presence_after = max(self._presence_after, event_id)
        return True

    async def _remote_presence(self, event_id: int) -> None:
        e = await self.store.get(event_id)
        if e is not None:
            self._deliver_presence(e)

    def _deliver_presence(self, e: RecordedEvent) -> None:
        for hook in self.hooks:
            hook(e)
        self._schedule(self._presence(UUID(e.data["user_id"]), self._presence_frame(e)))

    async def _presence(self, user_id: UUID, framed: bytes) -> None:
        sent: set[int] = set()
        for room in await self.rooms_of(user_id):
            for conn in self.hub.rooms.get(room, ()):
                if id(conn) not in sent:
                    sent.add(id(conn))
                    self.hub.send(conn, framed, "presence")

    def _schedule(self, coro: Awaitable[object]) -> None:
        task = asyncio.ensure_future(coro)
        self._tasks.add(task)
        task.add_done_callback(self._done)

    def _done(self, task: asyncio.Future[object]) -> None:
        self._tasks.discard(task)
        if not task.cancelled() and task.exception() is not None:
            # e.g. the database pool timed out under load: the log says so, once, with a name
            log.warning("relay_task_failed", error=repr(task.exception()))


def _frame_time(data: bytes) -> float:
    """Commit time of a frame (its `timestamp`), for the cross-node lag metric."""
    from datetime import datetime

    ts = orjson.loads(data)["timestamp"]
    return datetime.fromisoformat(ts.replace("Z", "+00:00")).timestamp()
