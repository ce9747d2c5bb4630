"""The broker contract, run against both backends, then what only the Redis one must survive.

Nodes are brokers on one shared transport: a MemoryBus, or one Redis under a per-test prefix.
Outage tests run their own redis-server, never the shared one.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import pytest
from conftest import RedisServer, _free_port, eventually, start_redis_server

from gochat.app import create_app
from gochat.keys import BROKER
from gochat.live.broker import Broker, MemoryBroker, MemoryBus
from gochat.live.broker_redis import RedisBroker
from gochat.settings import Settings

NodeFactory = Callable[[], Awaitable[Broker]]


class Inbox:
    """A node's handler: records what arrives, in order."""

    def __init__(self, broker: Broker) -> None:
        self.frames: list[tuple[str, bytes]] = []
        broker.set_handler(lambda channel, payload: self.frames.append((channel, payload)))

    def payloads(self, channel: str) -> list[bytes]:
        return [p for c, p in self.frames if c == channel]

    async def wait_for(self, channel: str, payload: bytes) -> None:
        await eventually(lambda: (channel, payload) in self.frames, what=f"{payload!r} on {channel}")


class HealthLog:
    def __init__(self, broker: Broker) -> None:
        self.transitions: list[bool] = []
        broker.add_health_listener(self.transitions.append)


@pytest.fixture(params=["memory", "redis"])
async def make_node(request: pytest.FixtureRequest, redis_url: str, redis_prefix: str) -> AsyncIterator[NodeFactory]:
    """Start brokers that see each other, as nodes of one deployment."""
    nodes: list[Broker] = []
    bus = MemoryBus()

    async def make() -> Broker:
        broker: Broker = MemoryBroker(bus) if request.param == "memory" else RedisBroker(redis_url, prefix=redis_prefix)
        nodes.append(broker)
        await broker.start()
        return broker

    yield make
    for node in nodes:
        await node.close()


# --- the contract ---------------------------------------------------------------------------------
async def test_a_started_node_is_healthy_and_publishes(make_node: NodeFactory) -> None:
    node = await make_node()
    assert node.healthy
    assert await node.publish("room:nobody", b"into the void") is True


async def test_a_frame_reaches_every_subscribed_node_including_its_publisher(make_node: NodeFactory) -> None:
    a, b, c = await make_node(), await make_node(), await make_node()
    inbox_a, inbox_b, inbox_c = Inbox(a), Inbox(b), Inbox(c)
    await a.subscribe("room:1")
    await b.subscribe("room:1")
    await c.subscribe("room:2")
    assert await a.publish("room:1", b'{"id": 1}')
    await c.publish("room:2", b"barrier")
    await inbox_a.wait_for("room:1", b'{"id": 1}')
    await inbox_b.wait_for("room:1", b'{"id": 1}')
    await inbox_c.wait_for("room:2", b"barrier")
    assert inbox_c.payloads("room:1") == []


async def test_frames_of_one_publisher_arrive_in_order_per_channel(make_node: NodeFactory) -> None:
    publisher, receiver = await make_node(), await make_node()
    inbox = Inbox(receiver)
    await receiver.subscribe("room:a")
    await receiver.subscribe("room:b")
    sent = [str(i).encode() for i in range(300)]
    for payload in sent:
        await publisher.publish("room:a", payload)
        await publisher.publish("room:b", payload)
    await inbox.wait_for("room:a", sent[-1])
    await inbox.wait_for("room:b", sent[-1])
    assert inbox.payloads("room:a") == sent
    assert inbox.payloads("room:b") == sent


async def test_many_channels_each_get_exactly_their_own_frames(make_node: NodeFactory) -> None:
    publisher, receiver = await make_node(), await make_node()
    inbox = Inbox(receiver)
    channels = [f"room:{i}" for i in range(60)]
    await asyncio.gather(*(receiver.subscribe(ch) for ch in channels))
    assert receiver.channels == frozenset(channels)
    for ch in channels:
        await publisher.publish(ch, ch.encode())
    await eventually(lambda: len(inbox.frames) >= len(channels), what="all channels delivered")
    assert sorted(inbox.frames) == sorted((ch, ch.encode()) for ch in channels)


