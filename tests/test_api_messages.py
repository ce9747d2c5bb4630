"""Messages over HTTP, with real users: posting and idempotent retries, history pages exactly as
PROTOCOL.md says, context, edits, tombstones, reactions, threads, read markers, refusals that
append nothing, and private content reaching no outsider by any route."""

from __future__ import annotations

import urllib.parse
import uuid
from typing import Any

from helpers import Account, signup
from room_helpers import make_room, ok, post, refused

from gochat.keys import DB

MESSAGE_KEYS = {"id", "message_id", "room_id", "user_id", "content", "timestamp", "reply_count", "last_reply_id",
                "reactions"}  # fmt: skip


async def room_with(client: Any, type_: str = "public") -> tuple[Account, Account, str]:
    alice, bob = await signup(client), await signup(client)
    room = await make_room(client, alice, type_, members=[str(bob.id)])
    return alice, bob, room["id"]


def messages_url(room_id: str, *rest: Any) -> str:
    return "/".join([f"/rooms/{room_id}/messages", *map(str, rest)])


# --- posting --------------------------------------------------------------------------------------
async def test_a_post_answers_the_message_and_is_read_back_at_once(client: Any) -> None:
    alice, bob, room = await room_with(client)
    message = await post(client, alice, room, "  hello  ")
    assert set(message) == MESSAGE_KEYS
    assert message["id"] == message["message_id"]
    assert (message["content"], message["user_id"], message["room_id"]) == ("hello", str(alice.id), room)
    assert message["timestamp"].endswith("Z")
    page = await ok(await client.get(messages_url(room), headers=bob.headers))
    assert page == {"messages": [message], "has_more": False, "users": {str(alice.id): page["users"][str(alice.id)]}}
    assert page["users"][str(alice.id)]["username"] == alice.username


async def test_a_retry_with_the_same_client_msg_id_answers_the_original(client: Any) -> None:
    alice, _, room = await room_with(client)
    first = await post(client, alice, room, "once", client_msg_id="abc-1")
    assert first["client_msg_id"] == "abc-1"
    retry = client.post(messages_url(room), json={"content": "once", "client_msg_id": "abc-1"}, headers=alice.headers)
    before = await ok(await client.get(messages_url(room), headers=alice.headers))
    assert await ok(await retry, 200) == first
    assert await ok(await client.get(messages_url(room), headers=alice.headers)) == before


async def test_bad_posts_are_refused_and_append_nothing(client: Any) -> None:
    alice, _, room = await room_with(client)
    url = messages_url(room)
    for body in (
        {"content": "x" * 4001},
        {"content": "   "},
        {},
        {"content": 42},
        {"content": "hi", "client_msg_id": "x" * 65},
        {"content": "hi", "thread_root": "1"},
        {"content": "hi", "extra": True},
    ):
        await refused(client, client.post(url, json=body, headers=alice.headers), 422)
    await refused(client, client.post(url, data=b"not json", headers=alice.headers), 400)
    await refused(client, client.post(url, json={"content": "hi"}), 401)
    await refused(client, client.post("/rooms/nope/messages", json={"content": "hi"}, headers=alice.headers), 400)
    unknown = messages_url(str(uuid.uuid4()))
    await refused(client, client.post(unknown, json={"content": "hi"}, headers=alice.headers), 404)
    assert (await post(client, alice, room, "x" * 4000))["content"] == "x" * 4000


async def test_outsiders_get_403_in_public_rooms_and_404_in_private_ones(client: Any) -> None:
    eve = await signup(client)
    _, _, public = await room_with(client, "public")
    _, _, private = await room_with(client, "private")
    body = {"content": "let me in"}
    await refused(client, client.post(messages_url(public), json=body, headers=eve.headers), 403, "not_a_member")
    await refused(client, client.post(messages_url(private), json=body, headers=eve.headers), 404)


# --- history --------------------------------------------------------------------------------------
async def test_history_pages_exactly_as_the_protocol_says(client: Any) -> None:
    alice, _, room = await room_with(client)
    ids = [(await post(client, alice, room, f"m{i}"))["id"] for i in range(5)]

    async def page(**query: Any) -> tuple[list[int], bool]:
        params = {k: str(v) for k, v in query.items()}
        body = await ok(await client.get(messages_url(room), params=params, headers=alice.headers))
        return [m["id"] for m in body["messages"]], body["has_more"]

    assert await page(limit=2) == (ids[3:], True)
    assert await page(limit=2, before=ids[3]) == (ids[1:3], True)
    assert await page(limit=2, before=ids[1]) == (ids[:1], False)
    assert await page(limit=2, after=ids[0]) == (ids[1:3], True)
    assert await page(limit=2, after=ids[2]) == (ids[3:], False)
    assert await page() == (ids, False)
    for bad in ({"limit": "0"}, {"limit": "101"}, {"limit": "many"}, {"before": "x"}, {"after": "-1"}):
        await refused(client, client.get(messages_url(room), params=bad, headers=alice.headers), 422)


