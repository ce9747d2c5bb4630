"""Step 12, people: the user directory, profiles and statuses, look-alike names, DMs, mentions,
notifications (live on every socket of the recipient, listed, read, counted), levels, do-not-disturb
and blocking, all through the real HTTP and WebSocket API of one node."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta
from typing import Any

import aiohttp
from helpers import Account, signup
from room_helpers import make_room, ok, post, refused
from test_ws import connect, until

from gochat.keys import DB

Client = Any


async def get(client: Client, who: Account, url: str, **params: Any) -> Any:
    return await ok(await client.get(url, headers=who.headers, params=params))


async def notifications(client: Client, who: Account, **params: Any) -> list[dict[str, Any]]:
    body = await get(client, who, "/notifications", **params)
    return list(body["notifications"])


async def listed(client: Client, who: Account, count: int, **params: Any) -> list[dict[str, Any]]:
    """The notifications once `count` are there (the projection follows the log a moment behind)."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + 10
    while len(found := await notifications(client, who, **params)) < count:
        assert loop.time() < deadline, f"{len(found)} notifications, expected {count}"
        await asyncio.sleep(0.02)
    return found


async def notification(ws: aiohttp.ClientWebSocketResponse, message_id: int) -> dict[str, Any]:
    frame = await until(ws, lambda f: f["type"] == "notification" and f["notification"]["message_id"] == message_id)
    return dict(frame["notification"])


# --- the directory ------------------------------------------------------------------------------------
async def test_users_by_id_in_batches_and_room_payloads_carry_a_users_map(client: Client) -> None:
    alice, bob = await signup(client, display_name="Alice A."), await signup(client)
    user = await get(client, bob, f"/users/{alice.id}")
    assert (user["id"], user["username"], user["display_name"], user["status"]) == (
        str(alice.id), alice.username, "Alice A.", None
    )  # fmt: skip
    batch = await get(client, bob, "/users", ids=f"{alice.id},{bob.id},00000000-0000-0000-0000-000000000000")
    assert set(batch["users"]) == {str(alice.id), str(bob.id)}
    await refused(client, client.get("/users", params={"ids": ",".join(["x"] * 2)}, headers=bob.headers), 422)
    many = ",".join(str(alice.id) for _ in range(101))
    await refused(client, client.get("/users", params={"ids": many}, headers=bob.headers), 422)
    await refused(client, client.get("/users/00000000-0000-0000-0000-000000000000", headers=bob.headers), 404)
    room = await make_room(client, alice, members=[str(bob.id)])
    detail = await get(client, bob, f"/rooms/{room['id']}")
    assert set(detail["users"]) == {str(alice.id), str(bob.id)}
    assert detail["users"][str(alice.id)]["display_name"] == "Alice A."


async def test_search_finds_by_prefix_ranked_paged_and_only_people_the_caller_may_see(client: Client) -> None:
    me = await signup(client, "searcher_me")
    names = ["zed_one", "zed_two", "zedd", "zeb"]
    people = {n: await signup(client, n) for n in names}
    stranger = await signup(client, "zed_stranger")  # shares no room with me, in no public room
    shared = await make_room(client, me, "private", members=[str(people[n].id) for n in names])
    assert shared
    wordy = await signup(client, "wordy", display_name="Big Zed")
    public = await make_room(client, wordy)
    await ok(await client.post(f"/rooms/{public['id']}/join", json={}, headers=wordy.headers))
    found: list[str] = []
    cursor = None
    while True:
        params = {"q": "ZED", "limit": "2", **({"cursor": cursor} if cursor else {})}
        page = await get(client, me, "/users/search", **params)
        found += [u["username"] for u in page["results"]]
        cursor = page["next_cursor"]
        if cursor is None:
            break
    # username prefixes by name, then display names whose later word matches; never the stranger
    assert found == ["zed_one", "zed_two", "zedd", "wordy"]
    assert stranger.username not in found
    exact = await get(client, me, "/users/search", q="zedd")
    assert exact["results"][0]["username"] == "zedd"
    await refused(client, client.get("/users/search", params={"q": " "}, headers=me.headers), 422)


