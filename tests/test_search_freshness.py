"""Search reads the caller's own writes: a message posted (over HTTP or WebSocket), edited or
deleted is found (or not) by the very next search of its author, though the index follows the log."""

from __future__ import annotations

import uuid
from typing import Any

from helpers import signup
from room_helpers import make_room, ok, post

from gochat.keys import PROJECTIONS


async def hits(client: Any, headers: dict[str, str], q: str) -> list[int]:
    body = await ok(await client.get("/search", params={"q": q}, headers=headers))
    return [r["id"] for r in body["results"]]


async def test_an_author_finds_each_message_at_once_after_posting_editing_or_deleting_it(client: Any) -> None:
    alice = await signup(client)
    room = (await make_room(client, alice, "public"))["id"]
    for _ in range(5):
        word = "w" + uuid.uuid4().hex[:12]
        message = await post(client, alice, room, f"about {word}")
        assert await hits(client, alice.headers, word) == [message["id"]]
    async with client.ws_connect("/ws", params={"token": alice.access_token, "room_id": room}) as ws:
        word = "w" + uuid.uuid4().hex[:12]
        await ws.send_json({"type": "message", "room_id": room, "content": word, "client_msg_id": "c1"})
        while (frame := await ws.receive_json(timeout=10))["type"] != "ack":
            pass
        assert await hits(client, alice.headers, word) == [frame["id"]]
        edited = "w" + uuid.uuid4().hex[:12]
        await ws.send_json({"type": "edit", "room_id": room, "message_id": frame["id"], "content": edited})
        while (change := await ws.receive_json(timeout=10))["type"] != "message_edited":
            pass
        assert await hits(client, alice.headers, edited) == [frame["id"]]
        await ws.send_json({"type": "delete", "room_id": room, "message_id": frame["id"]})
        while (await ws.receive_json(timeout=10))["type"] != "message_deleted":
            pass
        assert await hits(client, alice.headers, edited) == []
    assert change["message_id"] == frame["id"]


async def test_a_stalled_index_delays_an_author_s_search_by_the_bound_only(client: Any) -> None:
    """With the follower stopped the author's search answers (without the message) once the wait
    ends, rather than hanging; others' searches do not wait at all."""
    alice, bob = await signup(client), await signup(client)
    room = (await make_room(client, alice, "public"))["id"]
    await client.app[PROJECTIONS].stop()
    word = "w" + uuid.uuid4().hex[:12]
    await post(client, alice, room, word)
    assert await hits(client, bob.headers, word) == []
    assert await hits(client, alice.headers, word) == []
    runner = client.app[PROJECTIONS]
    await runner.catch_up(runner.get("search"))
    assert len(await hits(client, alice.headers, word)) == 1
