"""Rooms over HTTP, with real users: shapes, membership routes, the directory, and refusals that
answer the protocol's status and append nothing."""

from __future__ import annotations

import uuid
from typing import Any

from helpers import signup
from room_helpers import make_room, ok, post, refused

ROOM_KEYS = {"id", "name", "type", "topic", "created_by", "created_at", "member_count", "last_message_id", "encrypted"}


async def test_creating_a_room_answers_the_protocol_room(client: Any) -> None:
    alice = await signup(client)
    room = await make_room(client, alice, name="General", topic="all things")
    assert set(room) == ROOM_KEYS
    assert (room["name"], room["type"], room["topic"], room["member_count"]) == ("General", "public", "all things", 1)
    assert room["created_by"] == str(alice.id)
    assert room["created_at"].endswith("Z")
    assert uuid.UUID(room["id"])


async def test_a_group_is_found_again_by_its_member_set(client: Any) -> None:
    alice, bob = await signup(client), await signup(client)
    first = await make_room(client, alice, "group", members=[str(bob.id)])
    resp = await client.post(
        "/rooms", json={"name": "DM", "type": "group", "members": [str(alice.id)]}, headers=bob.headers
    )
    again = await ok(resp, 200)
    assert again["id"] == first["id"]
    assert again["member_count"] == 2


async def test_bad_room_bodies_are_refused(client: Any) -> None:
    alice = await signup(client)
    for body, status in (
        ({"name": "x", "type": "secret"}, 422),
        ({"name": "", "type": "public"}, 422),
        ({"name": "x" * 101, "type": "public"}, 422),
        ({"type": "public"}, 422),
        ({"name": "x", "type": "public", "members": [str(uuid.uuid4())]}, 422),  # nobody by that id
        ({"name": "x", "type": "public", "members": ["not-a-uuid"]}, 422),
        ({"name": "x", "type": "public", "colour": "red"}, 422),
    ):
        await refused(client, client.post("/rooms", json=body, headers=alice.headers), status)
    await refused(client, client.post("/rooms", data=b"{nope", headers=alice.headers), 400)
    await refused(client, client.post("/rooms", json={"name": "x", "type": "public"}), 401)


async def test_my_rooms_carry_unread_counts_and_the_last_message(client: Any) -> None:
    alice, bob = await signup(client), await signup(client)
    quiet = await make_room(client, alice, "private", members=[str(bob.id)])
    busy = await make_room(client, alice, members=[str(bob.id)])
    await post(client, alice, quiet["id"], "anyone here?")
    await post(client, alice, busy["id"], "one")
    last = await post(client, alice, busy["id"], "two")
    body = await ok(await client.get("/rooms", headers=bob.headers))
    assert [r["id"] for r in body["rooms"]] == [busy["id"], quiet["id"]]
    first = body["rooms"][0]
    assert set(first) == ROOM_KEYS | {"role", "unread_count", "last_read_id", "last_message", "mention_count"}
    assert (first["unread_count"], first["role"], first["last_message"]) == (2, "member", last)
    mine = await ok(await client.get("/rooms", headers=alice.headers))
    assert [r["unread_count"] for r in mine["rooms"]] == [0, 0]
    outsider = await signup(client)
    assert await ok(await client.get("/rooms", headers=outsider.headers)) == {"rooms": [], "users": {}}


async def test_a_room_shows_its_members(client: Any) -> None:
    alice, bob = await signup(client), await signup(client)
    room = await make_room(client, alice, members=[str(bob.id)])
    body = await ok(await client.get(f"/rooms/{room['id']}", headers=bob.headers))
    assert {m["user_id"]: m["role"] for m in body["members"]} == {str(alice.id): "owner", str(bob.id): "member"}
    assert all(m["joined_at"].endswith("Z") for m in body["members"])
    assert body["membership"] == {"state": "joined", "role": "member"}


async def test_unknown_malformed_and_private_rooms(client: Any) -> None:
    alice, eve = await signup(client), await signup(client)
    private = await make_room(client, alice, "private")
    await refused(client, client.get(f"/rooms/{private['id']}", headers=eve.headers), 404)
    await refused(client, client.get(f"/rooms/{uuid.uuid4()}", headers=eve.headers), 404)
    await refused(client, client.get("/rooms/not-a-uuid", headers=eve.headers), 400, "invalid_id")
    await refused(client, client.post(f"/rooms/{private['id']}/join", json={}, headers=eve.headers), 404)
    await refused(client, client.patch(f"/rooms/{private['id']}", json={"name": "mine"}, headers=eve.headers), 404)


