"""Faults with real processes: each test runs its own PostgreSQL, Redis and gochat nodes, breaks one
of them on purpose, and checks the promises against the log (tests/faults.py): nothing acknowledged
is lost, every client receives the log once and in order, failures are answered (never hang) with
a mapped error, and service comes back by itself. docs/reliability.md lists what each one proves.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from conftest import RedisServer, eventually
from faults import OwnPostgres, Reader, Sender, Writers, logged_messages, migrate, start_node, unmapped_errors
from helpers import signup
from room_helpers import make_room
from test_cluster import Node, people, readyz, uid  # noqa: F401  (fixtures)

from gochat.app import create_app
from gochat.client import GochatClient
from gochat.keys import DB
from gochat.settings import Settings

pytestmark = pytest.mark.cluster


@pytest.fixture
def own_pg() -> Iterator[OwnPostgres]:
    server = OwnPostgres()
    try:
        yield server
    finally:
        server.close()


@pytest.fixture
async def nodes(tmp_path: Path) -> AsyncIterator[list[Node]]:
    """Nodes a test started with start_node, stopped at its end."""
    started: list[Node] = []
    yield started
    for node in started:
        node.stop()


async def outage(pg: OwnPostgres, mode: str, senders: list[Sender]) -> None:
    """Sends go through; PostgreSQL stops (`mode`); every sender is refused; it starts again;
    every sender gets through again within 5 s."""
    acked = [len(s.acked) for s in senders]
    await eventually(
        lambda: all(len(s.acked) > n + 10 for s, n in zip(senders, acked, strict=True)), what="sends going through"
    )
    failed = [len(s.failed) for s in senders]
    pg.stop(mode)
    # several refusals each: a refused connect is what left uvloop a closed handle behind
    await eventually(lambda: all(len(s.failed) > n + 5 for s, n in zip(senders, failed, strict=True)), what="refusals")
    pg.start()
    up = time.monotonic()
    await eventually(lambda: all(s.back_after(up) is not None for s in senders), what="sends going through again")
    assert max(s.back_after(up) or 0 for s in senders) < 5.0, mode


async def test_postgres_restarted_fast_and_immediately_loses_nothing_acked_and_answers_every_send(
    own_pg: OwnPostgres,
    nodes: list[Node],
    redis_url: str,
    redis_prefix: str,
    tmp_path: Path,
    people: Callable[[str], Awaitable[GochatClient]],  # noqa: F811
) -> None:
    dsn = own_pg.create_database("gochat")
    await migrate(dsn)
    # A statement whose wake-up is lost (docs/reliability.md) fails after this bound.
    bounds = {"GOCHAT_DB_STATEMENT_TIMEOUT": "1.5", "GOCHAT_DB_ACQUIRE_TIMEOUT": "1.5"}
    nodes.append(node := await start_node("n0", dsn, redis_url, redis_prefix, tmp_path, **bounds))
    alice, bob = await people(node.url), await people(node.url)
    room = (await alice.create_room("faults", "public"))["id"]
    await bob.join(room)
    over_ws, over_http = Sender(room), Sender(room)
    stopping = False
    async with alice.live(room, resume=False) as live, aiohttp.ClientSession() as http:
        assert bob.access_token is not None
        senders = [
            asyncio.ensure_future(over_ws.over_ws(live, lambda: stopping)),
            asyncio.ensure_future(over_http.over_http(http, node.url, bob.access_token, lambda: stopping)),
        ]
        for mode in ("fast", "immediate"):
            await outage(own_pg, mode, [over_ws, over_http])
        stopping = True
        await asyncio.wait_for(asyncio.gather(*senders), 60)
        assert live.closed_with is None  # the sender's socket stayed open throughout

    for sender in (over_ws, over_http):
        for outcome in sender.failed:
            assert outcome.seconds < 2.0, outcome
            error = outcome.answer.get("error", outcome.answer)  # HTTP body or error frame
            assert error["code"] == "unavailable", outcome
        assert all(o.retry_after is not None for o in over_http.failed)
    log = logged_messages(dsn, room)
    acked = over_ws.acked + over_http.acked
    assert len(set(acked)) == len(acked)
    assert set(acked) <= set(log)
    assert unmapped_errors(node.log) == []


async def test_a_node_killed_mid_stream_and_restarted_keeps_every_acked_message_once(
    database_url: str,
    nodes: list[Node],
    redis_url: str,
    redis_prefix: str,
    tmp_path: Path,
    people: Callable[[str], Awaitable[GochatClient]],  # noqa: F811
) -> None:
    nodes.append(node := await start_node("n0", database_url, redis_url, redis_prefix, tmp_path))
    alice = await people(node.url)
    room = (await alice.create_room("killed", "public"))["id"]
    sent: dict[str, int] = {}
    async with aiohttp.ClientSession() as http:
        ws = await http.ws_connect(f"{node.url}/ws", params={"token": alice.access_token or "", "room_id": room})
        for i in range(200):
            await ws.send_json({"type": "message", "room_id": room, "content": f"m{i}", "client_msg_id": f"c{i}"})
        async for msg in ws:  # acks until the node dies under them
            frame = msg.json() if msg.type == aiohttp.WSMsgType.TEXT else {}
            if frame.get("type") == "ack":
                sent[frame["client_msg_id"]] = frame["id"]
                if len(sent) == 50:
                    node.kill()
        await ws.close()
    nodes.append(again := await start_node("n1", database_url, redis_url, redis_prefix, tmp_path))
    retry = GochatClient(again.url)
    retry.access_token = alice.access_token
    try:
        # The client sends again what it was not told about, with the same client_msg_ids.
        for i in range(200):
            body = await retry.post(room, f"m{i}", client_msg_id=f"c{i}")
            assert sent.setdefault(f"c{i}", body["id"]) == body["id"]
    finally:
        await retry.close()
    log = logged_messages(database_url, room)
    assert log == sorted(sent.values())


async def test_an_exhausted_pool_answers_503_with_retry_after_at_once_and_recovers(
    aiohttp_client: Callable[..., Awaitable[Any]], settings: Settings
) -> None:
    client = await aiohttp_client(
        create_app(settings.with_overrides(db_pool_min=0, db_pool_max=2, db_acquire_timeout=0.5))
    )
    alice = await signup(client)
    room = (await make_room(client, alice, "public"))["id"]
    db = client.app[DB]
    async with contextlib.AsyncExitStack() as held:
        db.acquire_timeout = 30  # the app's own work may hold one a moment: wait our turn
        for _ in range(2):  # every connection of the pool, taken by something slow
            await held.enter_async_context(db.cursor())
        db.acquire_timeout = 0.5
        answers = await asyncio.gather(
            *(client.post(f"/rooms/{room}/messages", json={"content": "x"}, headers=alice.headers) for _ in range(3)),
            client.get(f"/rooms/{room}/messages", headers=alice.headers),
        )
        for resp in answers:
            assert resp.status == 503, await resp.text()
            assert (await resp.json())["error"]["code"] == "unavailable"
            assert int(resp.headers["Retry-After"]) >= 1
    resp = await client.post(f"/rooms/{room}/messages", json={"content": "after"}, headers=alice.headers)
    assert resp.status == 201
    history = await (await client.get(f"/rooms/{room}/messages", headers=alice.headers)).json()
    assert [m["content"] for m in history["messages"]] == ["after"]


async def readiness(urls: list[str]) -> set[str]:
    async with aiohttp.ClientSession() as http:
        return {(await readyz(http, u) or {}).get("status", "down") for u in urls}


async def shared_limits(urls: list[str]) -> set[str]:
    """What each node's readiness says of its rate limits (shared through Redis, or per node)."""
    async with aiohttp.ClientSession() as http:
        return {(await readyz(http, u) or {}).get("checks", {}).get("rate_limits", "unknown") for u in urls}


