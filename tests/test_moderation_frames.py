"""Moderation as live frames (issue #21): a muted member learns it, and until when, without posting;
the room sees slow mode, pins and a moderator's removal of a message as they happen, and again on
resume; reports and their resolution stay with the room's admins."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from datetime import datetime
from typing import Any

import aiohttp
import jsonschema_rs
from helpers import signup
from test_cluster import Cluster, cluster, next_frame, people, uid  # noqa: F401  (fixtures)
from test_ws import connect, frames_until, make_room, sentinel, until

from gochat.client import GochatClient
from gochat.keys import ADMIN

Client = Any
MODERATION = {"mute", "unmute", "slow_mode", "message_pinned", "message_unpinned"}


def instant(text: str) -> datetime:
    return datetime.fromisoformat(text.replace("Z", "+00:00"))


async def test_room_members_see_moderation_live_and_on_resume_but_not_reports(client: Client) -> None:
    owner, member, reporter = await signup(client), await signup(client), await signup(client)
    room = await make_room(client, owner, "private", members=[member, reporter])
    ws_member, ws_reporter = await connect(client, member, room), await connect(client, reporter, room)

    muted = await client.put(f"/rooms/{room}/mutes/{member.id}", json={"minutes": 5}, headers=owner.headers)
    until_at = (await muted.json())["until"]
    mute = await until(ws_member, lambda f: f["type"] in MODERATION)
    assert (mute["type"], mute["user_id"], mute["actor_id"], mute["minutes"], mute["room_id"]) == (
        "mute", str(member.id), str(owner.id), 5, room,
    )  # fmt: skip
    assert instant(mute["until"]) == instant(until_at)
    assert (await until(ws_reporter, lambda f: f["type"] in MODERATION))["id"] == mute["id"]  # the room sees it
    assert (await client.delete(f"/rooms/{room}/mutes/{member.id}", headers=owner.headers)).status == 204
    unmute = await until(ws_member, lambda f: f["type"] in MODERATION)
    assert (unmute["type"], unmute["user_id"], unmute["actor_id"]) == ("unmute", str(member.id), str(owner.id))
    assert (await until(ws_reporter, lambda f: f["type"] in MODERATION))["id"] == unmute["id"]

    await client.put(f"/rooms/{room}/slow_mode", json={"seconds": 30}, headers=owner.headers)
    slow = await until(ws_reporter, lambda f: f["type"] in MODERATION)
    assert (slow["type"], slow["seconds"], slow["user_id"]) == ("slow_mode", 30, str(owner.id))
    await client.put(f"/rooms/{room}/slow_mode", json={"seconds": 0}, headers=owner.headers)
    slow_off = await until(ws_reporter, lambda f: f["type"] == "slow_mode")
    assert slow_off["seconds"] == 0

    posted = await client.post(f"/rooms/{room}/messages", json={"content": "rules"}, headers=member.headers)
    rules = (await posted.json())["id"]
    assert (await client.put(f"/rooms/{room}/pins/{rules}", headers=owner.headers)).status == 204
    pin = await until(ws_reporter, lambda f: f["type"] in MODERATION)
    assert (pin["type"], pin["message_id"], pin["user_id"]) == ("message_pinned", rules, str(owner.id))
    assert (await client.delete(f"/rooms/{room}/pins/{rules}", headers=owner.headers)).status == 204
    unpin = await until(ws_reporter, lambda f: f["type"] in MODERATION)
    assert (unpin["type"], unpin["message_id"]) == ("message_unpinned", rules)

    # A report and its dismissal: nothing reaches the room (read up to a sentinel posted after them).
    rude = (
        await (await client.post(f"/rooms/{room}/messages", json={"content": "rude"}, headers=member.headers)).json()
    )["id"]
    report = await (
        await client.post(f"/rooms/{room}/messages/{rude}/reports", json={"reason": "rude"}, headers=reporter.headers)
    ).json()
    await client.post(
        f"/rooms/{room}/reports/{report['id']}/resolve", json={"action": "dismiss"}, headers=owner.headers
    )
    mark = await sentinel(client, owner, room)
    seen = await frames_until(ws_member, lambda f: f.get("id") == mark)
    after_unpin = [f["type"] for f in seen if f.get("id", 0) > unpin["id"] and f["type"] != "read"]
    assert after_unpin == ["message", "message"]  # the rude message and the sentinel
    assert not any("report" in f["type"] or "reason" in f for f in seen)

    # Resolved with `delete`: the room sees the message removed by someone not its author.
    second = await (
        await client.post(f"/rooms/{room}/messages/{rude}/reports", json={"reason": "still"}, headers=reporter.headers)
    ).json()
    await client.post(f"/rooms/{room}/reports/{second['id']}/resolve", json={"action": "delete"}, headers=owner.headers)
    removed = await until(ws_reporter, lambda f: f["type"] == "message_deleted")
    assert (removed["message_id"], removed["user_id"]) == (rude, str(owner.id))

    # A socket resuming from before the mute is sent the same frames, in the same order.
    live = [mute, unmute, slow, slow_off, pin, unpin]
    resumed = await connect(client, reporter, room, since=mute["id"] - 1)
    replayed = await frames_until(resumed, lambda f: f.get("id") == removed["id"])
    assert [f for f in replayed if f["type"] in MODERATION] == live
    for ws in (ws_member, ws_reporter, resumed):
        await ws.close()

    # Each frame is what the AsyncAPI document says.
    api = await (await client.get("/asyncapi.json")).json()
    schemas = {n: jsonschema_rs.validator_for(m["payload"]) for n, m in api["components"]["messages"].items()}
    kind = {"mute": "mute", "unmute": "mute", "slow_mode": "slow_mode"}
    for frame in live:
        schemas[kind.get(frame["type"], "message_pinned")].validate(frame)


async def test_a_moderation_history_entry_carries_its_live_frame_and_reports_none(client: Client) -> None:
    admin, owner, member = await signup(client), await signup(client), await signup(client)
    await client.app[ADMIN].set_admin(admin.id, True)
    room = await make_room(client, owner, "private", members=[member])
    posted = await client.post(f"/rooms/{room}/messages", json={"content": "x"}, headers=member.headers)
    message_id = (await posted.json())["id"]
    await client.put(f"/rooms/{room}/pins/{message_id}", headers=owner.headers)
    await client.post(f"/rooms/{room}/messages/{message_id}/reports", json={"reason": "x"}, headers=owner.headers)
    history = await (await client.get(f"/admin/rooms/{room}/moderation", headers=admin.headers)).json()
    frames = {e["type"]: e["frame"] for e in history["events"]}
    assert frames["message.reported"] is None
    assert (frames["message.pinned"]["type"], frames["message.pinned"]["message_id"]) == ("message_pinned", message_id)


async def test_a_mute_on_node_a_reaches_the_muted_member_on_node_b(
    cluster: Cluster,  # noqa: F811
    people: Callable[[str], Awaitable[GochatClient]],  # noqa: F811
) -> None:
    a, b = await cluster(2)
    alice, bob = await people(a.url), await people(b.url)
    room = await alice.create_room("Moderated", "private", members=[uid(bob)])
    await bob.accept(room["id"])
    async with aiohttp.ClientSession() as session:
        ws = await session.ws_connect(b.url + "/ws", params={"token": bob.access_token or "", "room_id": room["id"]})
        await next_frame(ws, lambda f: f["type"] == "subscribed")
        await alice.request("PUT", f"/rooms/{room['id']}/mutes/{uid(bob)}", json={"minutes": 10})
        mute = await next_frame(ws, lambda f: f["type"] in MODERATION)
        assert (mute["type"], mute["user_id"], mute["actor_id"], mute["minutes"]) == ("mute", uid(bob), uid(alice), 10)
        await alice.request("PUT", f"/rooms/{room['id']}/slow_mode", json={"seconds": 60})
        assert (await next_frame(ws, lambda f: f["type"] in MODERATION))["seconds"] == 60
        await ws.close()
