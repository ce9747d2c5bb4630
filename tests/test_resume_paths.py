"""Resume and idempotency paths beyond one sender and one resume: a member removed inside the stretch
it resumes, several rooms resumed with `join` frames, one client_msg_id sent to two nodes at once,
and a database connection killed in the middle of appends."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Awaitable, Callable
from typing import Any

import aiohttp
import psycopg2
from helpers import signup
from room_helpers import make_room, post
from test_cluster import Cluster, cluster, inbox, people, uid  # noqa: F401  (fixtures)
from test_ws import connect, until

from gochat.app import create_app
from gochat.client import GochatClient
from gochat.keys import STORE
from gochat.settings import Settings

Client = Any


def ids_of(frames: list[dict[str, Any]], room: str, kind: str = "message") -> list[int]:
    return [f["id"] for f in frames if f.get("room_id") == room and f["type"] == kind]


async def collect_until(ws: aiohttp.ClientWebSocketResponse, last_id: int) -> list[dict[str, Any]]:
    """Every frame up to and including the one with id `last_id` (the sentinel)."""
    frames = []
    while True:
        frame = await until(ws, lambda f: True, timeout=15)
        frames.append(frame)
        if frame.get("id") == last_id and frame["type"] not in ("ack", "subscribed"):
            return frames


async def test_a_member_removed_inside_the_stretch_it_resumes_gets_nothing_between_removal_and_return(
    client: Client,
) -> None:
    """The replay reads the log past `since`: the room's events after the user's own removal are not
    sent, until the user is a member again (here: connecting re-joins the public room)."""
    alice, bob = await signup(client), await signup(client)
    room = (await make_room(client, alice, "public"))["id"]
    await client.post(f"/rooms/{room}/join", json={}, headers=bob.headers)
    since = await client.app[STORE].head()
    before = await post(client, alice, room, "before the kick")
    resp = await client.delete(f"/rooms/{room}/members/{bob.id}", headers=alice.headers)
    assert resp.status in (200, 204), await resp.text()
    await post(client, alice, room, "while bob is out")
    ws = await client.ws_connect("/ws", params={"token": bob.access_token, "room_id": room, "since": str(since)})
    last = await post(client, alice, room, "after bob is back")
    frames = await collect_until(ws, last["id"])
    await ws.close()
    kinds = [(f["type"], f.get("content")) for f in frames if f.get("room_id") == room and f["type"] != "subscribed"]
    assert kinds == [
        ("message", "before the kick"),
        ("leave", None),
        ("join", None),
        ("message", "after bob is back"),
    ], kinds
    assert ids_of(frames, room) == [before["id"], last["id"]]


async def test_a_member_kicked_on_one_node_gets_nothing_more_on_the_other(
    cluster: Cluster,  # noqa: F811
    people: Callable[[str], Awaitable[GochatClient]],  # noqa: F811
) -> None:
    a, b = await cluster(2)
    alice, bob = await people(a.url), await people(b.url)
    room = (await alice.create_room("kick", "private", members=[uid(bob)]))["id"]
    other = (await alice.create_room("still", "private", members=[uid(bob)]))["id"]
    for invited_to in (room, other):  # named members are invited: bob accepts
        await bob.accept(invited_to)
    async with inbox(bob.live(room, resume=False)) as on_b:
        await on_b.live.join(other)
        await on_b.wait_for(lambda f: f["type"] == "subscribed" and f["room_id"] == other, "both rooms")
        seen = await alice.post(room, "seen")
        await alice.request("DELETE", f"/rooms/{room}/members/{uid(bob)}")
        for n in range(5):
            await alice.post(room, f"unseen {n}")
        # the sentinel: posted after everything bob must not get, in a room he still has
        sentinel = await alice.post(other, "sentinel")
        await on_b.wait_for(lambda f: f.get("id") == sentinel["id"], "the sentinel")
        assert ids_of(on_b.frames, room) == [seen["id"]]
        assert [f["type"] for f in on_b.frames if f.get("room_id") == room][-1] == "leave"
    # and a resume from before the kick, on either node, is refused: he is no longer a member
    for node in (a, b):
        params = {"token": bob.access_token or "", "room_id": room, "since": "0"}
        async with aiohttp.ClientSession() as http, http.get(f"{node.url}/ws", params=params) as resp:
            assert resp.status == 404


async def test_join_frames_with_since_resume_several_rooms_each_from_its_own_cursor(client: Client) -> None:
    alice, bob = await signup(client), await signup(client)
    rooms = [(await make_room(client, alice, "private", members=[bob]))["id"] for _ in range(3)]
    posted: dict[str, list[int]] = {r: [] for r in rooms}
    cursors = {}
    for r in rooms:
        posted[r].append((await post(client, alice, r, f"{r} old"))["id"])
        cursors[r] = await client.app[STORE].head()  # bob has seen up to here in r
        for n in range(3):
            posted[r].append((await post(client, alice, r, f"{r} new {n}"))["id"])
    ws = await connect(client, bob, rooms[0], since=cursors[rooms[0]])
    for r in rooms[1:]:
        await ws.send_json({"type": "join", "room_id": r, "since": cursors[r]})
    # live messages: whether a join's replay or live delivery brings one, it comes once, in order
    live = {r: (await post(client, alice, r, "live"))["id"] for r in rooms}
    frames = await collect_until(ws, live[rooms[2]])
    await ws.close()
    for r in rooms:
        assert ids_of(frames, r) == [*posted[r][1:], live[r]], r


async def test_one_client_msg_id_sent_to_two_nodes_at_once_is_one_message_with_one_id(
    cluster: Cluster,  # noqa: F811
    people: Callable[[str], Awaitable[GochatClient]],  # noqa: F811
    database_url: str,
) -> None:
    a, b = await cluster(2)
    alice = await people(a.url)
    room = (await alice.create_room("once", "public"))["id"]
    on_b = GochatClient(b.url)
    on_b.access_token = alice.access_token
    try:
        for n in range(20):
            cmid = uuid.uuid4().hex
            first, second = await asyncio.gather(
                alice.post(room, f"m{n}", client_msg_id=cmid), on_b.post(room, f"m{n}", client_msg_id=cmid)
            )
            assert first["id"] == second["id"]
    finally:
        await on_b.close()
    conn = psycopg2.connect(database_url)
    try:
        with conn.cursor() as cur:
            cur.execute("SELECT count(*) FROM events WHERE stream_id = %s AND type = 'message.posted'", (room,))
            assert cur.fetchone() == (20,)
    finally:
        conn.close()


async def test_database_connections_killed_in_the_middle_of_appends_lose_and_repeat_nothing(
    aiohttp_client: Callable[..., Any], settings: Settings, database_url: str
) -> None:
    # A hundred posts and their resends at once is past one user's write budget: not what is tested.
    client = await aiohttp_client(create_app(settings.with_overrides(rate_limits=False)))
    alice = await signup(client)
    room = (await make_room(client, alice, "public"))["id"]
    outcomes: dict[str, int | None] = {}

    async def send(n: int) -> None:
        cmid = f"c{n}"
        resp = await client.post(
            f"/rooms/{room}/messages", json={"content": f"m{n}", "client_msg_id": cmid}, headers=alice.headers
        )
        body = await resp.json()
        assert resp.status in (201, 503), body
        outcomes[cmid] = body["id"] if resp.status == 201 else None

    def kill_backends() -> int:
        conn = psycopg2.connect(database_url)
        conn.autocommit = True
        try:
            with conn.cursor() as cur:
                cur.execute(
                    "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity"
                    " WHERE datname = current_database() AND pid <> pg_backend_pid()"
                )
                row = cur.fetchone()
                return int(row[0]) if row else 0
        finally:
            conn.close()

    for round_ in range(5):
        sends = [asyncio.ensure_future(send(round_ * 20 + n)) for n in range(20)]
        await asyncio.sleep(0)  # let them start: the kill lands in the middle of their appends
        killed = await asyncio.to_thread(kill_backends)
        await asyncio.gather(*sends)
        assert killed >= 0
    # what failed is sent again, as a client does: once each in the log, acked ids unchanged
    for cmid, got in list(outcomes.items()):
        resp = await client.post(
            f"/rooms/{room}/messages", json={"content": f"m{cmid[1:]}", "client_msg_id": cmid}, headers=alice.headers
        )
        assert resp.status in (200, 201), await resp.text()
        body = await resp.json()
        assert got is None or body["id"] == got
        outcomes[cmid] = body["id"]
    conn = psycopg2.connect(database_url)
    try:
        with conn.cursor() as cur:
            cur.execute(
                "SELECT client_msg_id, id FROM events WHERE stream_id = %s AND type = 'message.posted'", (room,)
            )
            logged = dict(cur.fetchall())
    finally:
        conn.close()
    assert logged == outcomes
