"""A socket's frames are pipelined: the server takes the next frame while earlier ones commit, yet
acks, error frames and the room's order follow the send order, and at most `ws_max_inflight`
frames are in flight per socket (beyond that the server stops reading)."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any

from helpers import signup
from test_ws import connect, make_room, message, until

from gochat.app import create_app
from gochat.keys import HUB, STORE
from gochat.settings import Settings


async def test_acks_errors_and_the_room_keep_the_send_order(
    aiohttp_client: Callable[..., Any], settings: Settings
) -> None:
    client = await aiohttp_client(create_app(settings.with_overrides(rate_limits=False)))
    alice, bob = await signup(client), await signup(client)
    room = await make_room(client, alice, members=[bob])
    wb = await connect(client, bob, room)
    wa = await connect(client, alice, room)
    sent: list[str] = []
    for i in range(120):
        # A blank message is refused by validation as it is queued: its error keeps its place too.
        content = "   " if i % 40 == 39 else f"m{i}"
        await wa.send_json(message(room, content, f"c{i}"))
        sent.append(f"c{i}")
    replies: list[dict[str, Any]] = []
    while len(replies) < len(sent):
        replies.append(await until(wa, lambda f: f["type"] in ("ack", "error"), timeout=20))
    assert [r["client_msg_id"] for r in replies] == sent
    assert [r["type"] for r in replies if r["client_msg_id"] in ("c39", "c79", "c119")] == ["error"] * 3
    acked = [r["id"] for r in replies if r["type"] == "ack"]
    assert acked == sorted(acked)
    assert len(set(acked)) == 117

    expected = [f"m{i}" for i in range(120) if i % 40 != 39]
    live = [(await until(wb, lambda f: f["type"] == "message", timeout=20))["content"] for _ in expected]
    assert live == expected
    history: list[str] = []
    after = acked[0] - 1
    while len(history) < len(expected):
        resp = await client.get(f"/rooms/{room}/messages", params={"after": after, "limit": 100}, headers=bob.headers)
        page = (await resp.json())["messages"]
        history += [m["content"] for m in page]
        after = page[-1]["id"]
    assert history == expected
    await wa.close()
    await wb.close()


async def test_a_frame_that_is_not_pipelined_waits_for_the_ones_before_it(client: Any) -> None:
    alice = await signup(client)
    room = await make_room(client, alice)
    wa = await connect(client, alice, room)
    await wa.send_json(message(room, "first", "a"))
    await wa.send_str("not json")
    await wa.send_json(message(room, "second", "b"))
    replies = [await until(wa, lambda f: f["type"] in ("ack", "error")) for _ in range(3)]
    assert [(r["type"], r.get("client_msg_id")) for r in replies] == [("ack", "a"), ("error", None), ("ack", "b")]
    await wa.close()


async def test_beyond_the_bound_the_server_stops_reading_until_the_oldest_is_acked(
    aiohttp_client: Callable[..., Any], settings: Settings
) -> None:
    limit = 3
    client = await aiohttp_client(create_app(settings.with_overrides(rate_limits=False, ws_max_inflight=limit)))
    app = client.app
    alice = await signup(client)
    room = await make_room(client, alice)
    wa = await connect(client, alice, room)
    store, hub = app[STORE], app[HUB]
    batches: list[int] = []
    in_flight_seen: list[int] = []

    def observe(elapsed: float, size: int) -> None:
        batches.append(size)
        in_flight_seen.append(hub.handling)

    store.flush_observer = observe
    # Another writer holds the log's lock: nothing commits, so nothing is acked.
    async with store.db.connection_cursor() as (_conn, cur):
        await cur.execute("BEGIN")
        await cur.execute("LOCK TABLE events IN EXCLUSIVE MODE")
        for i in range(20):
            await wa.send_json(message(room, f"m{i}", f"c{i}"))
        loop = asyncio.get_running_loop()
        deadline = loop.time() + 10
        while hub.handling < limit:
            assert loop.time() < deadline, f"only {hub.handling} frames were taken"
            await asyncio.sleep(0.01)
        assert hub.handling == limit  # taken and waiting for their commit; the rest are not read
        await cur.execute("COMMIT")
    acks = [await until(wa, lambda f: f["type"] == "ack", timeout=20) for _ in range(20)]
    assert [a["client_msg_id"] for a in acks] == [f"c{i}" for i in range(20)]
    assert max(batches) <= limit  # no flush ever held more than the bound of this one socket
    assert max(in_flight_seen) <= limit
    await wa.close()
