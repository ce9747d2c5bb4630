"""Server-wide bots (issue #21): server administrators, and operators at the command line, make
bots of no room whose tokens reach the rooms they are scoped to, list every bot, and revoke any
bot's tokens. Bots' names follow the look-alike rules of people's."""

from __future__ import annotations

import asyncio
import uuid
from typing import Any

import aiohttp
import orjson
import pytest
from conftest import run_cli
from helpers import Account, signup
from test_bots import bearer, make_bot, make_token
from test_ws import make_room, until, until_closed

from gochat.keys import ADMIN, BOTS, SETTINGS

Client = Any


async def server_admin(client: Client) -> Account:
    admin = await signup(client)
    await client.app[ADMIN].set_admin(admin.id, True)
    return admin


async def make_server_bot(client: Client, admin: Account, **body: Any) -> dict[str, Any]:
    body.setdefault("username", f"sbot{uuid.uuid4().hex[:8]}")
    resp = await client.post("/admin/bots", json=body, headers=admin.headers)
    assert resp.status == 201, await resp.text()
    return (await resp.json())["bot"]  # type: ignore[no-any-return]


async def say(client: Client, headers: dict[str, str], room: str, content: str = "hi") -> Any:
    return await client.post(f"/rooms/{room}/messages", json={"content": content}, headers=headers)


async def test_server_admins_make_bots_of_no_room_that_join_rooms_through_their_tokens(client: Client) -> None:
    admin, owner = await server_admin(client), await signup(client)
    refused = await client.post("/admin/bots", json={"username": "not-allowed"}, headers=owner.headers)
    assert (refused.status, (await refused.json())["error"]["code"]) == (403, "not_a_server_admin")

    bot = await make_server_bot(client, admin, display_name="Deployer")
    assert (bot["server_wide"], bot["room_id"], bot["created_by"], bot["display_name"]) == (
        True, None, str(admin.id), "Deployer",
    )  # fmt: skip
    public, other_public = await make_room(client, owner), await make_room(client, owner)
    private = await make_room(client, owner, "private")
    scoped = bearer(await make_token(client, admin, bot, ["read", "write"], rooms=[public, private]))

    # In no room yet: it joins a public room itself, like anyone, and speaks there.
    assert (await say(client, scoped, public)).status == 403
    assert (await client.post(f"/rooms/{public}/join", json={}, headers=scoped)).status == 200
    assert (await say(client, scoped, public, "deployed")).status == 201
    # Outside its token's rooms: refused, though the room is public.
    outside = await client.post(f"/rooms/{other_public}/join", json={}, headers=scoped)
    assert (outside.status, (await outside.json())["error"]["code"]) == (403, "insufficient_scope")
    # A private room: not without an invitation; a room admin invites it, it accepts.
    assert (await client.post(f"/rooms/{private}/join", json={}, headers=scoped)).status == 404
    invited = await client.post(f"/rooms/{private}/members", json={"user_id": bot["id"]}, headers=owner.headers)
    assert (await invited.json())["state"] == "invited"
    assert (await client.post(f"/invitations/{private}/accept", json={}, headers=scoped)).status == 200
    assert (await say(client, scoped, private, "hello private")).status == 201
    # Its socket reaches the rooms it is in.
    ws = await client.ws_connect("/ws", params={"token": scoped["Authorization"][7:], "room_id": private})
    await until(ws, lambda f: f["type"] == "subscribed")
    await say(client, owner.headers, private, "to the bot")
    assert (await until(ws, lambda f: f["type"] == "message"))["content"] == "to the bot"
    await ws.close()

    # The room owner did not make it and administers nothing: the bot is not theirs to manage.
    theirs = await client.get(f"/bots/{bot['id']}/tokens", headers=owner.headers)
    assert (theirs.status, (await theirs.json())["error"]["code"]) == (404, "bot_not_found")
    assert (await (await client.get("/bots", headers=admin.headers)).json())["bots"][0]["id"] == bot["id"]


async def test_server_admins_list_every_bot_and_revoke_any_bots_tokens(client: Client) -> None:
    admin, owner = await server_admin(client), await signup(client)
    room = await make_room(client, owner)
    room_bot = await make_bot(client, owner, room)
    server_bot = await make_server_bot(client, admin)
    assert (await client.get("/admin/bots", headers=owner.headers)).status == 403

    listed = await (await client.get("/admin/bots", params={"limit": 200}, headers=admin.headers)).json()
    by_id = {b["id"]: b for b in listed["bots"]}
    assert (by_id[room_bot["id"]]["server_wide"], by_id[room_bot["id"]]["room_id"]) == (False, room)
    assert by_id[server_bot["id"]]["server_wide"] is True
    names = [b["username"].casefold() for b in listed["bots"]]
    assert names == sorted(names)
    first = await (await client.get("/admin/bots", params={"limit": 1}, headers=admin.headers)).json()
    rest = await (
        await client.get("/admin/bots", params={"limit": 200, "after": first["next"]}, headers=admin.headers)
    ).json()
    assert [b["id"] for b in first["bots"] + rest["bots"]] == [b["id"] for b in listed["bots"]]

    # The room admin's bot: a server administrator sees its tokens and revokes them all at once.
    one = await make_token(client, owner, room_bot, ["read", "write"])
    two = await make_token(client, owner, room_bot, ["read"])
    ws = await client.ws_connect("/ws", params={"token": one["token"], "room_id": room})
    await until(ws, lambda f: f["type"] == "subscribed")
    seen = await (await client.get(f"/bots/{room_bot['id']}/tokens", headers=admin.headers)).json()
    assert {t["id"] for t in seen["tokens"]} == {one["id"], two["id"]}
    done = await client.delete(f"/bots/{room_bot['id']}/tokens", headers=admin.headers)
    assert (done.status, set((await done.json())["revoked"])) == (200, {one["id"], two["id"]})
    await until_closed(ws)
    assert ws.close_code == 4401
    for token in (one, two):
        assert (await client.get("/me", headers=bearer(token))).status == 401
    again = await client.delete(f"/bots/{room_bot['id']}/tokens", headers=owner.headers)
    assert (await again.json())["revoked"] == []  # nothing live is left; the maker may ask too
    # A server administrator issues tokens for any bot; the maker still lists only their own bots.
    fresh = await make_token(client, admin, room_bot, ["read"])
    assert (await client.get("/me", headers=bearer(fresh))).status == 200
    assert [b["id"] for b in (await (await client.get("/bots", headers=owner.headers)).json())["bots"]] == [
        room_bot["id"]
    ]


