"""Time travel: `GET /rooms/:id/state?at=` shows a room as it was at a past position or time,
built from the log by the projections' own rules; and it equals the live projections at every
position checked."""

from __future__ import annotations

import uuid
from typing import Any

import pytest
from helpers import signup
from room_helpers import make_room, ok, post, refused
from test_erasure import erase
from test_projection_equivalence import RandomLog

from gochat.db import Database
from gochat.events import EventStore, NewEvent, build_registry
from gochat.keys import STORE
from gochat.projections import asof
from gochat.projections.catalog import all_projections
from gochat.projections.engine import InlineProjections
from gochat.projections.history import COLUMNS, REACTIONS, message_row
from gochat.projections.rooms import list_members


def state_url(room: str, at: Any, **query: Any) -> str:
    extra = "".join(f"&{k}={v}" for k, v in query.items())
    return f"/rooms/{room}/state?at={at}{extra}"


async def head(client: Any) -> int:
    return int(await client.app[STORE].head())


async def test_a_room_as_it_was_then_and_as_it_is_now(client: Any) -> None:
    alice, bob, carol = await signup(client), await signup(client), await signup(client)
    room = (await make_room(client, alice, "public", name="Before", topic="old topic"))["id"]
    await ok(await client.post(f"/rooms/{room}/join", json={}, headers=bob.headers))
    first = await post(client, alice, room, "first")
    second = await post(client, bob, room, "second")
    await ok(await client.put(f"/rooms/{room}/messages/{first['id']}/reactions/👍", headers=bob.headers))
    then = await head(client)

    await ok(await client.patch(f"/rooms/{room}", json={"name": "After", "topic": "new"}, headers=alice.headers))
    await ok(
        await client.patch(f"/rooms/{room}/messages/{first['id']}", json={"content": "first!"}, headers=alice.headers)
    )
    await ok(await client.delete(f"/rooms/{room}/messages/{second['id']}", headers=alice.headers), 204)
    await ok(await client.post(f"/rooms/{room}/leave", json={}, headers=bob.headers), 204)
    await ok(await client.post(f"/rooms/{room}/join", json={}, headers=carol.headers))
    await post(client, alice, room, "third")

    past = await ok(await client.get(state_url(room, then), headers=alice.headers))
    assert past["room"] == {"id": room, "name": "Before", "topic": "old topic", "type": "public"}
    assert [(m["user_id"], m["role"]) for m in past["members"]] == [(str(alice.id), "owner"), (str(bob.id), "member")]
    assert [(m["content"], m.get("deleted"), m.get("edited_at")) for m in past["messages"]] == [
        ("first", None, None),
        ("second", None, None),  # deleted since: an admin sees it as it was
    ]
    assert past["messages"][0]["reactions"] == [{"emoji": "👍", "count": 1, "me": False}]
    assert past["at"]["id"] == then
    assert past["has_more"] is False

    # at the head, the past is the present: the same members and messages the live routes serve
    now = await ok(await client.get(state_url(room, await head(client)), headers=alice.headers))
    live_room = await ok(await client.get(f"/rooms/{room}", headers=alice.headers))
    live_messages = await ok(await client.get(f"/rooms/{room}/messages", headers=alice.headers))
    assert now["room"]["name"] == live_room["name"] == "After"
    assert now["members"] == live_room["members"]
    assert now["messages"] == live_messages["messages"]


async def test_at_a_time_is_the_rooms_last_event_recorded_by_then(client: Any) -> None:
    alice = await signup(client)
    room = (await make_room(client, alice))["id"]
    hello = await post(client, alice, room, "hello")
    await post(client, alice, room, "later")
    past = await ok(await client.get(f"/rooms/{room}/state", params={"at": hello["timestamp"]}, headers=alice.headers))
    assert past["at"] == {"id": hello["id"], "timestamp": hello["timestamp"]}
    assert [m["content"] for m in past["messages"]] == ["hello"]


async def test_pages_of_messages_go_back_with_before(client: Any) -> None:
    alice = await signup(client)
    room = (await make_room(client, alice))["id"]
    ids = [(await post(client, alice, room, f"m{i}"))["id"] for i in range(5)]
    at = await head(client)
    newest = await ok(await client.get(state_url(room, at, limit=2), headers=alice.headers))
    assert ([m["id"] for m in newest["messages"]], newest["has_more"]) == (ids[3:], True)
    older = await ok(await client.get(state_url(room, at, limit=2, before=ids[3]), headers=alice.headers))
    assert ([m["id"] for m in older["messages"]], older["has_more"]) == (ids[1:3], True)
    oldest = await ok(await client.get(state_url(room, at, limit=2, before=ids[1]), headers=alice.headers))
    assert ([m["id"] for m in oldest["messages"]], oldest["has_more"]) == (ids[:1], False)


@pytest.mark.parametrize(
    ("at", "reason"),
    [
        ("yesterday", "Neither a log position nor an RFC 3339 time."),
        ("", "Missing."),
        ("0", "Must be between 1 and 9223372036854775807."),
        ("999999", "No event at that position."),
        ("2001-01-01T00:00:00Z", "Before the room existed."),
    ],
)
async def test_a_bad_at_is_a_422(client: Any, at: str, reason: str) -> None:
    alice = await signup(client)
    room = (await make_room(client, alice))["id"]
    body = await refused(client, client.get(f"/rooms/{room}/state", params={"at": at}, headers=alice.headers), 422)
    assert body["error"]["details"] == {"at": [reason]}


async def test_a_position_before_the_room_was_created_is_a_422(client: Any) -> None:
    alice = await signup(client)
    before = await head(client)
    room = (await make_room(client, alice))["id"]
    body = await refused(client, client.get(state_url(room, before), headers=alice.headers), 422)
    assert body["error"]["details"] == {"at": ["Before the room existed."]}


