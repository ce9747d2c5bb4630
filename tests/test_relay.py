"""The relay across nodes, in one process: two nodes (their own event store writer, hub and relay)
on one database and one MemoryBus, so a node's link can be cut while the other's stays up.

What each node's hub is handed is recorded per room: the relay's promise is every event of a
watched room, in stream order, once.
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any
from uuid import UUID

import pytest
from conftest import eventually

from gochat.db import Database
from gochat.events import EventStore, NewEvent, build_registry
from gochat.live.broker import Broker, MemoryBroker, MemoryBus
from gochat.live.broker_redis import RedisBroker
from gochat.live.connection import Connection
from gochat.live.hub import Hub
from gochat.live.relay import Relay
from gochat.projections.catalog import all_projections
from gochat.projections.engine import InlineProjections
from gochat.services.presence import presence_stream


class RecordingHub(Hub):
    def __init__(self) -> None:
        super().__init__()
        self.got: dict[UUID, list[int]] = {}

    def publish(self, room: UUID, event_id: int, data: bytes, kind: str = "event") -> None:
        self.got.setdefault(room, []).append(event_id)
        super().publish(room, event_id, data, kind)


@dataclass(eq=False)
class FakeTransport:
    written: list[bytes] = field(default_factory=list)

    def write(self, data: bytes) -> None:
        self.written.append(data)

    def get_write_buffer_size(self) -> int:
        return 0

    def is_closing(self) -> bool:
        return False

    def abort(self) -> None:
        raise AssertionError("the relay's tests never leave a connection silent that long")


class FakeSocket:
    async def close(self, *, code: int = 1000, message: bytes = b"") -> bool:
        return True


class HookedBroker(MemoryBroker):
    """Runs `before_subscribe` inside subscribe: something that happens in that window."""

    before_subscribe: Callable[[], Awaitable[None]] | None = None

    async def subscribe(self, channel: str) -> None:
        if self.before_subscribe is not None:
            await self.before_subscribe()
        await super().subscribe(channel)


@dataclass
class Node:
    store: EventStore
    broker: HookedBroker
    hub: RecordingHub
    relay: Relay
    lags: list[float] = field(default_factory=list)

    async def post(self, room: UUID, n: int = 1) -> list[int]:
        """Commit `n` events to a room from this node (typing: the smallest room frame)."""
        ids = []
        for _ in range(n):
            result = await self.store.append_one(NewEvent("typing.started", room, {}, actor_id=uuid.uuid4()))
            ids.append(result.event.id)
        return ids


NodeFactory = Callable[..., Awaitable[Node]]


@pytest.fixture
async def make_node(db: Database) -> AsyncIterator[NodeFactory]:
    bus = MemoryBus()
    nodes: list[Node] = []

    async def make(
        name: str, rooms_of: Callable[[UUID], Awaitable[list[UUID]]] | None = None, *, projected: bool = False
    ) -> Node:
        store = EventStore(db, build_registry(), node_id=name)
        if projected:  # history kept inline, as the app does (the relay's log reads consult it)
            store.inline.append(InlineProjections(store, all_projections("english")))
        store.start()
        broker = HookedBroker(bus)
        await broker.start()
        hub = RecordingHub()

        async def no_rooms(user: UUID) -> list[UUID]:
            return []

        relay = Relay(hub, store, broker, node_id=name, rooms_of=rooms_of or no_rooms, poll_interval=0.02)
        node = Node(store, broker, hub, relay)
        relay.lag_observer = node.lags.append
        await relay.start()
        nodes.append(node)
        return node

    yield make
    for node in nodes:
        await node.relay.close()
        await node.store.close()
        await node.broker.close()


def listener(node: Node, room: UUID) -> FakeTransport:
    """A local connection subscribed to `room` on `node` (the relay only follows rooms with one)."""
    transport = FakeTransport()
    conn = Connection(uuid.uuid4(), None, FakeSocket(), transport)
    node.hub.add(conn)
    node.hub.subscribe(conn, room)
    return transport


async def test_frames_of_another_node_arrive_in_order_once_and_their_lag_is_observed(make_node: NodeFactory) -> None:
    a, b = await make_node("a"), await make_node("b")
    room = uuid.uuid4()
    listener(b, room)
    await b.relay.watch(room)
    sent = await a.post(room, 20)
    await eventually(lambda: b.hub.got.get(room, [])[-1:] == sent[-1:], what="b delivers a's events")
    assert b.hub.got[room] == sent
    assert len(b.lags) == len(sent)
    assert all(lag >= 0 for lag in b.lags)


async def test_what_a_node_could_not_publish_reaches_the_others_when_its_link_returns(
    make_node: NodeFactory,
) -> None:
    a, b = await make_node("a"), await make_node("b")
    room = uuid.uuid4()
    listener(b, room)
    await b.relay.watch(room)
    a.broker.set_healthy(False)  # only a's link is down: b is healthy and not tailing the log
    sent = await a.post(room, 5)
    await asyncio.sleep(0.2)
    assert b.hub.got.get(room, []) == []  # nothing else would have told b, until the room's next event
    a.broker.set_healthy(True)
    await eventually(lambda: b.hub.got.get(room, []) == sent, what="b delivers a's late frames")


async def test_a_node_with_its_link_down_follows_the_log_and_catches_up_when_it_returns(
    make_node: NodeFactory,
) -> None:
    a, b = await make_node("a"), await make_node("b")
    room = uuid.uuid4()
    listener(b, room)
    await b.relay.watch(room)
    b.broker.set_healthy(False)
    sent = await a.post(room, 5)
    await eventually(lambda: b.hub.got.get(room, []) == sent, what="b tails the log")
    b.broker.set_healthy(True)
    sent += await a.post(room, 5)
    await eventually(lambda: b.hub.got.get(room, [])[-1:] == sent[-1:], what="b back on the broker")
    assert b.hub.got[room] == sent


async def test_an_event_committed_while_a_room_is_being_subscribed_is_not_missed(make_node: NodeFactory) -> None:
    a, b = await make_node("a"), await make_node("b")
    room = uuid.uuid4()
    listener(b, room)
    early: list[int] = []

    async def commit_in_the_window() -> None:
        b.broker.before_subscribe = None
        early.extend(await a.post(room))
        await asyncio.sleep(0.1)  # a has published it by now, to nobody

    b.broker.before_subscribe = commit_in_the_window
    await b.relay.watch(room)  # baseline read, then a commits (b not subscribed yet), then subscribe
    assert early
    await eventually(lambda: b.hub.got.get(room, []) == early, what="the window's event delivered")
    assert b.relay.head(room) == early[0]


async def test_a_room_event_subscribers_are_not_sent_leaves_no_gap_on_any_node(make_node: NodeFactory) -> None:
    a, b = await make_node("a"), await make_node("b")
    room = uuid.uuid4()
    listener(a, room)
    listener(b, room)
    await a.relay.watch(room)
    await b.relay.watch(room)
    for node in (a, b):
        node.relay.sequencer.gap_grace = 60.0  # a gap would hold the next frame for a minute
    before = await a.post(room)
    await a.store.append_one(NewEvent("room.settings_changed", room, {"link_previews": False}, actor_id=uuid.uuid4()))
    after = await a.post(room)
    await eventually(lambda: a.hub.got.get(room) == before + after, what="a delivered past the marker")
    await eventually(lambda: b.hub.got.get(room) == before + after, what="b delivered past the marker")
    assert a.relay.gaps_filled == b.relay.gaps_filled == 0


async def watched_room(a: Node, b: Node) -> tuple[UUID, FakeTransport]:
    """A public room made on a, and a connection on b subscribed to it."""
    room = uuid.uuid4()
    await a.store.append_one(NewEvent("room.created", room, {"name": "r", "type": "public"}, actor_id=uuid.uuid4()))
    return room, listener(b, room)


async def post_and_delete(node: Node, room: UUID) -> list[int]:
    author = uuid.uuid4()
    posted = await node.store.append_one(NewEvent("message.posted", room, {"content": "gone soon"}, actor_id=author))
    deleted = await node.store.append_one(NewEvent("message.deleted", room, {"message_id": posted.event.id}))
    return [posted.event.id, deleted.event.id]


def sent_a_tombstone(transport: FakeTransport) -> None:
    sent = b"".join(transport.written)
    assert b"gone soon" not in sent
    assert b'"content":"","deleted":true' in sent


async def test_the_first_read_of_a_room_serves_a_message_deleted_since_as_a_tombstone(make_node: NodeFactory) -> None:
    a, b = await make_node("a", projected=True), await make_node("b")
    room, transport = await watched_room(a, b)
    window: list[int] = []

    async def post_and_delete_in_the_window() -> None:
        b.broker.before_subscribe = None
        window.extend(await post_and_delete(a, room))
        await asyncio.sleep(0.1)  # a has published both by now, to nobody

    b.broker.before_subscribe = post_and_delete_in_the_window
    await b.relay.watch(room)  # the baseline, then the window, then the first read of the log
    await eventually(lambda: b.hub.got.get(room, []) == window, what="the window's events delivered")
    sent_a_tombstone(transport)


async def test_a_gap_is_filled_with_what_history_holds_now(make_node: NodeFactory) -> None:
    a, b = await make_node("a", projected=True), await make_node("b")
    room, transport = await watched_room(a, b)
    await b.relay.watch(room)
    heard = b.relay._on_broker

    def lose_posts(channel: str, payload: bytes) -> None:  # the broker may drop frames
        if b"|message.posted|" not in payload.partition(b"\n")[0]:
            heard(channel, payload)

    b.broker.set_handler(lose_posts)
    ids = await post_and_delete(a, room)
    await eventually(lambda: b.hub.got.get(room, [])[-2:] == ids, what="gap filled")
    assert b.relay.gaps_filled >= 1
    sent_a_tombstone(transport)


async def test_the_log_tail_serves_what_history_holds_now(make_node: NodeFactory) -> None:
    """The third reader of the log after the first read and gap fills: a node whose broker is down."""
    a, b = await make_node("a", projected=True), await make_node("b")
    room, transport = await watched_room(a, b)
    await b.relay.watch(room)
    b.broker.set_handler(lambda channel, payload: None)  # b hears nothing, and sees no gap to fill
    ids = await post_and_delete(a, room)
    assert b.hub.got.get(room, []) == []
    b.broker.set_healthy(False)  # the tail reads the log from b's last delivered event
    await eventually(lambda: b.hub.got.get(room, [])[-2:] == ids, what="tailed")
    sent_a_tombstone(transport)


async def test_presence_reaches_a_node_that_tails_the_log(make_node: NodeFactory) -> None:
    room, user = uuid.uuid4(), uuid.uuid4()

    async def rooms_of(who: UUID) -> list[UUID]:
        return [room] if who == user else []

    a, b = await make_node("a"), await make_node("b", rooms_of)
    transport = listener(b, room)
    await b.relay.watch(room)
    b.broker.set_healthy(False)
    data: dict[str, Any] = {"user_id": str(user), "status": "online"}
    await a.store.append_one(NewEvent("presence.changed", presence_stream(user), data, actor_id=user))

    def presence_frames() -> int:
        return sum(chunk.count(b'"presence"') for chunk in transport.written)

    await eventually(lambda: presence_frames() == 1, what="presence over the log")
    b.broker.set_healthy(True)  # the catch-up on recovery reads it again: heard once only
    await a.post(room)
    await eventually(lambda: len(b.hub.got.get(room, [])) == 1, what="b back on the broker")
    assert presence_frames() == 1


@pytest.mark.parametrize("backend", ["memory", "redis"])
async def test_a_batch_is_published_in_order_and_refused_whole_while_down(
    backend: str, redis_url: str, redis_prefix: str
) -> None:
    bus = MemoryBus()
    pair: list[Broker] = [
        MemoryBroker(bus) if backend == "memory" else RedisBroker(redis_url, prefix=redis_prefix) for _ in range(2)
    ]
    got: list[bytes] = []
    pair[0].set_handler(lambda channel, payload: got.append(payload))
    for broker in pair:
        await broker.start()
    try:
        await pair[0].subscribe("room:x")
        frames = [("room:x", str(i).encode()) for i in range(300)]
        assert await pair[1].publish_many(frames) == 300
        await eventually(lambda: len(got) == 300, what="the batch")
        assert got == [p for _, p in frames]
        await pair[1].close()
        assert await pair[1].publish_many(frames) == 0
    finally:
        for broker in pair:
            await broker.close()
