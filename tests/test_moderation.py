"""Moderation: mutes, slow mode, message reports, pins; server administrators (a role the CLI
sets) search users, deactivate and reactivate accounts, and read any room's moderation history."""

from __future__ import annotations

import asyncio
import uuid
from typing import Any

import aiohttp
import pytest
from conftest import run_cli
from helpers import PASSWORD, Account, signup
from test_bots import bearer, make_bot, make_token
from test_ws import connect, make_room, message, until

from gochat.db import Database
from gochat.events import EventStore, NewEvent, build_registry
from gochat.keys import ADMIN
from gochat.moderation import projection as q
from gochat.projections.catalog import all_projections
from gochat.projections.engine import InlineProjections

Client = Any


async def say(client: Client, who: Account, room: str, content: str = "hi") -> Any:
    return await client.post(f"/rooms/{room}/messages", json={"content": content}, headers=who.headers)


async def test_a_muted_member_cannot_post_until_unmuted(client: Client) -> None:
    owner, member, other = await signup(client), await signup(client), await signup(client)
    room = await make_room(client, owner, "private", members=[member, other])
    refused = await client.put(f"/rooms/{room}/mutes/{member.id}", json={"minutes": 5}, headers=other.headers)
    assert refused.status == 403
    muted = await client.put(f"/rooms/{room}/mutes/{member.id}", json={"minutes": 5}, headers=owner.headers)
    assert muted.status == 200
    until_at = (await muted.json())["until"]

    resp = await say(client, member, room)
    assert resp.status == 403
    error = (await resp.json())["error"]
    assert (error["code"], error["details"]["until"][:19]) == ("muted", until_at[:19])
    ws = await connect(client, member, room)
    await ws.send_json(message(room, "over the socket", "m1"))
    frame = await until(ws, lambda f: f["type"] in ("ack", "error"))
    assert (frame["type"], frame["code"], frame["client_msg_id"]) == ("error", "muted", "m1")
    assert (await say(client, other, room)).status == 201  # others speak on
    listed = await (await client.get(f"/rooms/{room}/mutes", headers=owner.headers)).json()
    assert [m["user_id"] for m in listed["mutes"]] == [str(member.id)]

    assert (await client.delete(f"/rooms/{room}/mutes/{member.id}", headers=owner.headers)).status == 204
    assert (await say(client, member, room)).status == 201
    await ws.send_json(message(room, "back", "m2"))
    assert (await until(ws, lambda f: f["type"] in ("ack", "error")))["type"] == "ack"
    await ws.close()
    assert (await client.delete(f"/rooms/{room}/mutes/{member.id}", headers=owner.headers)).status == 404
    # Nobody mutes the owner: the role must be below the moderator's.
    await client.put(f"/rooms/{room}/members/{member.id}/role", json={"role": "admin"}, headers=owner.headers)
    upward = await client.put(f"/rooms/{room}/mutes/{owner.id}", json={"minutes": 5}, headers=member.headers)
    assert (upward.status, (await upward.json())["error"]["code"]) == (409, "insufficient_role")


async def test_slow_mode_lets_a_member_post_once_per_period_and_spares_admins(client: Client) -> None:
    owner, member = await signup(client), await signup(client)
    room = await make_room(client, owner, members=[member])
    resp = await client.put(f"/rooms/{room}/slow_mode", json={"seconds": 3600}, headers=owner.headers)
    assert resp.status == 200
    assert (await say(client, member, room, "one")).status == 201
    second = await say(client, member, room, "two")
    assert second.status == 429
    assert (await second.json())["error"]["code"] == "slow_mode"
    assert int(second.headers["Retry-After"]) > 3000
    assert (await say(client, owner, room, "a")).status == 201
    assert (await say(client, owner, room, "b")).status == 201
    assert (await client.put(f"/rooms/{room}/slow_mode", json={"seconds": 0}, headers=owner.headers)).status == 200
    assert (await say(client, member, room, "three")).status == 201
    bad = await client.put(f"/rooms/{room}/slow_mode", json={"seconds": -1}, headers=owner.headers)
    assert bad.status == 422
    assert (await client.put(f"/rooms/{room}/slow_mode", json={"seconds": 5}, headers=member.headers)).status == 403