async def test_subscriptions_are_counted_and_the_last_unsubscribe_stops_delivery(make_node: NodeFactory) -> None:
    node = await make_node()
    inbox = Inbox(node)
    await node.subscribe("room:1")
    await node.subscribe("room:1")
    await node.subscribe("barrier")
    await node.unsubscribe("room:1")
    await node.publish("room:1", b"still subscribed once")
    await inbox.wait_for("room:1", b"still subscribed once")

    await node.unsubscribe("room:1")
    assert node.channels == frozenset({"barrier"})
    await node.publish("room:1", b"after the last unsubscribe")
    await node.publish("barrier", b"1")
    await inbox.wait_for("barrier", b"1")
    assert inbox.payloads("room:1") == [b"still subscribed once"]


async def test_unsubscribing_an_unknown_channel_changes_nothing(make_node: NodeFactory) -> None:
    node = await make_node()
    inbox = Inbox(node)
    await node.subscribe("room:1")
    await node.unsubscribe("room:never")
    await node.publish("room:1", b"x")
    await inbox.wait_for("room:1", b"x")
    assert node.channels == frozenset({"room:1"})


async def test_a_failing_handler_does_not_stop_delivery(make_node: NodeFactory) -> None:
    publisher, receiver = await make_node(), await make_node()
    seen: list[bytes] = []

    def handler(channel: str, payload: bytes) -> None:
        seen.append(payload)
        if payload == b"boom":
            raise RuntimeError("a bug in the relay")

    receiver.set_handler(handler)
    await receiver.subscribe("room:1")
    for payload in (b"boom", b"after", b"boom", b"last"):
        await publisher.publish("room:1", payload)
    await eventually(lambda: b"last" in seen, what="delivery after handler errors")
    assert seen == [b"boom", b"after", b"boom", b"last"]
    assert receiver.healthy


# --- memory only ----------------------------------------------------------------------------------
async def test_memory_outage_stops_traffic_both_ways_and_is_announced() -> None:
    bus = MemoryBus()
    a, b = MemoryBroker(bus), MemoryBroker(bus)
    await a.start()
    await b.start()
    inbox, health = Inbox(b), HealthLog(b)
    await b.subscribe("room:1")

    b.set_healthy(False)
    assert await b.publish("room:1", b"from the cut-off node") is False
    await a.publish("room:1", b"lost while down")
    b.set_healthy(True)
    await a.publish("room:1", b"after")
    await inbox.wait_for("room:1", b"after")
    assert inbox.payloads("room:1") == [b"after"]
    assert health.transitions == [False, True]
    await a.close()
    await b.close()


# --- Redis only -----------------------------------------------------------------------------------
@pytest.fixture
async def brokers() -> AsyncIterator[list[RedisBroker]]:
    made: list[RedisBroker] = []
    yield made
    for broker in made:
        await broker.close()


def fast_broker(url: str, made: list[RedisBroker], **kw: Any) -> RedisBroker:
    broker = RedisBroker(url, prefix="t:", backoff_cap=0.2, **kw)
    made.append(broker)
    return broker


async def test_redis_resubscribes_everything_after_its_connection_is_killed(
    own_redis: RedisServer, brokers: list[RedisBroker]
) -> None:
    node, publisher = fast_broker(own_redis.url, brokers), fast_broker(own_redis.url, brokers)
    await node.start()
    await publisher.start()
    inbox, health = Inbox(node), HealthLog(node)
    await node.subscribe("room:1")
    await node.subscribe("room:2")

    own_redis.command("CLIENT", "KILL", "TYPE", "pubsub")
    await eventually(lambda: health.transitions[-1:] == [True], what="recovery after CLIENT KILL")
    assert health.transitions[0] is False
    assert node.channels == frozenset({"room:1", "room:2"})
    await publisher.publish("room:1", b"one")
    await publisher.publish("room:2", b"two")
    await inbox.wait_for("room:1", b"one")
    await inbox.wait_for("room:2", b"two")