async def test_a_status_with_an_expiry_and_a_profile_change_reach_the_user_s_rooms_live(client: Client) -> None:
    alice, bob = await signup(client), await signup(client)
    room = await make_room(client, alice, members=[str(bob.id)])
    ws = await connect(client, bob, room["id"])
    soon = (datetime.now(UTC) + timedelta(hours=1)).isoformat()
    body = {"text": "in a meeting", "emoji": "📅", "expires_at": soon}
    me = await ok(await client.put("/me/status", json=body, headers=alice.headers))
    assert me["status"]["text"] == "in a meeting"
    frame = await until(ws, lambda f: f["type"] == "user_updated" and f["user"]["id"] == str(alice.id))
    assert frame["user"]["status"]["emoji"] == "📅"
    await ok(await client.patch("/me", json={"display_name": "Alice New"}, headers=alice.headers))
    frame = await until(ws, lambda f: f["type"] == "user_updated" and f["user"]["display_name"] == "Alice New")
    past = {"text": "gone", "expires_at": (datetime.now(UTC) - timedelta(minutes=1)).isoformat()}
    await refused(client, client.put("/me/status", json=past, headers=alice.headers), 422)
    cleared = await ok(await client.delete("/me/status", headers=alice.headers))
    assert cleared["status"] is None
    await ws.close()


# --- impersonation -------------------------------------------------------------------------------------
async def test_look_alike_and_mixed_script_usernames_are_refused_at_signup(client: Client) -> None:
    await signup(client, "paypal")
    for look_alike in ("paypa1", "PAYPAL", "paypaI"):
        resp = await client.post("/auth/signup", json={"username": look_alike, "password": "correct horse battery"})
        assert resp.status == 409, await resp.text()
        assert (await resp.json())["error"]["code"] in ("username_confusable", "username_taken")
    cyrillic_a = "p\u0430ypal_x"  # Latin with a Cyrillic a
    resp = await client.post("/auth/signup", json={"username": cyrillic_a, "password": "correct horse battery"})
    assert resp.status == 422
    assert "username" in (await resp.json())["error"]["details"]
    resp = await client.post("/auth/signup", json={"username": "here", "password": "correct horse battery"})
    assert resp.status == 422
    await signup(client, "田中tanaka")  # a Japanese name mixing scripts the way Japanese does


async def test_a_display_name_copying_another_username_is_shown_with_the_real_username(client: Client) -> None:
    boss = await signup(client, "theboss")
    faker = await signup(client, display_name="TheBoss")
    honest = await signup(client, display_name="Someone")
    fake = await get(client, honest, f"/users/{faker.id}")
    assert fake["name_collision"] is True
    assert fake["display"] == f"TheBoss (@{faker.username})"
    real = await get(client, honest, f"/users/{boss.id}")
    assert (real["name_collision"], real["display"]) == (False, real["display_name"])


# --- direct messages -------------------------------------------------------------------------------------
async def test_a_dm_is_one_room_per_pair_even_when_both_open_it_at_once(client: Client) -> None:
    alice, bob = await signup(client), await signup(client)
    first, second = await asyncio.gather(
        client.post("/dms", json={"user_id": str(bob.id)}, headers=alice.headers),
        client.post("/dms", json={"user_id": str(alice.id)}, headers=bob.headers),
    )
    rooms = [await first.json(), await second.json()]
    assert sorted([first.status, second.status]) == [200, 201]
    assert rooms[0]["id"] == rooms[1]["id"]
    assert rooms[0]["user"]["id"] == str(bob.id)
    assert rooms[1]["user"]["id"] == str(alice.id)
    again = await ok(await client.post("/dms", json={"user_id": str(bob.id)}, headers=alice.headers))
    assert again["id"] == rooms[0]["id"]
    listed = await get(client, alice, "/dms")
    assert [(d["id"], d["user"]["username"]) for d in listed["dms"]] == [(rooms[0]["id"], bob.username)]
    await refused(client, client.post("/dms", json={"user_id": str(alice.id)}, headers=alice.headers), 422)


async def test_a_dm_notifies_the_other_person_on_a_socket_subscribed_to_nothing(client: Client) -> None:
    alice, bob = await signup(client), await signup(client)
    dm = await ok(await client.post("/dms", json={"user_id": str(bob.id)}, headers=alice.headers), 201)
    bare = await connect(client, bob)  # no room subscribed
    sent = await post(client, alice, dm["id"], "psst")
    got = await notification(bare, sent["id"])
    assert (got["reason"], got["room_id"], got["message"]["content"]) == ("dm", dm["id"], "psst")
    assert got["actor"]["id"] == str(alice.id)
    await bare.close()