async def test_members_report_messages_and_admins_resolve_and_act(client: Client) -> None:
    owner, reporter, author = await signup(client), await signup(client), await signup(client)
    room = await make_room(client, owner, "private", members=[reporter, author])
    first = (await (await say(client, author, room, "rude")).json())["id"]
    second = (await (await say(client, author, room, "ruder")).json())["id"]
    resp = await client.post(
        f"/rooms/{room}/messages/{first}/reports", json={"reason": "insulting"}, headers=reporter.headers
    )
    assert resp.status == 201
    report = await resp.json()
    assert (report["message_id"], report["reporter"], report["state"]) == (first, str(reporter.id), "open")
    assert (await client.get(f"/rooms/{room}/reports", headers=reporter.headers)).status == 403
    listed = await (await client.get(f"/rooms/{room}/reports?state=open", headers=owner.headers)).json()
    assert [r["id"] for r in listed["reports"]] == [report["id"]]

    done = await client.post(
        f"/rooms/{room}/reports/{report['id']}/resolve", json={"action": "delete"}, headers=owner.headers
    )
    assert done.status == 200
    assert ((await done.json())["state"], (await done.json())["action"]) == ("resolved", "delete")
    gone = await (await client.get(f"/rooms/{room}/messages/{first}", headers=owner.headers)).json()
    assert gone["deleted"] is True
    again = await client.post(
        f"/rooms/{room}/reports/{report['id']}/resolve", json={"action": "dismiss"}, headers=owner.headers
    )
    assert again.status == 409

    other = await (
        await client.post(f"/rooms/{room}/messages/{second}/reports", json={"reason": "x"}, headers=reporter.headers)
    ).json()
    await client.post(
        f"/rooms/{room}/reports/{other['id']}/resolve", json={"action": "mute", "minutes": 10}, headers=owner.headers
    )
    assert (await say(client, author, room)).status == 403  # muted by the resolution
    assert (await client.get(f"/rooms/{room}/reports?state=open", headers=owner.headers)).status == 200
    reason = {"reason": "x"}
    unknown = await client.post(f"/rooms/{room}/messages/999999/reports", json=reason, headers=reporter.headers)
    assert unknown.status == 404
    outsider = await signup(client)
    hidden = await client.post(
        f"/rooms/{room}/messages/{second}/reports", json={"reason": "x"}, headers=outsider.headers
    )
    assert hidden.status == 404


async def test_admins_pin_messages_that_every_reader_sees(client: Client) -> None:
    owner, member = await signup(client), await signup(client)
    room = await make_room(client, owner, "private", members=[member])
    one = (await (await say(client, member, room, "read the rules")).json())["id"]
    assert (await client.put(f"/rooms/{room}/pins/{one}", headers=member.headers)).status == 403
    assert (await client.put(f"/rooms/{room}/pins/{one}", headers=owner.headers)).status == 204
    assert (await client.put(f"/rooms/{room}/pins/{one}", headers=owner.headers)).status == 204  # once
    pins = await (await client.get(f"/rooms/{room}/pins", headers=member.headers)).json()
    assert [m["content"] for m in pins["messages"]] == ["read the rules"]
    outsider = await signup(client)
    assert (await client.get(f"/rooms/{room}/pins", headers=outsider.headers)).status == 404
    assert (await client.delete(f"/rooms/{room}/pins/{one}", headers=owner.headers)).status == 204
    assert (await (await client.get(f"/rooms/{room}/pins", headers=member.headers)).json())["messages"] == []
    assert (await client.delete(f"/rooms/{room}/pins/{one}", headers=owner.headers)).status == 404