async def test_only_admins_and_owners_of_the_room_now(client: Any) -> None:
    alice, bob, eve = await signup(client), await signup(client), await signup(client)
    public = (await make_room(client, alice, "public"))["id"]
    private = (await make_room(client, alice, "private", members=[bob]))["id"]
    at = await head(client)
    await refused(client, client.get(state_url(private, at), headers=bob.headers), 403, "not_an_admin")
    await refused(client, client.get(state_url(private, at), headers=eve.headers), 404)
    await refused(client, client.get(state_url(public, at), headers=eve.headers), 403, "not_an_admin")
    await ok(await client.put(f"/rooms/{private}/members/{bob.id}/role", json={"role": "admin"}, headers=alice.headers))
    await ok(await client.get(state_url(private, at), headers=bob.headers))


async def test_what_an_erased_user_wrote_stays_blank_in_the_past(client: Any) -> None:
    alice, bob = await signup(client), await signup(client)
    room = (await make_room(client, alice, "public"))["id"]
    await ok(await client.post(f"/rooms/{room}/join", json={}, headers=bob.headers))
    said = await post(client, bob, room, "bob was here")
    then = await head(client)
    await erase(client, user_id=bob.id)
    past = await ok(await client.get(state_url(room, then), headers=alice.headers))
    assert [(m["id"], m["content"]) for m in past["messages"]] == [(said["id"], "")]
    assert str(bob.id) in [m["user_id"] for m in past["members"]]  # then, he was a member
    now = await ok(await client.get(state_url(room, await head(client)), headers=alice.headers))
    assert [m["user_id"] for m in now["members"]] == [str(alice.id)]
    assert now["messages"][0]["deleted"] is True


# --- time travel equals the projections -----------------------------------------------------------------
async def live_room(db: Database, room_id: uuid.UUID, viewer: uuid.UUID) -> tuple[Any, ...] | None:
    async with db.transaction() as cur:
        await cur.execute("SELECT name, topic, type FROM rooms WHERE id = %s", (room_id,))
        found = await cur.fetchone()
        if found is None:
            return None
        members = await list_members(cur, room_id)
        await cur.execute(
            f"SELECT {COLUMNS}, {REACTIONS} FROM messages m WHERE m.room_id = %(room)s ORDER BY m.id DESC LIMIT 100",
            {"room": room_id, "viewer": viewer},
        )
        messages = [message_row(r) for r in reversed(await cur.fetchall())]
    return tuple(found), members, messages


async def folded_room(
    db: Database, store: EventStore, room_id: uuid.UUID, at: int, viewer: uuid.UUID
) -> tuple[Any, ...] | None:
    async with db.cursor() as cur:
        room = await asof.room_at(cur, store, room_id, at, {})
        if room is None:
            return None
        messages, _ = await asof.messages_at(cur, store, room_id, at, {}, viewer, before=None, limit=100)
    return (room.name, room.topic, room.type), room.joined(), messages


@pytest.mark.parametrize("seed", [21, 22])
async def test_the_room_at_any_position_equals_the_projections_then(seed: int, store: EventStore, db: Database) -> None:
    log = RandomLog(seed)
    viewer = log.users[0]
    snapshots: dict[int, dict[uuid.UUID, Any]] = {}
    for i in range(1, 1001):
        event = log.next_event()
        log.appended(event, (await store.append_one(event)).event.id)
        if i % 125 == 0:
            snapshots[i] = {r.id: await live_room(db, r.id, viewer) for r in log.rooms}
    compared = 0
    for position, rooms in snapshots.items():
        for room_id, live in rooms.items():
            assert await folded_room(db, store, room_id, position, viewer) == live, f"room {room_id} at {position}"
            compared += live is not None and len(live[2]) > 0
    assert compared > 10


async def test_the_past_page_is_projected_apart_from_the_live_tables_on_a_shared_connection(
    database_url: str,
) -> None:
    """One connection for the writer and time travel: PL/pgSQL keeps plans per connection, and the
    past page, projected by the same functions into scratch tables, must neither read nor write the
    live ones, before or after."""
    db = await Database.connect(database_url, minsize=1, maxsize=1)
    store = EventStore(db, build_registry(), node_id="test")
    store.inline.append(InlineProjections(store, all_projections()))
    store.start()
    try:
        author, room = uuid.uuid4(), uuid.uuid4()
        await store.append(
            NewEvent("room.created", room, {"name": "r", "type": "public"}, actor_id=author),
            NewEvent("member.joined", room, {"user_id": str(author), "role": "owner"}, actor_id=author),
        )
        first = (await store.append_one(NewEvent("message.posted", room, {"content": "one"}, actor_id=author))).event
        # by its author, as services/messages.py appends every edit (history takes no one else's)
        edit = {"message_id": first.id, "content": "uno"}
        await store.append_one(NewEvent("message.edited", room, edit, actor_id=author))
        async with db.cursor() as cur:
            past, _ = await asof.messages_at(cur, store, room, first.id, {}, author, before=None, limit=10)
        second = (await store.append_one(NewEvent("message.posted", room, {"content": "two"}, actor_id=author))).event
        async with db.cursor() as cur:
            await cur.execute("SELECT id, content FROM messages WHERE room_id = %s ORDER BY id", (room,))
            live = await cur.fetchall()
            await cur.execute("SELECT count(*) FROM pg_namespace WHERE nspname LIKE 'gochat_asof_%%'")
            scratch_left = (await cur.fetchone())[0]
    finally:
        await store.close()
        await db.close()
    assert [(m.id, m.content, m.edited_at) for m in past] == [(first.id, "one", None)]
    assert live == [(first.id, "uno"), (second.id, "two")]
    assert scratch_left == 0