async def test_redis_stopped_for_seconds_under_two_nodes_loses_and_repeats_nothing_and_presence_and_limits_recover(
    own_redis: RedisServer,
    database_url: str,
    nodes: list[Node],
    redis_prefix: str,
    tmp_path: Path,
    people: Callable[[str], Awaitable[GochatClient]],  # noqa: F811
) -> None:
    for name in ("a", "b"):
        nodes.append(
            await start_node(
                name, database_url, own_redis.url, redis_prefix, tmp_path,
                GOCHAT_RATE_LIMITS="on", GOCHAT_SEARCH_LIMIT="20/600",
                GOCHAT_LIMIT_POST="100000/1",  # the writers post flat out: only the search budget is under test
                GOCHAT_PRESENCE_TTL="2", GOCHAT_PRESENCE_SWEEP_INTERVAL="0.5",
            )
        )  # fmt: skip
    urls = [n.url for n in nodes]
    owner = await people(urls[0])
    room = (await owner.create_room("outage", "public"))["id"]
    readers = []
    for url in urls:
        chat = await people(url)
        await chat.join(room)
        assert chat.access_token is not None
        readers.append(Reader(chat.access_token, room))
    writers = [await people(url) for url in urls]
    for chat in writers:
        await chat.join(room)
    sent = Writers(room)
    stopping = False
    async with aiohttp.ClientSession() as http:
        # each reader stays on its own node: what the other node commits reaches it over Redis,
        # or, while Redis is down, from the log
        reading = [asyncio.ensure_future(r.read_once(http, u, seconds=120)) for r, u in zip(readers, urls, strict=True)]
        writing = [asyncio.ensure_future(sent.over_http(c, lambda: stopping)) for c in writers]
        await eventually(lambda: len(sent.acked) > 20, what="messages flowing")
        own_redis.stop()
        await eventually_async(lambda: readiness(urls), {"degraded"}, "both nodes degraded")
        during = len(sent.acked)
        await eventually(lambda: len(sent.acked) > during + 20, what="messages committed while Redis is down")
        # both nodes' writers spent their post budgets meanwhile: the limits fell back to per node
        assert await shared_limits(urls) == {"degraded"}
        await asyncio.sleep(3)  # the outage goes on (the fault's length, not a wait for a result)
        own_redis.start()
        await eventually_async(lambda: readiness(urls), {"ok"}, "both nodes ok again")
        assert await shared_limits(urls) == {"ok"}  # "ok" covers the limits: shared again
        after = len(sent.acked)
        await eventually(lambda: len(sent.acked) > after + 20, what="messages flowing again")
        stopping = True
        await asyncio.gather(*writing)
        last = (await owner.post(room, "the end"))["id"]
        await eventually(lambda: all(last in r.received for r in readers), timeout=30, what="the last word everywhere")
        for task in reading:
            task.cancel()
        await asyncio.gather(*reading, return_exceptions=True)

        # presence: someone connecting on b now is seen online from a, through Redis again
        newcomer = await people(urls[1])
        await newcomer.join(room)
        async with owner.live(room) as watching, newcomer.live(room):
            await watching.recv_until(
                lambda f: f["type"] == "presence" and f["user_id"] == uid(newcomer) and f["status"] == "online",
                timeout=20,
            )
        # rate limits: one budget across both nodes again (a node alone would allow 20 more)
        statuses = []
        for n in range(24):
            async with http.get(
                f"{urls[n % 2]}/search", params={"q": "x"}, headers={"Authorization": f"Bearer {owner.access_token}"}
            ) as resp:
                statuses.append(resp.status)
        limiter_log = [line for n in nodes for line in n.log.read_text().splitlines() if "ratelimit" in line]
        assert statuses.count(200) == 20, (statuses, limiter_log)
        assert statuses[-4:] == [429] * 4, statuses

    log = logged_messages(database_url, room)
    assert set(sent.acked) <= set(log)
    for reader in readers:
        reader.check(log)
    for node in nodes:
        assert unmapped_errors(node.log) == []


async def eventually_async(
    probe: Callable[[], Awaitable[set[str]]], expected: set[str], what: str, timeout: float = 20.0
) -> None:
    deadline = time.monotonic() + timeout
    while (seen := await probe()) != expected:
        assert time.monotonic() < deadline, f"{what}: {seen}"
        await asyncio.sleep(0.1)