async def test_server_admins_search_deactivate_reactivate_and_read_moderation_history(client: Client) -> None:
    admin, owner, member = await signup(client), await signup(client), await signup(client)
    assert (await client.get("/admin/users", headers=admin.headers)).status == 403
    await client.app[ADMIN].set_admin(admin.id, True)
    found = await (await client.get("/admin/users", params={"q": member.username[:-1]}, headers=admin.headers)).json()
    assert str(member.id) in [u["id"] for u in found["users"]]
    assert all(u["username"].casefold().startswith(member.username[:-1].casefold()) for u in found["users"])

    room = await make_room(client, owner, "private", members=[member])
    ws = await connect(client, member, room)
    assert (await client.post(f"/admin/users/{member.id}/deactivate", headers=admin.headers)).status == 204
    closing = await ws.receive(timeout=5)
    while closing.type == aiohttp.WSMsgType.TEXT:
        closing = await ws.receive(timeout=5)
    assert closing.data == 4401
    assert (await client.get("/me", headers=member.headers)).status == 401
    login = await client.post("/auth/login", json={"username": member.username, "password": PASSWORD})
    assert (login.status, (await login.json())["error"]["code"]) == (403, "account_deactivated")
    listed = await (await client.get("/admin/users", params={"q": member.username}, headers=admin.headers)).json()
    assert [u["deactivated"] for u in listed["users"] if u["id"] == str(member.id)] == [True]
    assert (await client.post(f"/admin/users/{member.id}/reactivate", headers=admin.headers)).status == 204
    login = await client.post("/auth/login", json={"username": member.username, "password": PASSWORD})
    assert login.status == 200
    assert (await client.post(f"/admin/users/{member.id}/deactivate", headers=owner.headers)).status == 403

    await client.put(f"/rooms/{room}/mutes/{member.id}", json={"minutes": 1}, headers=owner.headers)
    await client.put(f"/rooms/{room}/slow_mode", json={"seconds": 10}, headers=owner.headers)
    await client.delete(f"/rooms/{room}/members/{member.id}", headers=owner.headers)
    history = await (await client.get(f"/admin/rooms/{room}/moderation", headers=admin.headers)).json()
    assert [e["type"] for e in history["events"]] == ["member.kicked", "room.slow_mode_set", "member.muted"]
    assert {e["actor_id"] for e in history["events"]} == {str(owner.id)}
    page = await (
        await client.get(
            f"/admin/rooms/{room}/moderation", params={"before": history["events"][0]["id"], "limit": 1},
            headers=admin.headers,
        )
    ).json()  # fmt: skip
    assert [e["type"] for e in page["events"]] == ["room.slow_mode_set"]
    assert (await client.get(f"/admin/rooms/{room}/moderation", headers=owner.headers)).status == 403


def test_the_cli_grants_and_revokes_the_server_admin_role(
    database_url: str, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("DATABASE_URL", database_url)
    monkeypatch.setenv("JWT_SECRET", "x" * 40)
    carol = uuid.uuid4()

    async def register() -> None:
        db = await Database.connect(database_url, minsize=1, maxsize=2)
        store = EventStore(db, build_registry())
        store.inline.append(InlineProjections(store, all_projections()))
        store.start()
        data = {"username": "Carol", "username_norm": "carol", "display_name": "Carol"}
        await store.append(NewEvent("user.registered", carol, data, actor_id=carol))
        await store.close()
        await db.close()

    async def is_admin() -> bool:
        db = await Database.connect(database_url, minsize=1, maxsize=2)
        try:
            async with db.cursor() as cur:
                return await q.is_server_admin(cur, carol)
        finally:
            await db.close()

    asyncio.run(register())
    code, out, _ = run_cli(capsys, "users", "admin", "--username", "CAROL")
    assert (code, out) == (0, f"Carol ({carol}) is a server administrator\n")
    assert asyncio.run(is_admin())
    code, out, _ = run_cli(capsys, "users", "admin", "--username", "carol", "--revoke")
    assert code == 0
    assert not asyncio.run(is_admin())
    code, _, err = run_cli(capsys, "users", "admin", "--username", "nobody")
    assert (code, err) == (1, "gochat users admin: no user named 'nobody'\n")


async def test_deactivating_a_bot_stops_its_tokens_and_closes_its_sockets(client: Client) -> None:
    admin, owner = await signup(client), await signup(client)
    await client.app[ADMIN].set_admin(admin.id, True)
    room = await make_room(client, owner)
    bot = await make_bot(client, owner, room)
    token = await make_token(client, owner, bot, ["read", "write"])
    ws = await client.ws_connect("/ws", params={"token": token["token"], "room_id": room})
    await until(ws, lambda f: f["type"] == "subscribed")
    assert (await client.post(f"/admin/users/{bot['id']}/deactivate", headers=admin.headers)).status == 204
    closing = await ws.receive(timeout=5)
    while closing.type == aiohttp.WSMsgType.TEXT:
        closing = await ws.receive(timeout=5)
    assert closing.data == 4401
    assert (await client.get("/me", headers=bearer(token))).status == 401
    assert (await client.post(f"/admin/users/{bot['id']}/reactivate", headers=admin.headers)).status == 204
    assert (await client.get("/me", headers=bearer(token))).status == 200