async def test_redis_survives_a_restart_and_fails_publishes_fast_meanwhile(
    own_redis: RedisServer, brokers: list[RedisBroker]
) -> None:
    node = fast_broker(own_redis.url, brokers)
    await node.start()
    inbox, health = Inbox(node), HealthLog(node)
    await node.subscribe("room:1")

    own_redis.stop()
    await eventually(lambda: not node.healthy, what="noticing Redis is gone")
    assert await asyncio.wait_for(node.publish("room:1", b"during the outage"), 5) is False
    await asyncio.wait_for(node.subscribe("room:joined-while-down"), 5)

    own_redis.start()
    await eventually(lambda: node.healthy, what="recovery after restart")
    assert health.transitions == [False, True]
    assert await node.publish("room:1", b"after")
    assert await node.publish("room:joined-while-down", b"late joiner")
    await inbox.wait_for("room:1", b"after")
    await inbox.wait_for("room:joined-while-down", b"late joiner")
    assert inbox.payloads("room:1") == [b"after"]


async def test_redis_down_at_start_leaves_the_node_unhealthy_until_it_appears(brokers: list[RedisBroker]) -> None:
    port = _free_port()
    node = fast_broker(f"redis://127.0.0.1:{port}/0", brokers)
    await asyncio.wait_for(node.start(), 10)
    inbox, health = Inbox(node), HealthLog(node)
    assert not node.healthy
    await node.subscribe("room:1")
    assert await node.publish("room:1", b"nowhere") is False

    proc, _ = start_redis_server(port)
    try:
        await eventually(lambda: node.healthy, what="connecting once Redis appears")
        assert health.transitions == [True]
        await node.publish("room:1", b"hello")
        await inbox.wait_for("room:1", b"hello")
    finally:
        proc.kill()
        proc.wait(5)


async def test_redis_that_stops_answering_is_noticed_by_pings(
    own_redis: RedisServer, brokers: list[RedisBroker]
) -> None:
    node = fast_broker(own_redis.url, brokers, ping_interval=0.2, timeout=0.5)
    await node.start()
    inbox, health = Inbox(node), HealthLog(node)
    await node.subscribe("room:1")

    own_redis.command("CLIENT", "PAUSE", "2000", "ALL")
    await eventually(lambda: health.transitions[:1] == [False], what="noticing a silent Redis")
    await eventually(lambda: node.healthy, what="recovery after the pause")
    await node.publish("room:1", b"awake")
    await inbox.wait_for("room:1", b"awake")


async def test_redis_prefixes_keep_deployments_apart(redis_url: str, brokers: list[RedisBroker]) -> None:
    ours = RedisBroker(redis_url, prefix="gochat-test-ours:")
    theirs = RedisBroker(redis_url, prefix="gochat-test-theirs:")
    brokers.extend((ours, theirs))
    await ours.start()
    await theirs.start()
    inbox = Inbox(theirs)
    await theirs.subscribe("room:1")
    await theirs.subscribe("barrier")
    await ours.publish("room:1", b"not for them")
    await theirs.publish("barrier", b"1")
    await inbox.wait_for("barrier", b"1")
    assert inbox.payloads("room:1") == []


# --- wiring -------------------------------------------------------------------------------------
async def test_readiness_reports_the_broker(
    aiohttp_client: Callable[..., Any], settings: Settings, redis_url: str, redis_prefix: str
) -> None:
    client = await aiohttp_client(create_app(settings.with_overrides(redis_url=redis_url, redis_prefix=redis_prefix)))
    assert isinstance(client.app[BROKER], RedisBroker)
    resp = await client.get("/readyz")
    assert resp.status == 200
    assert (await resp.json())["checks"]["broker"] == "ok"


async def test_readiness_is_degraded_not_down_without_redis(
    aiohttp_client: Callable[..., Any], settings: Settings
) -> None:
    dead = f"redis://127.0.0.1:{_free_port()}/0"
    client = await aiohttp_client(create_app(settings.with_overrides(redis_url=dead)))
    resp = await client.get("/readyz")
    body = await resp.json()
    assert (resp.status, body["status"], body["checks"]["broker"]) == (200, "degraded", "degraded")


async def test_without_redis_the_app_runs_on_memory_backends(client: Any) -> None:
    assert isinstance(client.app[BROKER], MemoryBroker)
    assert "broker" not in (await (await client.get("/readyz")).json())["checks"]
