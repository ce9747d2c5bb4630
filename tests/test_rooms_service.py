"""Rooms and membership as the service layer sees them, and row-level security underneath."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Iterable
from typing import Any
from uuid import UUID

import psycopg2
import pytest

from gochat.db import Database
from gochat.errors import Conflict, Forbidden, NotFound, ValidationFailed
from gochat.events import EventStore
from gochat.projections import rooms as q
from gochat.services.access import room_access
from gochat.services.rooms import RoomService


async def everyone_exists(ids: Iterable[UUID]) -> set[UUID]:
    return set(ids)


@pytest.fixture
def rooms(db: Database, store: EventStore) -> RoomService:
    return RoomService(db, store, everyone_exists)


def users(n: int) -> list[UUID]:
    return [uuid.uuid4() for _ in range(n)]


async def test_creator_owns_a_new_public_room_and_others_join(rooms: RoomService, db: Database) -> None:
    alice, bob = users(2)
    room, created = await rooms.create(alice, name="General", type_="public", topic="hi")
    assert created
    assert (room["name"], room["type"], room["topic"], room["member_count"]) == ("General", "public", "hi", 1)
    await rooms.join(bob, room["id"])
    await rooms.join(bob, room["id"])  # joining twice is a no-op
    async with db.read(alice) as cur:
        members = {m["user_id"]: m["role"] for m in await q.list_members(cur, room["id"])}
    assert members == {alice: "owner", bob: "member"}
    assert (await rooms._room(alice, room["id"]))["member_count"] == 2


async def with_members(rooms: RoomService, owner: UUID, type_: str, members: list[UUID]) -> dict[str, Any]:
    """A room with `members` who accepted their invitations."""
    room, _ = await rooms.create(owner, name="Room", type_=type_, members=members)
    for member in members:
        await rooms.accept(member, room["id"])
    return room


async def test_private_rooms_are_invisible_to_outsiders(rooms: RoomService, db: Database) -> None:
    alice, bob, eve = users(3)
    room = await with_members(rooms, alice, "private", [bob])
    with pytest.raises(NotFound):
        await room_access(db, eve, room["id"])
    with pytest.raises(NotFound):
        await rooms.join(eve, room["id"])
    assert (await room_access(db, bob, room["id"])).can_post


@pytest.mark.parametrize("type_", ["public", "private"])
async def test_members_named_at_creation_are_invited_not_joined(
    rooms: RoomService, db: Database, store: EventStore, type_: str
) -> None:
    alice, bob, carol = users(3)
    room, _ = await rooms.create(alice, name="Room", type_=type_, members=[bob, carol])
    assert room["member_count"] == 1
    log = await store.read_stream(room["id"])
    assert sorted((e.type, e.data["user_id"]) for e in log if e.type.startswith("member.")) == sorted(
        [("member.joined", str(alice)), ("member.invited", str(bob)), ("member.invited", str(carol))]
    )
    for who in (bob, carol):
        acc = await room_access(db, who, room["id"])
        assert (acc.state, acc.can_post) == ("invited", False)
        async with db.read(who) as cur:
            assert room["id"] not in await q.joined_room_ids(cur, who)
    assert [i["room"]["id"] for i in await rooms.invitations(bob)] == [room["id"]]
    assert (await rooms.invitations(bob))[0]["invited_by"] == alice
    await rooms.accept(bob, room["id"])
    await rooms.decline(carol, room["id"])
    assert (await room_access(db, bob, room["id"])).joined
    if type_ == "public":
        assert (await room_access(db, carol, room["id"])).state is None
    else:  # declined, a private room is unknown to her again
        with pytest.raises(NotFound):
            await room_access(db, carol, room["id"])
    assert await rooms.invitations(bob) == await rooms.invitations(carol) == []
    with pytest.raises(NotFound):  # nothing left to accept or decline
        await rooms.accept(carol, room["id"])
    with pytest.raises(NotFound):
        await rooms.decline(bob, room["id"])
    assert [e.type for e in await store.read_stream(room["id"])][-2:] == ["member.joined", "member.declined"]


async def test_group_members_are_joined_at_once(rooms: RoomService, db: Database) -> None:
    alice, bob = users(2)
    room, _ = await rooms.create(alice, name="DM", type_="group", members=[bob])
    assert (await room_access(db, bob, room["id"])).joined
    assert await rooms.invitations(bob) == []


async def test_invited_users_can_see_then_join_a_private_room(rooms: RoomService, db: Database) -> None:
    alice, bob = users(2)
    room, _ = await rooms.create(alice, name="Secret", type_="private")
    assert await rooms.add_member(alice, room["id"], bob) == "invited"
    assert await rooms.add_member(alice, room["id"], bob) == "invited"  # once
    acc = await room_access(db, bob, room["id"])
    assert (acc.state, acc.can_read) == ("invited", False)
    await rooms.join(bob, room["id"])  # joining accepts, as PROTOCOL.md says
    assert (await room_access(db, bob, room["id"])).can_read
    assert await rooms.add_member(alice, room["id"], bob) == "joined"


async def test_only_admins_invite_to_private_rooms_and_any_member_to_public_ones(rooms: RoomService) -> None:
    alice, bob, carol, dave = users(4)
    room = await with_members(rooms, alice, "private", [bob])
    with pytest.raises(Forbidden):
        await rooms.add_member(bob, room["id"], carol)
    await rooms.set_role(alice, room["id"], bob, "admin")
    assert await rooms.add_member(bob, room["id"], carol) == "invited"
    town = await with_members(rooms, alice, "public", [bob])
    assert await rooms.add_member(bob, town["id"], dave) == "invited"


async def test_kick_and_ban_take_effect_and_respect_rank(rooms: RoomService, db: Database) -> None:
    alice, bob, carol = users(3)
    room = await with_members(rooms, alice, "public", [bob, carol])
    with pytest.raises(Forbidden):
        await rooms.kick(bob, room["id"], carol)  # a member is no moderator
    await rooms.set_role(alice, room["id"], bob, "admin")
    with pytest.raises(Forbidden):
        await rooms.kick(bob, room["id"], alice)  # an admin cannot kick the owner
    await rooms.kick(bob, room["id"], carol)
    assert not (await room_access(db, carol, room["id"])).joined
    await rooms.ban(alice, room["id"], carol, "spam")
    with pytest.raises(Forbidden):
        await rooms.join(carol, room["id"])
    assert not (await room_access(db, carol, room["id"])).can_read
    await rooms.unban(alice, room["id"], carol)
    await rooms.join(carol, room["id"])


async def test_a_group_with_the_same_members_is_the_same_room(rooms: RoomService) -> None:
    alice, bob = users(2)
    first, created = await rooms.create(alice, name="DM", type_="group", members=[bob])
    again, created_again = await rooms.create(bob, name="DM again", type_="group", members=[alice])
    assert created
    assert not created_again
    assert again["id"] == first["id"]
    with pytest.raises(ValidationFailed):
        await rooms.create(alice, name="alone", type_="group")


async def test_racing_group_creations_make_one_room(rooms: RoomService) -> None:
    alice, bob = users(2)
    results = await asyncio.gather(*(rooms.create(alice, name="DM", type_="group", members=[bob]) for _ in range(5)))
    assert len({r["id"] for r, _ in results}) == 1
    assert sum(created for _, created in results) == 1


async def test_the_last_owner_leaving_hands_the_room_on(rooms: RoomService, db: Database) -> None:
    alice, bob, carol = users(3)
    room = await with_members(rooms, alice, "public", [bob, carol])
    await rooms.set_role(alice, room["id"], carol, "admin")
    await rooms.leave(alice, room["id"])
    assert (await room_access(db, carol, room["id"])).role == "owner"
    with pytest.raises(Conflict):
        await rooms.leave(alice, room["id"])


async def test_unknown_users_cannot_be_added(db: Database, store: EventStore) -> None:
    async def nobody(ids: Iterable[UUID]) -> set[UUID]:
        return set()

    service = RoomService(db, store, nobody)
    head = await store.head()
    with pytest.raises(ValidationFailed):
        await service.create(uuid.uuid4(), name="x", type_="public", members=[uuid.uuid4()])
    assert await store.head() == head


# --- row-level security ---------------------------------------------------------------------------
ROOM_SCOPED = ("rooms", "memberships")


async def test_room_scoped_tables_force_row_level_security(db: Database) -> None:
    async with db.cursor() as cur:
        await cur.execute(
            "SELECT relname, relrowsecurity, relforcerowsecurity FROM pg_class WHERE relname = ANY(%s)",
            (list(ROOM_SCOPED),),
        )
        rows = {r[0]: (r[1], r[2]) for r in await cur.fetchall()}
        await cur.execute("SELECT rolsuper, rolbypassrls FROM pg_roles WHERE rolname = 'gochat_app'")
        role = await cur.fetchone()
    assert rows == dict.fromkeys(ROOM_SCOPED, (True, True))
    assert role == (False, False)


async def test_a_query_without_a_membership_filter_still_sees_no_foreign_rows(rooms: RoomService, db: Database) -> None:
    alice, bob = users(2)
    secret, _ = await rooms.create(alice, name="Secret", type_="private")
    mine, _ = await rooms.create(bob, name="Mine", type_="private")
    public, _ = await rooms.create(alice, name="Lobby", type_="public")
    async with db.read(bob) as cur:
        await cur.execute("SELECT id FROM rooms")
        visible = {r[0] for r in await cur.fetchall()}
        await cur.execute("SELECT DISTINCT room_id FROM memberships")
        member_rooms = {r[0] for r in await cur.fetchall()}
    assert visible == {mine["id"], public["id"]}
    assert secret["id"] not in member_rooms
    async with db.read(None) as cur:  # no user set: nothing at all
        await cur.execute("SELECT count(*) FROM rooms")
        assert (await cur.fetchone())[0] == 0


async def test_the_app_role_cannot_write_projections(db: Database) -> None:
    with pytest.raises(psycopg2.Error):
        async with db.read(uuid.uuid4()) as cur:
            await cur.execute("DELETE FROM rooms")