async def test_context_shows_the_messages_around_one(client: Any) -> None:
    alice, _, room = await room_with(client)
    ids = [(await post(client, alice, room, f"m{i}"))["id"] for i in range(7)]
    body = await ok(
        await client.get(messages_url(room, ids[3], "context"), params={"limit": "3"}, headers=alice.headers)
    )
    assert [m["id"] for m in body["messages"]] == ids[2:5]
    assert (body["has_more_before"], body["has_more_after"]) == (True, True)
    await refused(client, client.get(messages_url(room, ids[-1] + 100, "context"), headers=alice.headers), 404)
    await refused(client, client.get(messages_url(room, "abc", "context"), headers=alice.headers), 400)


# --- edit and delete ------------------------------------------------------------------------------
async def test_only_the_author_edits(client: Any) -> None:
    alice, bob, room = await room_with(client)
    message = await post(client, bob, room, "draft")
    url = messages_url(room, message["id"])
    await refused(client, client.patch(url, json={"content": "mine now"}, headers=alice.headers), 403, "not_the_author")
    await refused(client, client.patch(url, json={"content": "x" * 4001}, headers=bob.headers), 422)
    edited = await ok(await client.patch(url, json={"content": "final"}, headers=bob.headers))
    assert (edited["content"], edited["timestamp"]) == ("final", message["timestamp"])
    assert edited["edited_at"].endswith("Z")
    assert (await ok(await client.get(url, headers=alice.headers)))["edited_at"] == edited["edited_at"]
    await refused(client, client.patch(messages_url(room, 10**12), json={"content": "x"}, headers=bob.headers), 404)


async def test_a_deleted_message_is_a_tombstone_on_every_route(client: Any) -> None:
    alice, bob, room = await room_with(client)
    root = await post(client, bob, room, "the launch code is 0000")
    reply = await post(client, alice, room, "shh", thread_root=root["id"])
    await ok(await client.put(messages_url(room, root["id"], "reactions", "%F0%9F%98%B1"), headers=alice.headers))
    await ok(await client.delete(messages_url(room, root["id"]), headers=bob.headers), 204)
    routes = [
        messages_url(room),
        messages_url(room, root["id"]),
        messages_url(room, root["id"], "context"),
        messages_url(room, reply["id"], "thread"),
        "/rooms",
    ]
    for url in routes:
        text = await (await client.get(url, headers=alice.headers)).text()
        assert "launch code" not in text, url
    tomb = await ok(await client.get(messages_url(room, root["id"]), headers=alice.headers))
    assert (tomb["deleted"], tomb["content"], tomb["reactions"]) == (True, "", [])
    assert (tomb["user_id"], tomb["timestamp"]) == (str(bob.id), root["timestamp"])
    async with client.app[DB].cursor() as cur:
        await cur.execute("SELECT count(*) FROM messages WHERE content LIKE '%%launch code%%'")
        assert (await cur.fetchone())[0] == 0
    await refused(client, client.patch(messages_url(room, root["id"]), json={"content": "x"}, headers=bob.headers), 409)


async def test_members_cannot_delete_others_messages_but_admins_can(client: Any) -> None:
    alice, bob, room = await room_with(client)
    carol = await signup(client)
    await ok(await client.post(f"/rooms/{room}/join", json={}, headers=carol.headers))
    message = await post(client, bob, room, "spam")
    await refused(client, client.delete(messages_url(room, message["id"]), headers=carol.headers), 403)
    await ok(await client.delete(messages_url(room, message["id"]), headers=alice.headers), 204)


# --- reactions and threads ------------------------------------------------------------------------
async def test_reactions_count_per_emoji_with_url_encoded_names(client: Any) -> None:
    alice, bob, room = await room_with(client)
    message = await post(client, alice, room, "ship it?")
    thumbs = urllib.parse.quote("👍")
    await ok(await client.put(messages_url(room, message["id"], "reactions", thumbs), headers=alice.headers))
    body = await ok(await client.put(messages_url(room, message["id"], "reactions", thumbs), headers=bob.headers))
    assert body["reactions"] == [{"emoji": "👍", "count": 2, "me": True}]
    await ok(await client.put(messages_url(room, message["id"], "reactions", ":rocket:"), headers=bob.headers))
    body = await ok(await client.delete(messages_url(room, message["id"], "reactions", thumbs), headers=bob.headers))
    assert body["reactions"] == [
        {"emoji": "👍", "count": 1, "me": False},
        {"emoji": ":rocket:", "count": 1, "me": True},
    ]
    page = await ok(await client.get(messages_url(room), headers=alice.headers))
    assert page["messages"][0]["reactions"] == [
        {"emoji": "👍", "count": 1, "me": True},
        {"emoji": ":rocket:", "count": 1, "me": False},
    ]
    bad = messages_url(room, message["id"], "reactions", "not%20emoji")
    await refused(client, client.put(bad, headers=bob.headers), 422)
    await refused(client, client.put(messages_url(room, 10**12, "reactions", thumbs), headers=bob.headers), 404)