# --- mentions and notifications ----------------------------------------------------------------------------
async def test_mentions_become_entities_and_notify_every_socket_of_the_mentioned(client: Client) -> None:
    alice, bob, carol = await signup(client), await signup(client), await signup(client)
    room = await make_room(client, alice, members=[str(bob.id), str(carol.id)])
    other_room = await make_room(client, bob)
    in_room, elsewhere = await connect(client, bob, room["id"]), await connect(client, bob, other_room["id"])
    text = f"hi @{bob.username}, mail me@example.com and @nobody_here"
    sent = await post(client, alice, room["id"], text)
    assert sent["mentions"] == [{"kind": "user", "offset": 3, "length": 1 + len(bob.username), "user_id": str(bob.id)}]
    for ws in (in_room, elsewhere):
        got = await notification(ws, sent["id"])
        assert (got["reason"], got["read"], got["room"]["name"]) == ("mention", False, "Room")
    listed = await notifications(client, bob)
    assert [n["message_id"] for n in listed] == [sent["id"]]
    assert await notifications(client, carol) == []  # public room, level mentions: not named
    rooms = {r["id"]: r for r in (await get(client, bob, "/rooms"))["rooms"]}
    assert rooms[room["id"]]["mention_count"] == 1
    history = await get(client, bob, f"/rooms/{room['id']}/messages")
    assert history["messages"][-1]["mentions"] == sent["mentions"]
    assert str(alice.id) in history["users"]
    assert str(bob.id) in history["users"]
    # an edit that drops the mention drops the notification; one that adds it raises it again
    edited = await ok(
        await client.patch(f"/rooms/{room['id']}/messages/{sent['id']}", json={"content": "hi all"},
                           headers=alice.headers)
    )  # fmt: skip
    assert "mentions" not in edited
    mention_carol = f"hi @{carol.username}"
    carol_ws = await connect(client, carol)
    await ok(
        await client.patch(f"/rooms/{room['id']}/messages/{sent['id']}", json={"content": mention_carol},
                           headers=alice.headers)
    )  # fmt: skip
    assert (await notification(carol_ws, sent["id"]))["reason"] == "mention"
    assert await notifications(client, bob) == []
    for ws in (in_room, elsewhere, carol_ws):
        await ws.close()


async def test_reading_notifications_one_or_all_and_reading_the_room_clear_the_count(client: Client) -> None:
    alice, bob = await signup(client), await signup(client)
    room = await make_room(client, alice, members=[str(bob.id)])
    first = await post(client, alice, room["id"], f"@{bob.username} one")
    second = await post(client, alice, room["id"], f"@{bob.username} two")
    third = await post(client, alice, room["id"], f"@{bob.username} three")
    ws = await connect(client, bob)
    await listed(client, bob, 3)
    await ok(await client.post(f"/notifications/{first['id']}/read", json={}, headers=bob.headers), 204)
    unread = await notifications(client, bob, unread="true")
    assert [n["message_id"] for n in unread] == [third["id"], second["id"]]
    page = await get(client, bob, "/notifications", limit="1")
    assert [n["message_id"] for n in page["notifications"]] == [third["id"]]
    rest = await get(client, bob, "/notifications", cursor=page["next_cursor"])
    assert [n["message_id"] for n in rest["notifications"]] == [second["id"], first["id"]]
    await ok(await client.post(f"/rooms/{room['id']}/read", json={"message_id": second["id"]}, headers=bob.headers))
    await ok(await client.post("/notifications/read", json={}, headers=bob.headers), 204)
    rooms = {r["id"]: r for r in (await get(client, bob, "/rooms"))["rooms"]}
    assert rooms[room["id"]]["mention_count"] == 0
    assert await notifications(client, bob, unread="true") == []
    await refused(client, client.post("/notifications/999999/read", json={}, headers=bob.headers), 404)
    await ws.close()