async def test_bot_names_are_held_to_the_look_alike_rules_both_ways(client: Client) -> None:
    admin = await server_admin(client)
    tag = uuid.uuid4().hex[:6]
    await signup(client, f"paypal{tag}")
    copied = await client.post("/admin/bots", json={"username": f"paypa1{tag}"}, headers=admin.headers)
    assert (copied.status, (await copied.json())["error"]["code"]) == (409, "username_confusable")
    room = await make_room(client, admin)
    in_room = await client.post(f"/rooms/{room}/bots", json={"username": f"PAYPAI{tag}"}, headers=admin.headers)
    assert (in_room.status, (await in_room.json())["error"]["code"]) == (409, "username_confusable")
    mixed = await client.post("/admin/bots", json={"username": f"bоt{tag}"}, headers=admin.headers)  # Cyrillic о
    assert mixed.status == 422

    bot = await make_server_bot(client, admin, username=f"helperbot{tag}")
    lookalike = await client.post("/auth/signup", json={"username": f"he1perbot{tag}", "password": "x" * 12})
    assert (lookalike.status, (await lookalike.json())["error"]["code"]) == (409, "username_confusable")
    taken = await client.post("/admin/bots", json={"username": bot["username"].upper()}, headers=admin.headers)
    assert (taken.status, (await taken.json())["error"]["code"]) == (409, "username_taken")


async def test_operators_make_issue_list_and_revoke_server_wide_bots_from_the_cli(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch, database_url: str, client: Client
) -> None:
    # capsys first: the app (which the command's logging set-up also points at captured stderr)
    # stops before the capture closes.
    client.app[BOTS].socket_ttl = 3600  # a bot's socket would live an hour (GOCHAT_ACCESS_TOKEN_TTL)
    # The command would point logging at the captured stderr, and the app serving in this process
    # would cache its loggers there, writing into a closed file in every later test.
    monkeypatch.setattr("gochat.cli.configure_logging", lambda *args, **kwargs: None)
    monkeypatch.setenv("DATABASE_URL", database_url)
    monkeypatch.setenv("JWT_SECRET", "x" * 40)

    async def cli(*argv: str) -> tuple[int, list[str], list[str]]:
        """The command's exit code and its lines of stdout and stderr (the app in this process may log too)."""
        code, out, err = await asyncio.to_thread(run_cli, capsys, "bots", *argv)
        return code, out.splitlines(), err.splitlines()

    name = f"ops{uuid.uuid4().hex[:8]}"
    capsys.readouterr()
    code, out, _ = await cli("create", "--username", name, "--display-name", "Ops bot")
    assert code == 0
    assert any(line.startswith(f"made server-wide bot {name} (") for line in out)
    code, out, err = await cli("create", "--username", name.upper())
    assert code == 1
    assert "gochat bots create: username is taken" in err
    assert not any(name in line for line in out)

    owner = await signup(client)
    room = await make_room(client, owner)
    code, out, err = await cli("token", "--username", name, "--scope", "read", "--scope", "write", "--room", room)
    assert code == 0
    [secret] = [line for line in out if line.startswith("gcb_")]  # the secret, alone on its line
    assert not any(secret in line for line in err)
    headers = {"Authorization": f"Bearer {secret}"}
    me = await (await client.get("/me", headers=headers)).json()
    assert me["username"] == name
    assert (await client.post(f"/rooms/{room}/join", json={}, headers=headers)).status == 200
    assert (await say(client, headers, room, "from the operator's bot")).status == 201

    code, out, _ = await cli("list", "--format", "json")
    assert code == 0
    rows = [orjson.loads(line) for line in out if line.startswith("{")]
    mine = [r for r in rows if r["username"] == name]
    assert [(r["server_wide"], r["created_by"], r["live_tokens"]) for r in mine] == [(True, None, 1)]
    code, out, _ = await cli("list")
    assert any(line.split()[:1] == [name] and "server-wide" in line for line in out)

    ws = await client.ws_connect("/ws", params={"token": secret, "room_id": room})
    await until(ws, lambda f: f["type"] == "subscribed")
    code, out, _ = await cli("revoke", "--username", name)
    assert code == 0
    assert f"revoked 1 token(s) of {name}" in out
    assert (await client.get("/me", headers=headers)).status == 401  # at once
    # Its open socket closes at the node's next sweep of revocations (this process revoked it
    # without a broker or a hub: the node reads it from the database), and cannot come back.
    await until_closed(ws, timeout=3 * client.app[SETTINGS].revocation_sweep_interval + 5)
    assert ws.close_code == 4401
    with pytest.raises(aiohttp.WSServerHandshakeError) as refused:
        await client.ws_connect("/ws", params={"token": secret, "room_id": room})
    assert refused.value.status == 401
    code, _, err = await cli("token", "--username", "nobody-here", "--scope", "read")
    assert code == 1
    assert "gochat bots token: bot not found" in err
