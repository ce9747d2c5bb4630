"""Presence across nodes: one contract for the in-process and the Redis store, then what only the
Redis one must survive. Nodes are stores with different node ids on one shared backend; the TTL is
about a second so expiry is observable, and sleeps are generous multiples of it."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Awaitable, Callable

import pytest
from conftest import RedisServer
from redis.asyncio import Redis

from gochat.app import create_app
from gochat.keys import PRESENCE
from gochat.live.presence_store import MemoryPresenceCluster, MemoryPresenceStore, PresenceStore
from gochat.live.presence_store_redis import RedisPresenceStore
from gochat.redis_client import connect_redis
from gochat.settings import Settings

TTL = 1.0
NodeFactory = Callable[[str], Awaitable[PresenceStore]]


@pytest.fixture(params=["memory", "redis"])
async def make_node(
    request: pytest.FixtureRequest, redis_client: Redis, redis_prefix: str
) -> AsyncIterator[NodeFactory]:
    """Stores of one deployment, not yet heartbeating (tests call `heartbeat` or `start`)."""
    cluster = MemoryPresenceCluster()
    nodes: list[PresenceStore] = []

    async def make(node_id: str) -> PresenceStore:
        store: PresenceStore = MemoryPresenceStore(node_id, ttl=TTL, cluster=cluster)
        if request.param == "redis":
            store = RedisPresenceStore(redis_client, node_id, prefix=redis_prefix, ttl=TTL)
        nodes.append(store)
        return store

    yield make
    for node in nodes:
        await node.close()


# --- the contract ---------------------------------------------------------------------------------
async def test_connections_are_counted_per_node(make_node: NodeFactory) -> None:
    node = await make_node("a")
    assert await node.connected("u1") is True
    assert await node.connected("u1") is False
    assert await node.disconnected("u1") is False
    assert await node.disconnected("u1") is True
    assert await node.disconnected("u1") is False


async def test_online_spans_every_live_node(make_node: NodeFactory) -> None:
    a, b = await make_node("a"), await make_node("b")
    await a.start()
    await b.start()
    await a.connected("u1")
    await b.connected("u2")
    assert await a.online(["u1", "u2", "u3"]) == {"u1", "u2"}
    assert await b.online(["u1", "u2", "u3"]) == {"u1", "u2"}
    assert await a.online([]) == set()


async def test_a_user_stays_online_until_their_last_connection_anywhere_goes(make_node: NodeFactory) -> None:
    a, b = await make_node("a"), await make_node("b")
    await a.start()
    await b.start()
    await a.connected("u1")
    await a.connected("u1")
    await b.connected("u1")
    await a.disconnected("u1")
    await a.disconnected("u1")
    assert await a.online(["u1"]) == {"u1"}
    await b.disconnected("u1")
    assert await a.online(["u1"]) == set()


async def test_a_node_that_stops_heartbeating_drops_out_after_the_ttl(make_node: NodeFactory) -> None:
    dying, alive = await make_node("dying"), await make_node("alive")
    await dying.connected("u1")
    await alive.connected("u2")
    await dying.heartbeat()
    await alive.heartbeat()
    assert await alive.online(["u1", "u2"]) == {"u1", "u2"}

    # `alive` keeps beating; `dying` has crashed: u1 goes, u2 stays, however long that takes
    deadline = time.monotonic() + 30 * TTL
    while (online := await alive.online(["u1", "u2"])) != {"u2"}:
        assert "u2" in online, "a beating node's user dropped out"
        assert time.monotonic() < deadline, online
        await alive.heartbeat()
        await asyncio.sleep(TTL / 10)


async def test_a_dead_node_drops_out_even_when_no_other_node_heartbeats(make_node: NodeFactory) -> None:
    dying, reader = await make_node("dying"), await make_node("reader")
    await dying.connected("u1")
    await dying.heartbeat()
    deadline = time.monotonic() + 30 * TTL
    while await reader.online(["u1"]) != set():
        assert time.monotonic() < deadline, "a dead node's user never dropped out"
        await asyncio.sleep(TTL / 10)


async def test_a_running_node_outlives_its_ttl(make_node: NodeFactory) -> None:
    a, b = await make_node("a"), await make_node("b")
    await a.start()
    await a.connected("u1")
    await asyncio.sleep(TTL * 2.5)
    assert await b.online(["u1"]) == {"u1"}


async def test_closing_a_node_withdraws_its_users_at_once(make_node: NodeFactory) -> None:
    a, b = await make_node("a"), await make_node("b")
    await a.start()
    await a.connected("u1")
    await a.close()
    assert await b.online(["u1"]) == set()


async def test_many_users_at_once(make_node: NodeFactory) -> None:
    a, b = await make_node("a"), await make_node("b")
    await a.start()
    await b.start()
    users = [f"user-{i}" for i in range(2500)]
    for user in users[::2]:
        await a.connected(user)
    for user in users[1::4]:
        await b.connected(user)
    assert await a.online(users) == set(users[::2]) | set(users[1::4])


# --- Redis only -----------------------------------------------------------------------------------
async def test_redis_node_keys_expire_with_the_node(redis_client: Redis, redis_prefix: str) -> None:
    node = RedisPresenceStore(redis_client, "a", prefix=redis_prefix, ttl=TTL)
    await node.connected("u1")
    await node.heartbeat()
    assert 0 < await redis_client.pttl(f"{redis_prefix}presence:node:a") <= TTL * 1000


async def test_redis_restart_is_healed_by_the_next_heartbeat(own_redis: RedisServer) -> None:
    client = connect_redis(own_redis.url, timeout=0.5)
    node = RedisPresenceStore(client, "a", ttl=TTL)
    try:
        await node.start()
        await node.connected("u1")
        own_redis.stop()
        await node.connected("u2")  # not written: Redis is down
        assert await node.online(["u1", "u2", "u3"]) == {"u1", "u2"}  # this node's own view meanwhile
        own_redis.start()  # empty: no persistence
        await node.heartbeat()
        other = RedisPresenceStore(client, "b", ttl=TTL)
        assert await other.online(["u1", "u2", "u3"]) == {"u1", "u2"}
    finally:
        await node.close()
        await client.aclose()


async def test_app_builds_a_redis_presence_store_when_redis_is_configured(
    aiohttp_client: Callable[..., Awaitable[object]], settings: Settings, redis_url: str, redis_prefix: str
) -> None:
    app = create_app(settings.with_overrides(redis_url=redis_url, redis_prefix=redis_prefix))
    await aiohttp_client(app)
    presence = app[PRESENCE]
    assert isinstance(presence, RedisPresenceStore)
    await presence.connected("u1")
    assert await presence.online(["u1"]) == {"u1"}
