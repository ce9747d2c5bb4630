"""Slash commands: built-in ones act with the caller's permissions; bots register their own and
answer at their URL (a real server on 127.0.0.1), ephemerally or publicly; unknown ones are a
clear error for the caller alone; GET /rooms/:id/commands serves autocompletion."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import orjson
from aiohttp import web
from helpers import Account, signup
from test_bots import bearer, make_bot, make_token
from test_ws import connect, make_room, until

from gochat.app import create_app
from gochat.settings import Settings
from gochat.webhooks.signing import verify

Client = Any


async def command(client: Client, who: Account, room: str, text: str, **extra: Any) -> Any:
    return await client.post(f"/rooms/{room}/commands", json={"command": text, **extra}, headers=who.headers)


async def test_builtins_post_and_act_with_the_callers_permissions(client: Client) -> None:
    owner, member, guest = await signup(client), await signup(client), await signup(client)
    room = await make_room(client, owner, "private", members=[member])
    listed = await (await client.get(f"/rooms/{room}/commands", headers=member.headers)).json()
    assert {"me", "shrug", "topic", "invite", "kick", "mute", "help"} <= {c["name"] for c in listed["commands"]}
    assert (await client.get(f"/rooms/{room}/commands", headers=guest.headers)).status == 404

    shrug = await (await command(client, member, room, "/shrug fine", client_msg_id="s1")).json()
    assert (shrug["visibility"], shrug["message"]["content"]) == ("public", "fine ¯\\_(ツ)_/¯")
    assert shrug["message"]["client_msg_id"] == "s1"
    me = await (await command(client, member, room, "/me waves")).json()
    assert me["message"]["content"] == "_waves_"

    refused = await command(client, member, room, "/topic mine now")
    assert (refused.status, (await refused.json())["error"]["code"]) == (403, "not_an_admin")
    topic = await (await command(client, owner, room, "/topic Rules apply")).json()
    assert topic["visibility"] == "ephemeral"
    assert (await (await client.get(f"/rooms/{room}", headers=member.headers)).json())["topic"] == "Rules apply"

    invited = await (await command(client, owner, room, f"/invite @{guest.username}")).json()
    assert invited["text"] == f"@{guest.username} is invited."
    muted = await (await command(client, owner, room, f"/mute @{member.username} 5")).json()
    assert muted["text"] == f"@{member.username} is muted for 5 minute(s)."
    said = await client.post(f"/rooms/{room}/messages", json={"content": "x"}, headers=member.headers)
    assert (await said.json())["error"]["code"] == "muted"
    await command(client, owner, room, f"/kick @{member.username}")
    assert (await client.get(f"/rooms/{room}/commands", headers=member.headers)).status == 404  # gone
    nobody = await command(client, owner, room, "/kick @nobody-at-all")
    assert (nobody.status, (await nobody.json())["error"]["code"]) == (404, "user_not_found")


async def test_an_unknown_command_is_an_error_for_the_caller_alone(client: Client) -> None:
    owner, member = await signup(client), await signup(client)
    room = await make_room(client, owner, members=[member])
    resp = await command(client, owner, room, "/frobnicate now")
    assert resp.status == 404
    assert (await resp.json())["error"]["code"] == "unknown_command"
    assert "/help" in (await resp.json())["error"]["message"]

    wm = await connect(client, member, room)
    wo = await connect(client, owner, room)
    await wo.send_json({"type": "command", "room_id": room, "content": "/frobnicate", "client_msg_id": "u1"})
    error = await until(wo, lambda f: f["type"] == "error")
    assert (error["code"], error["client_msg_id"]) == ("unknown_command", "u1")
    await wo.send_json({"type": "command", "room_id": room, "content": "/help", "client_msg_id": "h1"})
    helped = await until(wo, lambda f: f["type"] == "command_result")
    assert (helped["visibility"], helped["client_msg_id"]) == ("ephemeral", "h1")
    assert "/shrug" in helped["text"]
    await wo.send_json({"type": "command", "room_id": room, "content": "/shrug", "client_msg_id": "p1"})
    seen = await until(wm, lambda f: f["type"] == "message")  # public results reach the room
    assert seen["content"] == "¯\\_(ツ)_/¯"
    # Neither the error nor the ephemeral answers reached the other member: the next thing they
    # receive after the shrug is a later message.
    await wo.send_json({"type": "message", "room_id": room, "content": "after", "client_msg_id": "m1"})
    following = await until(wm, lambda f: f["type"] in ("message", "error", "command_result"))
    assert (following["type"], following["content"]) == ("message", "after")
    await wm.close()
    await wo.close()


async def test_a_bot_registers_a_command_and_answers_it_privately_or_publicly(
    aiohttp_client: Callable[..., Any], aiohttp_server: Callable[..., Any], settings: Settings
) -> None:
    client = await aiohttp_client(create_app(settings.with_overrides(webhook_allow="127.0.0.1")))
    calls: list[tuple[dict[str, str], bytes]] = []

    async def answer(request: web.Request) -> web.Response:
        raw = await request.read()
        calls.append((dict(request.headers), raw))
        text = orjson.loads(raw)["text"]
        if text == "broken":
            return web.Response(status=500)
        visibility = "public" if text == "loud" else "ephemeral"
        return web.json_response({"text": f"deploying {text}", "visibility": visibility})

    app = web.Application()
    app.router.add_post("/deploy", answer)
    server = await aiohttp_server(app, host="127.0.0.1")
    owner, member = await signup(client), await signup(client)
    room = await make_room(client, owner, members=[member])
    bot = await make_bot(client, owner, room)
    token = await make_token(client, owner, bot, ["read", "write"])
    spec = {
        "description": "deploy a branch",
        "usage": "/deploy <branch>",
        "url": f"http://127.0.0.1:{server.port}/deploy",
    }
    people = await client.put(f"/rooms/{room}/commands/deploy", json=spec, headers=owner.headers)
    assert (people.status, (await people.json())["error"]["code"]) == (403, "not_a_bot")
    registered = await client.put(f"/rooms/{room}/commands/deploy", json=spec, headers=bearer(token))
    assert registered.status == 201, await registered.text()
    secret = (await registered.json())["secret"]
    builtin = await client.put(f"/rooms/{room}/commands/me", json=spec, headers=bearer(token))
    assert builtin.status == 422
    listed = await (await client.get(f"/rooms/{room}/commands", headers=member.headers)).json()
    assert {"name": "deploy", "description": "deploy a branch", "usage": "/deploy <branch>", "source": "bot",
            "bot_id": bot["id"]} in listed["commands"]  # fmt: skip

    quiet = await (await command(client, member, room, "/deploy main")).json()
    assert (quiet["visibility"], quiet["text"]) == ("ephemeral", "deploying main")
    headers, raw = calls[-1]
    assert verify(secret, headers["X-Gochat-Timestamp"], raw, headers["X-Gochat-Signature"])
    sent = orjson.loads(raw)
    assert (sent["command"], sent["user_id"], sent["username"]) == ("/deploy", str(member.id), member.username)

    loud = await (await command(client, member, room, "/deploy loud")).json()
    assert loud["visibility"] == "public"
    assert (loud["message"]["user_id"], loud["message"]["content"]) == (bot["id"], "deploying loud")
    failed = await command(client, member, room, "/deploy broken")
    assert (failed.status, (await failed.json())["error"]["code"]) == (502, "command_failed")

    assert (await client.delete(f"/rooms/{room}/commands/deploy", headers=member.headers)).status == 403
    assert (await client.delete(f"/rooms/{room}/commands/deploy", headers=bearer(token))).status == 204
    assert (await command(client, member, room, "/deploy main")).status == 404
