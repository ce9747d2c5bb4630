"""Bots: made by room admins, acting through long-lived API tokens that are shown once, stored
hashed, scoped to actions and rooms, and revocable; the same HTTP and WebSocket API as people."""

from __future__ import annotations

import hashlib
import uuid
from typing import Any

import aiohttp
from helpers import Account, signup
from test_ws import make_room, message, until

from gochat.keys import DB

Client = Any


async def make_bot(client: Client, owner: Account, room: str, **body: Any) -> dict[str, Any]:
    resp = await client.post(
        f"/rooms/{room}/bots", json={"username": f"bot{uuid.uuid4().hex[:8]}", **body}, headers=owner.headers
    )
    assert resp.status == 201, await resp.text()
    return (await resp.json())["bot"]  # type: ignore[no-any-return]


async def make_token(
    client: Client, owner: Account, bot: dict[str, Any], scopes: list[str], rooms: list[str] | None = None
) -> dict[str, Any]:
    body: dict[str, Any] = {"name": "ci", "scopes": scopes}
    if rooms is not None:
        body["rooms"] = rooms
    resp = await client.post(f"/bots/{bot['id']}/tokens", json=body, headers=owner.headers)
    assert resp.status == 201, await resp.text()
    assert resp.headers["Cache-Control"] == "no-store"
    return await resp.json()  # type: ignore[no-any-return]


def bearer(token: dict[str, Any]) -> dict[str, str]:
    return {"Authorization": f"Bearer {token['token']}"}


async def test_room_admins_make_bots_that_join_the_room(client: Client) -> None:
    owner, member = await signup(client), await signup(client)
    room = await make_room(client, owner, "private", members=[member])
    refused = await client.post(f"/rooms/{room}/bots", json={"username": "helper-x"}, headers=member.headers)
    assert refused.status == 403
    assert (await refused.json())["error"]["code"] == "not_an_admin"

    bot = await make_bot(client, owner, room, display_name="Helper")
    assert bot["bot"] is True
    assert bot["created_by"] == str(owner.id)
    assert bot["display_name"] == "Helper"
    detail = await (await client.get(f"/rooms/{room}", headers=owner.headers)).json()
    assert bot["id"] in [m["user_id"] for m in detail["members"]]
    mine = await (await client.get("/bots", headers=owner.headers)).json()
    assert [b["id"] for b in mine["bots"]] == [bot["id"]]
    assert (await (await client.get("/bots", headers=member.headers)).json())["bots"] == []

    taken = await client.post(f"/rooms/{room}/bots", json={"username": bot["username"]}, headers=owner.headers)
    assert taken.status == 409
    # Nobody logs in as a bot: it has no password.
    login = await client.post("/auth/login", json={"username": bot["username"], "password": "x" * 12})
    assert login.status == 401


async def test_a_token_is_shown_once_and_stored_hashed(client: Client) -> None:
    owner = await signup(client)
    room = await make_room(client, owner)
    bot = await make_bot(client, owner, room)
    token = await make_token(client, owner, bot, ["read", "write"])
    assert token["token"].startswith("gcb_")
    listed = await (await client.get(f"/bots/{bot['id']}/tokens", headers=owner.headers)).json()
    assert [t["id"] for t in listed["tokens"]] == [token["id"]]
    assert "token" not in listed["tokens"][0]
    async with client.app[DB].cursor() as cur:
        await cur.execute("SELECT token_hash FROM bot_tokens WHERE id = %s", (uuid.UUID(token["id"]),))
        row = await cur.fetchone()
    assert bytes(row[0]) == hashlib.sha256(token["token"].encode()).digest()
    # Someone else cannot see or manage the bot's tokens.
    other = await signup(client)
    assert (await client.get(f"/bots/{bot['id']}/tokens", headers=other.headers)).status == 404
    body = {"name": "x", "scopes": ["read"]}
    minted = await client.post(f"/bots/{bot['id']}/tokens", json=body, headers=other.headers)
    assert minted.status == 404


async def test_a_bot_posts_and_reads_over_http_and_websocket_like_a_person(client: Client) -> None:
    owner = await signup(client)
    room = await make_room(client, owner)
    bot = await make_bot(client, owner, room)
    token = await make_token(client, owner, bot, ["read", "write"])
    me = await client.get("/me", headers=bearer(token))
    assert (await me.json())["id"] == bot["id"]
    posted = await client.post(f"/rooms/{room}/messages", json={"content": "beep"}, headers=bearer(token))
    assert posted.status == 201
    assert (await posted.json())["user_id"] == bot["id"]

    ws = await client.ws_connect("/ws", params={"token": token["token"], "room_id": room})
    await until(ws, lambda f: f["type"] == "subscribed")
    await ws.send_json(message(room, "boop", "b1"))
    ack = await until(ws, lambda f: f["type"] == "ack")
    assert ack["client_msg_id"] == "b1"
    history = await (await client.get(f"/rooms/{room}/messages", headers=owner.headers)).json()
    assert [(m["user_id"], m["content"]) for m in history["messages"]] == [(bot["id"], "beep"), (bot["id"], "boop")]
    await ws.close()