async def test_room_and_here_mentions_respect_roles_and_presence(client: Client) -> None:
    owner, member, online, offline = [await signup(client) for _ in range(4)]
    room = await make_room(client, owner, members=[str(member.id), str(online.id), str(offline.id)])
    ws = await connect(client, online)
    by_member = await post(client, member, room["id"], "@room lunch?")
    assert "mentions" not in by_member  # members may not call @room unless the room allows it
    here = await post(client, owner, room["id"], "@here standup")
    assert here["mentions"] == [{"kind": "here", "offset": 0, "length": 5}]
    assert (await notification(ws, here["id"]))["reason"] == "here"
    everyone = await post(client, owner, room["id"], "@room fire drill")
    assert (await notification(ws, everyone["id"]))["reason"] == "room"
    assert [n["message_id"] for n in await notifications(client, offline)] == [everyone["id"]]
    await ok(
        await client.patch(f"/rooms/{room['id']}/settings", json={"room_mentions": "members"}, headers=owner.headers)
    )
    allowed = await post(client, member, room["id"], "@room cake!")
    assert allowed["mentions"][0]["kind"] == "room"
    await refused(
        client, client.patch(f"/rooms/{room['id']}/settings", json={"room_mentions": "admins"},
                             headers=member.headers), 403
    )  # fmt: skip
    await ws.close()


async def test_muted_rooms_count_nothing_and_do_not_disturb_keeps_but_does_not_push(client: Client) -> None:
    alice, bob = await signup(client), await signup(client)
    room = await make_room(client, alice, members=[str(bob.id)])
    ws = await connect(client, bob)
    level = {"level": "muted"}
    await ok(await client.put(f"/rooms/{room['id']}/notifications", json=level, headers=bob.headers))
    assert (await get(client, bob, f"/rooms/{room['id']}/notifications"))["level"] == "muted"
    muted = await post(client, alice, room["id"], f"@{bob.username} hello?")
    await ok(await client.put(f"/rooms/{room['id']}/notifications", json={"level": "all"}, headers=bob.headers))
    dnd = await ok(await client.put("/me/dnd", json={"enabled": True}, headers=bob.headers))
    assert dnd == {"enabled": True, "until": None}
    quiet = await post(client, alice, room["id"], "while you rest")
    await ok(await client.put("/me/dnd", json={"enabled": False}, headers=bob.headers))
    loud = await post(client, alice, room["id"], "back?")
    seen: list[int] = []

    def pushed(f: dict[str, Any]) -> bool:
        if f["type"] != "notification":
            return False
        seen.append(f["notification"]["message_id"])
        return bool(f["notification"]["message_id"] == loud["id"])

    await until(ws, pushed)
    assert seen == [loud["id"]]  # neither the muted mention nor the one during do-not-disturb was pushed
    kept = [n["message_id"] for n in await notifications(client, bob)]
    assert kept == [loud["id"], quiet["id"]]  # do-not-disturb keeps it; mute never made it
    assert muted["id"] not in kept
    await ws.close()


# --- blocking --------------------------------------------------------------------------------------------
async def test_blocking_stops_dms_and_notifications_and_hides_from_search_and_history(client: Client) -> None:
    alice, pest = await signup(client, "blocker_alice"), await signup(client, "blocked_pest")
    room = await make_room(client, pest, members=[str(alice.id)])
    await ok(await client.put(f"/users/{pest.id}/block", json={}, headers=alice.headers), 204)
    assert [b["user_id"] for b in (await get(client, alice, "/me/blocks"))["blocks"]] == [str(pest.id)]
    await refused(client, client.post("/dms", json={"user_id": str(alice.id)}, headers=pest.headers), 403, "blocked")
    await refused(client, client.post("/dms", json={"user_id": str(pest.id)}, headers=alice.headers), 403, "blocked")
    found = await get(client, alice, "/users/search", q="blocked_")
    assert found["results"] == []
    nagging = await post(client, pest, room["id"], f"@{alice.username} look at me")
    polite = await signup(client)
    await ok(await client.post(f"/rooms/{room['id']}/join", json={}, headers=polite.headers))
    nice = await post(client, polite, room["id"], f"@{alice.username} hi")
    # notifications follow the log in order: once the later one is there, the earlier was decided
    assert [n["message_id"] for n in await listed(client, alice, 1)] == [nice["id"]]
    hidden = await get(client, alice, f"/rooms/{room['id']}/messages", hide_blocked="true")
    assert nagging["id"] not in [m["id"] for m in hidden["messages"]]
    shown = await get(client, alice, f"/rooms/{room['id']}/messages")
    assert nagging["id"] in [m["id"] for m in shown["messages"]]
    await ok(await client.delete(f"/users/{pest.id}/block", headers=alice.headers), 204)
    assert (await get(client, alice, "/users/search", q="blocked_"))["results"][0]["id"] == str(pest.id)