async def test_threads_list_replies_under_their_root(client: Any) -> None:
    alice, bob, room = await room_with(client)
    root = await post(client, alice, room, "plans for friday?")
    replies = [await post(client, bob, room, f"idea {i}", thread_root=root["id"]) for i in range(3)]
    assert replies[0]["thread_root"] == root["id"]
    assert "reply_count" not in replies[0]
    body = await ok(
        await client.get(messages_url(room, root["id"], "thread"), params={"limit": "2"}, headers=bob.headers)
    )
    assert (body["root"]["reply_count"], body["root"]["last_reply_id"]) == (3, replies[-1]["id"])
    assert [m["id"] for m in body["messages"]] == [r["id"] for r in replies[:2]]
    assert body["has_more"]
    rest = await ok(
        await client.get(
            messages_url(room, root["id"], "thread"), params={"after": str(replies[1]["id"])}, headers=bob.headers
        )
    )
    assert [m["id"] for m in rest["messages"]] == [replies[2]["id"]]
    assert not rest["has_more"]
    deeper = {"content": "nested", "thread_root": replies[0]["id"]}
    await refused(client, client.post(messages_url(room), json=deeper, headers=bob.headers), 422)
    elsewhere = (await make_room(client, alice))["id"]
    stray = {"content": "stray", "thread_root": root["id"]}
    await refused(client, client.post(messages_url(elsewhere), json=stray, headers=alice.headers), 404)


# --- read markers ---------------------------------------------------------------------------------
async def unread_in(client: Any, account: Account, room_id: str) -> int:
    rooms = (await ok(await client.get("/rooms", headers=account.headers)))["rooms"]
    count: int = next(r["unread_count"] for r in rooms if r["id"] == room_id)
    return count


async def test_read_markers_only_move_forward(client: Any) -> None:
    alice, bob, room = await room_with(client)
    ids = [(await post(client, alice, room, f"m{i}"))["id"] for i in range(4)]
    assert await unread_in(client, bob, room) == 4
    url = f"/rooms/{room}/read"
    marked = await ok(await client.post(url, json={"message_id": ids[1]}, headers=bob.headers))
    assert marked == {"room_id": room, "last_read_id": ids[1], "unread_count": 2}
    back = client.post(url, json={"message_id": ids[0]}, headers=bob.headers)
    before = await ok(await client.get("/rooms", headers=bob.headers))
    assert await ok(await back) == marked
    assert await ok(await client.get("/rooms", headers=bob.headers)) == before
    assert await unread_in(client, bob, room) == 2
    await ok(await client.post(url, json={"message_id": ids[3]}, headers=bob.headers))
    assert await unread_in(client, bob, room) == 0


async def test_bad_read_markers_are_refused(client: Any) -> None:
    alice, _, room = await room_with(client)
    other = (await make_room(client, alice))["id"]
    elsewhere = (await post(client, alice, other, "there"))["id"]
    url = f"/rooms/{room}/read"
    await refused(client, client.post(url, json={"message_id": elsewhere}, headers=alice.headers), 404)
    await refused(client, client.post(url, json={"message_id": "7"}, headers=alice.headers), 422)
    await refused(client, client.post(url, json={}, headers=alice.headers), 422)
    eve = await signup(client)
    await refused(client, client.post(url, json={"message_id": elsewhere}, headers=eve.headers), 403)


# --- private rooms --------------------------------------------------------------------------------
async def test_private_content_reaches_no_outsider_by_any_route(client: Any) -> None:
    alice, bob, room = await room_with(client, "private")
    eve = await signup(client)
    root = await post(client, alice, room, "top secret plan")
    reply = await post(client, bob, room, "secret reply", thread_root=root["id"])
    attempts = [
        client.get(f"/rooms/{room}", headers=eve.headers),
        client.get(messages_url(room), headers=eve.headers),
        client.get(messages_url(room, root["id"]), headers=eve.headers),
        client.get(messages_url(room, root["id"], "context"), headers=eve.headers),
        client.get(messages_url(room, reply["id"], "thread"), headers=eve.headers),
        client.patch(messages_url(room, root["id"]), json={"content": "x"}, headers=eve.headers),
        client.delete(messages_url(room, root["id"]), headers=eve.headers),
        client.put(messages_url(room, root["id"], "reactions", ":eyes:"), headers=eve.headers),
        client.delete(messages_url(room, root["id"], "reactions", ":eyes:"), headers=eve.headers),
        client.post(f"/rooms/{room}/read", json={"message_id": root["id"]}, headers=eve.headers),
        client.post(messages_url(room), json={"content": "hi"}, headers=eve.headers),
        client.post(f"/rooms/{room}/join", json={}, headers=eve.headers),
    ]
    for attempt in attempts:
        body = await refused(client, attempt, 404)
        assert "secret" not in str(body)
    for url in ("/rooms", "/rooms/directory"):
        assert "secret" not in await (await client.get(url, headers=eve.headers)).text()