async def test_scopes_limit_actions_and_rooms(client: Client) -> None:
    owner = await signup(client)
    room, other_room = await make_room(client, owner), await make_room(client, owner)
    bot = await make_bot(client, owner, room)
    added = await client.post(f"/rooms/{other_room}/members", json={"user_id": bot["id"]}, headers=owner.headers)
    assert added.status == 200
    reader = await make_token(client, owner, bot, ["read"])
    one_room = await make_token(client, owner, bot, ["read", "write"], rooms=[room])

    refused = await client.post(f"/rooms/{room}/messages", json={"content": "x"}, headers=bearer(reader))
    assert refused.status == 403
    assert (await refused.json())["error"]["code"] == "insufficient_scope"
    assert (await client.get(f"/rooms/{room}/messages", headers=bearer(reader))).status == 200

    assert (await client.post(f"/rooms/{room}/messages", json={"content": "x"}, headers=bearer(one_room))).status == 201
    elsewhere = await client.post(f"/rooms/{other_room}/messages", json={"content": "x"}, headers=bearer(one_room))
    assert elsewhere.status == 403
    assert (await client.get(f"/rooms/{other_room}/messages", headers=bearer(one_room))).status == 403
    assert (await client.get("/rooms", headers=bearer(one_room))).status == 403  # lists rooms beyond its scope
    # A bot makes no bots and mints no tokens.
    assert (await client.get("/bots", headers=bearer(reader))).status == 403

    ws = await client.ws_connect("/ws", params={"token": reader["token"], "room_id": room})
    await until(ws, lambda f: f["type"] == "subscribed")
    await ws.send_json(message(room, "nope", "r1"))
    error = await until(ws, lambda f: f["type"] == "error")
    assert (error["code"], error["client_msg_id"]) == ("insufficient_scope", "r1")
    await ws.close()
    with_room = await client.get("/ws", params={"token": one_room["token"], "room_id": other_room})
    assert with_room.status == 403
    count = await client.app[DB].fetchval(
        "SELECT count(*) FROM events WHERE type = 'message.posted' AND actor_id = %s", (uuid.UUID(bot["id"]),)
    )
    assert count == 1


async def test_a_revoked_token_stops_at_once_and_its_sockets_close(client: Client) -> None:
    owner = await signup(client)
    room = await make_room(client, owner)
    bot = await make_bot(client, owner, room)
    token = await make_token(client, owner, bot, ["read", "write"])
    kept = await make_token(client, owner, bot, ["read"])
    ws = await client.ws_connect("/ws", params={"token": token["token"], "room_id": room})
    await until(ws, lambda f: f["type"] == "subscribed")

    resp = await client.delete(f"/bots/{bot['id']}/tokens/{token['id']}", headers=owner.headers)
    assert resp.status == 204
    closing = await ws.receive(timeout=5)
    while closing.type == aiohttp.WSMsgType.TEXT:  # presence and the like may come first
        closing = await ws.receive(timeout=5)
    assert closing.type == aiohttp.WSMsgType.CLOSE
    assert closing.data == 4401
    refused = await client.get("/me", headers=bearer(token))
    assert refused.status == 401
    assert (await client.get("/me", headers=bearer(kept))).status == 200
    listed = await (await client.get(f"/bots/{bot['id']}/tokens", headers=owner.headers)).json()
    assert [t["revoked_at"] is not None for t in listed["tokens"]] == [True, False]
    assert (await client.delete(f"/bots/{bot['id']}/tokens/{uuid.uuid4()}", headers=owner.headers)).status == 404


async def test_a_bot_socket_has_its_own_larger_rate_limit(client: Client) -> None:
    owner = await signup(client)
    room = await make_room(client, owner)
    bot = await make_bot(client, owner, room)
    token = await make_token(client, owner, bot, ["read", "write"])
    ws = await client.ws_connect("/ws", params={"token": token["token"], "room_id": room})
    await until(ws, lambda f: f["type"] == "subscribed")
    count = 80  # a person's socket is refused past 30 at once (test_ws.py)
    for i in range(count):
        await ws.send_json(message(room, f"m{i}", f"c{i}"))
    replies = [await until(ws, lambda f: f["type"] in ("ack", "error")) for _ in range(count)]
    assert [r["type"] for r in replies] == ["ack"] * count
    await ws.close()
