"""An erasure reaches open sockets at once (docs/api.md, "Erasure frames"): every socket subscribed
to a room where the erased user's messages became tombstones, or their reactions went, gets one
`user_erased` frame for that room, on every node, whatever process appended the erasure; nobody
else does (the erased user's own sockets close); and a resume from before the erasure serves
tombstones, not the text."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Awaitable, Callable
from typing import Any

import aiohttp
import jsonschema_rs
import pytest
from conftest import TEST_SECRET, run_cli
from helpers import signup
from test_cluster import PASSWORD, Cluster, cluster, next_frame, people, uid  # noqa: F401  (fixtures)
from test_erasure import erase
from test_ws import connect, frames_until, make_room, sentinel, until, until_closed

from gochat.client import GochatClient

Client = Any


def erased_frame(f: dict[str, Any]) -> bool:
    return bool(f["type"] == "user_erased")


async def test_sockets_showing_the_erased_user_s_content_get_one_frame_per_room_and_no_one_else(client: Client) -> None:
    alice, bob, carol = await signup(client), await signup(client), await signup(client)
    posted_in = await make_room(client, alice, "private", members=[bob])
    reacted_in = await make_room(client, alice, "private", members=[bob])
    elsewhere = await make_room(client, carol, "private", members=[alice])
    said = await (
        await client.post(f"/rooms/{posted_in}/messages", json={"content": "bob's secret"}, headers=bob.headers)
    ).json()
    hers = await (
        await client.post(f"/rooms/{reacted_in}/messages", json={"content": "hi"}, headers=alice.headers)
    ).json()
    react = await client.put(f"/rooms/{reacted_in}/messages/{hers['id']}/reactions/🎉", headers=bob.headers)
    assert react.status in (200, 201, 204)
    ws_posted, ws_reacted = await connect(client, alice, posted_in), await connect(client, alice, reacted_in)
    ws_elsewhere, ws_bob = await connect(client, carol, elsewhere), await connect(client, bob, posted_in)

    erased = await erase(client, user_id=bob.id)

    frames = [await until(ws, erased_frame, timeout=15) for ws in (ws_posted, ws_reacted)]
    assert frames == [
        {"type": "user_erased", "room_id": room, "user_id": str(bob.id), "event_id": erased.event_id}
        for room in (posted_in, reacted_in)
    ]
    # bob's own socket closes, as a revoked login's: he is in no room any more
    await until_closed(ws_bob)
    assert ws_bob.close_code == 4401
    # carol's socket, in a room bob never was in, gets nothing (read up to a sentinel posted after)
    mark = await sentinel(client, carol, elsewhere)
    assert not any(erased_frame(f) for f in await frames_until(ws_elsewhere, lambda f: f.get("id") == mark))
    # exactly one per socket and room
    mark = await sentinel(client, alice, posted_in)
    assert not any(erased_frame(f) for f in await frames_until(ws_posted, lambda f: f.get("id") == mark))

    # A resume from before bob's message: his message as history holds it now, and no user_erased
    # (not a room event: replays do not send it, and it moved no cursor).
    resumed = await connect(client, alice, posted_in, since=said["id"] - 1)
    replayed = await frames_until(resumed, lambda f: f.get("id") == mark)
    his = [f for f in replayed if f.get("id") == said["id"]]
    assert [(f["type"], f["content"], f.get("deleted")) for f in his] == [("message", "", True)]
    assert "bob's secret" not in repr(replayed)
    assert not any(erased_frame(f) for f in replayed)

    api = await (await client.get("/asyncapi.json")).json()
    jsonschema_rs.validator_for(api["components"]["messages"]["user_erased"]["payload"]).validate(frames[0])
    for ws in (ws_posted, ws_reacted, ws_elsewhere, resumed):
        await ws.close()


async def test_an_erasure_by_the_cli_reaches_a_watcher_on_each_node_once_and_no_one_else(
    cluster: Cluster,  # noqa: F811
    people: Callable[[str], Awaitable[GochatClient]],  # noqa: F811
    database_url: str,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    a, b = await cluster(2)
    alice, bob, carol = await people(a.url), await people(a.url), await people(b.url)
    rooms = []
    for name in ("One", "Two"):
        room = await alice.create_room(name, "private", members=[uid(bob)])
        await bob.accept(room["id"])
        await bob.post(room["id"], f"bob's words in {name}")
        rooms.append(room["id"])
    unrelated = (await carol.create_room("Elsewhere", "private"))["id"]
    bob_name = (await bob.request("GET", "/me"))["username"]

    async with aiohttp.ClientSession() as session, contextlib.AsyncExitStack() as stack:

        async def watch(node_url: str, who: GochatClient, room: str) -> aiohttp.ClientWebSocketResponse:
            ws = await session.ws_connect(node_url + "/ws", params={"token": who.access_token or "", "room_id": room})
            await next_frame(ws, lambda f: f["type"] == "subscribed")
            return ws

        watchers = {(node.name, room): await watch(node.url, alice, room) for node in (a, b) for room in rooms}
        bystander = await watch(b.url, carol, unrelated)
        # the Python client passes the frame through, and its resume cursor stays where it was
        listener = await stack.enter_async_context(GochatClient(b.url))
        await listener.login((await alice.request("GET", "/me"))["username"], PASSWORD)
        live = await stack.enter_async_context(listener.live(rooms[0]))
        await live.recv_until(lambda f: f["type"] == "subscribed")
        cursor = live.cursors[rooms[0]]

        # `gochat users erase`: a process with no sockets and no broker appends the erasure
        monkeypatch.setenv("DATABASE_URL", database_url)
        monkeypatch.setenv("JWT_SECRET", TEST_SECRET)
        code, out, err = await asyncio.to_thread(run_cli, capsys, "users", "erase", "--username", bob_name, "--yes")
        assert code == 0, err
        event_id = int(out.split("(event ")[1].split(")")[0])

        for (_, room), ws in watchers.items():
            frame = await next_frame(ws, erased_frame)
            assert frame == {"type": "user_erased", "room_id": room, "user_id": uid(bob), "event_id": event_id}
        assert (await live.recv_until(erased_frame, timeout=20))["room_id"] == rooms[0]
        assert live.cursors[rooms[0]] == cursor
        # nothing more on any watcher, and nothing for carol: read up to a sentinel in each room
        for room in rooms:
            mark = (await alice.post(room, "sentinel"))["id"]
            for node in (a, b):
                seen = await frames_until_id(watchers[(node.name, room)], mark)
                assert not any(erased_frame(f) for f in seen)
        mark = (await carol.post(unrelated, "sentinel"))["id"]
        assert not any(erased_frame(f) for f in await frames_until_id(bystander, mark))
        for ws in [*watchers.values(), bystander]:
            await ws.close()


async def frames_until_id(ws: aiohttp.ClientWebSocketResponse, event_id: int) -> list[dict[str, Any]]:
    seen: list[dict[str, Any]] = []

    def keep(f: dict[str, Any]) -> bool:
        seen.append(f)
        return f.get("id") == event_id

    await next_frame(ws, keep)
    return seen