# --- access ----------------------------------------------------------------------------------------------
async def test_notifications_are_the_recipient_s_alone_and_go_when_they_leave_the_room(client: Client) -> None:
    alice, bob, carol = await signup(client), await signup(client), await signup(client)
    room = await make_room(client, alice, "private", members=[str(bob.id)])
    sent = await post(client, alice, room["id"], f"@{bob.username} secret plan")
    assert [n["message_id"] for n in await listed(client, bob, 1)] == [sent["id"]]
    db = client.app[DB]
    for outsider in (carol.id, alice.id, None):  # row-level security, whatever the query asks
        async with db.read(outsider) as cur:
            await cur.execute("SELECT count(*) FROM notifications")
            assert (await cur.fetchone())[0] == 0
    await ok(await client.post(f"/rooms/{room['id']}/leave", json={}, headers=bob.headers), 204)
    later = await post(client, alice, room["id"], "after bob left")
    other = await make_room(client, alice, members=[str(bob.id)])
    marker = await post(client, alice, other["id"], f"@{bob.username} still here?")
    assert [n["message_id"] for n in await listed(client, bob, 1)] == [marker["id"]]
    async with db.cursor() as cur:  # as the owner: the rows themselves are gone, not just hidden
        await cur.execute("SELECT message_id FROM notifications WHERE user_id = %s", (bob.id,))
        assert [r[0] for r in await cur.fetchall()] == [marker["id"]]
    assert later["id"] not in [n["message_id"] for n in await notifications(client, bob)]


async def test_a_socket_asking_for_it_gets_no_frames_of_users_the_caller_blocked(client: Client) -> None:
    alice, pest, friend = await signup(client), await signup(client), await signup(client)
    room = await make_room(client, alice, members=[str(pest.id), str(friend.id)])
    early = await post(client, pest, room["id"], "before the block")
    await ok(await client.put(f"/users/{pest.id}/block", json={}, headers=alice.headers), 204)
    ws = await connect(client, alice, room["id"], hide_blocked="true", since=early["id"] - 1)
    during = await post(client, pest, room["id"], "you cannot hear me")
    fine = await post(client, friend, room["id"], "hello alice")
    seen: list[int] = []

    def message(f: dict[str, Any]) -> bool:
        if f["type"] == "message":
            seen.append(f["id"])
        return bool(f["type"] == "message" and f["id"] == fine["id"])

    await until(ws, message)
    assert during["id"] not in seen
    assert early["id"] not in seen  # the resume replay is filtered as well
    plain = await connect(client, alice, room["id"])  # without asking, everything comes
    again = await post(client, pest, room["id"], "still here")
    assert (await until(plain, lambda f: f["type"] == "message"))["id"] == again["id"]
    await ws.close()
    await plain.close()


async def test_erasure_takes_the_profile_the_status_and_the_notifications_of_a_user(client: Client) -> None:
    from test_erasure import erasure

    alice, bob = await signup(client), await signup(client, display_name="Bob Real-Name")
    await ok(await client.put("/me/status", json={"text": "at home"}, headers=bob.headers))
    room = await make_room(client, alice, members=[str(bob.id)])
    mention = await post(client, bob, room["id"], f"@{alice.username} call me")
    assert [n["message_id"] for n in await listed(client, alice, 1)] == [mention["id"]]
    await erasure(client).erase(bob.username)
    await refused(client, client.get(f"/users/{bob.id}", headers=alice.headers), 404)
    assert (await get(client, alice, "/users/search", q=bob.username))["results"] == []
    detail = await get(client, alice, f"/rooms/{room['id']}")
    assert str(bob.id) not in detail["users"]
    loop = asyncio.get_running_loop()
    deadline = loop.time() + 10
    while await notifications(client, alice):  # the follower applies the erasure a moment later
        assert loop.time() < deadline, "the erased user's notification stayed"
        await asyncio.sleep(0.02)
    async with client.app[DB].cursor() as cur:
        await cur.execute("SELECT username, display_name, status_text FROM user_profiles WHERE user_id = %s", (bob.id,))
        username, display_name, status = await cur.fetchone()
    assert (display_name, status) == ("deleted user", None)
    assert bob.username not in username