async def test_join_leave_and_update(client: Any) -> None:
    alice, bob = await signup(client), await signup(client)
    room = await make_room(client, alice)
    joined = await ok(await client.post(f"/rooms/{room['id']}/join", json={}, headers=bob.headers))
    assert joined["member_count"] == 2
    await refused(client, client.patch(f"/rooms/{room['id']}", json={"topic": "x"}, headers=bob.headers), 403)
    await refused(client, client.patch(f"/rooms/{room['id']}", json={}, headers=alice.headers), 422)
    updated = await ok(await client.patch(f"/rooms/{room['id']}", json={"topic": "new"}, headers=alice.headers))
    assert (updated["name"], updated["topic"]) == ("Room", "new")
    await ok(await client.post(f"/rooms/{room['id']}/leave", json={}, headers=bob.headers), 204)
    await refused(client, client.post(f"/rooms/{room['id']}/leave", json={}, headers=bob.headers), 409)
    assert (await ok(await client.get(f"/rooms/{room['id']}", headers=alice.headers)))["member_count"] == 1


async def test_inviting_adding_kicking_and_roles(client: Any) -> None:
    alice, bob, carol = await signup(client), await signup(client), await signup(client)
    room = await make_room(client, alice, "private")
    url = f"/rooms/{room['id']}/members"
    invited = await ok(await client.post(url, json={"user_id": str(bob.id), "invite": True}, headers=alice.headers))
    assert invited == {"user_id": str(bob.id), "state": "invited"}
    seen = await ok(await client.get(f"/rooms/{room['id']}", headers=bob.headers))  # invited users see the room
    assert seen["membership"] == {"state": "invited", "role": "member"}
    await ok(await client.post(f"/rooms/{room['id']}/join", json={}, headers=bob.headers))
    await refused(client, client.post(url, json={"user_id": str(carol.id)}, headers=bob.headers), 403)
    await refused(client, client.post(url, json={"user_id": str(uuid.uuid4())}, headers=alice.headers), 422)
    role_url = f"{url}/{bob.id}/role"
    await refused(client, client.put(role_url, json={"role": "king"}, headers=alice.headers), 422)
    assert await ok(await client.put(role_url, json={"role": "admin"}, headers=alice.headers)) == {
        "user_id": str(bob.id),
        "role": "admin",
    }
    added = await ok(await client.post(url, json={"user_id": str(carol.id)}, headers=bob.headers))
    assert added["state"] == "joined"
    await refused(client, client.delete(f"{url}/{alice.id}", headers=bob.headers), 403)  # admin < owner
    await ok(await client.delete(f"{url}/{carol.id}", headers=bob.headers), 204)
    await refused(client, client.get(f"/rooms/{room['id']}", headers=carol.headers), 404)
    await refused(client, client.delete(f"{url}/not-a-uuid", headers=bob.headers), 400)


async def test_bans_keep_a_user_out_until_lifted(client: Any) -> None:
    alice, bob = await signup(client), await signup(client)
    room = await make_room(client, alice, members=[str(bob.id)])
    ban_url = f"/rooms/{room['id']}/bans/{bob.id}"
    await refused(client, client.post(ban_url, json={"reason": "x" * 501}, headers=alice.headers), 422)
    await ok(await client.post(ban_url, json={"reason": "spam"}, headers=alice.headers), 204)
    await refused(client, client.post(f"/rooms/{room['id']}/join", json={}, headers=bob.headers), 403, "banned")
    await refused(client, client.get(f"/rooms/{room['id']}/messages", headers=bob.headers), 403, "banned")
    await ok(await client.delete(ban_url, headers=alice.headers), 204)
    await refused(client, client.delete(ban_url, headers=alice.headers), 404)
    await ok(await client.post(f"/rooms/{room['id']}/join", json={}, headers=bob.headers))


async def test_the_directory_lists_public_rooms_by_name_a_page_at_a_time(client: Any) -> None:
    alice, bob = await signup(client), await signup(client)
    for name in ("Cooking", "Books", "Board games", "Cycling"):
        await make_room(client, alice, name=name)
    await make_room(client, alice, "private", name="Boss talk")
    names: list[str] = []
    cursor = None
    while True:
        query = {"limit": "2", **({"after": cursor} if cursor else {})}
        page = await ok(await client.get("/rooms/directory", params=query, headers=bob.headers))
        names += [r["name"] for r in page["rooms"]]
        cursor = page["next"]
        if cursor is None:
            break
    assert names == ["Board games", "Books", "Cooking", "Cycling"]
    found = await ok(await client.get("/rooms/directory", params={"q": "bo"}, headers=bob.headers))
    assert [r["name"] for r in found["rooms"]] == ["Board games", "Books"]
    await refused(client, client.get("/rooms/directory", params={"limit": "0"}, headers=bob.headers), 422)
