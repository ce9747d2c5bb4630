"""Issue #18: people who signed up before the people projection and skeletons existed. A database
made by a gochat of then (its migrations before 150, a log whose `user.registered` events carry no
skeleton) is upgraded: its users are found in the directory, and their names, and bots' made before
bots were checked, refuse look-alike signups, durably (the skeletons are in the log, so a rebuild
keeps them)."""

from __future__ import annotations

import asyncio
import dataclasses
import uuid
from collections.abc import AsyncIterator
from typing import Any

import pytest
from helpers import signup
from test_projection_equivalence import copy_keys, copy_log

from gochat import migrations
from gochat.app import create_app
from gochat.auth.confusables import skeleton
from gochat.auth.names import normalize_username, username_stream
from gochat.db import Database
from gochat.events import EventStore, NewEvent
from gochat.events.types import EventType
from gochat.keys import DB, STORE
from gochat.projections.catalog import all_projections
from gochat.projections.rebuild import Rebuild, target
from gochat.services.skeletons import record_missing_skeletons
from gochat.settings import Settings

BEFORE_PEOPLE = 150  # sql/migrations/150_people.sql: user_profiles and skeletons begin


@pytest.fixture
async def old_database(pg_cluster: Any) -> AsyncIterator[str]:
    """A database as a gochat from before the people projection left it: migrations below 150
    applied, nothing else."""
    dsn = pg_cluster.new_database(migrated=False)
    db = await Database.connect(dsn, minsize=1, maxsize=2)
    try:
        async with db.transaction() as cur:
            await cur.execute(
                "CREATE TABLE schema_migrations (version integer PRIMARY KEY, name text NOT NULL,"
                " applied_at timestamptz NOT NULL DEFAULT now(), checksum text)"
            )
            for m in migrations.load_migrations():
                if m.version < BEFORE_PEOPLE:
                    await cur.execute(m.sql)
                    await cur.execute(
                        "INSERT INTO schema_migrations (version, name, checksum) VALUES (%s, %s, %s)",
                        (m.version, m.name, m.checksum),
                    )
    finally:
        await db.close()
    yield dsn
    pg_cluster.drop(dsn)


def registered_then(name: str, user_id: uuid.UUID, actor: uuid.UUID | None = None) -> list[NewEvent]:
    """A signup as gochat wrote it before skeletons: the name claimed, `user.registered` without one."""
    norm = normalize_username(name)
    data = {"username": name, "username_norm": norm, "display_name": name.title()}
    return [
        NewEvent(EventType.USERNAME_CLAIMED, username_stream(norm), {"user_id": str(user_id)}, actor_id=actor),
        NewEvent(EventType.USER_REGISTERED, user_id, data, actor_id=actor),
    ]


async def skeletons(db: Database) -> dict[uuid.UUID, str | None]:
    async with db.cursor() as cur:
        await cur.execute("SELECT user_id, username_skeleton FROM user_profiles")
        return dict(await cur.fetchall())


async def test_an_upgraded_database_finds_and_protects_the_people_it_had(
    old_database: str, db: Database, store: EventStore, aiohttp_client: Any, settings: Settings
) -> None:
    tag = uuid.uuid4().hex[:6]
    helen, bot, room = uuid.uuid4(), uuid.uuid4(), uuid.uuid4()
    # The old log, written where today's store can write it, then copied into the old database.
    await store.append(*registered_then(f"helen{tag}", helen, helen))
    await store.append(*registered_then(f"relaybot{tag}", bot, helen))
    await store.append(NewEvent(EventType.BOT_CREATED, bot, {"created_by": str(helen), "room_id": None}))
    await store.append(
        NewEvent(EventType.ROOM_CREATED, room, {"name": "lobby", "type": "public", "topic": ""}, actor_id=helen),
        NewEvent(EventType.MEMBER_JOINED, room, {"user_id": str(helen), "role": "owner"}, actor_id=helen),
    )
    old = await Database.connect(old_database, minsize=1, maxsize=4)
    try:
        await copy_log(db, old)
        assert await old.fetchval("SELECT to_regclass('user_profiles')") is None
        applied = {m.version for m in await migrations.migrate(old)}
        assert {150, 152} <= applied
        await copy_keys(db, old)  # today's store sealed the names under these (events/sealing.py)
    finally:
        await old.close()

    # A server starts on it: the people projection catches up from the log, the skeletons are recorded.
    client = await aiohttp_client(create_app(dataclasses.replace(settings, database_url=old_database)))
    upgraded: Database = client.app[DB]
    recorded = await skeletons(upgraded)
    assert (recorded[helen], recorded[bot]) == (skeleton(f"helen{tag}"), skeleton(f"relaybot{tag}"))
    # read through the store: the log holds them sealed under each user's key (events/sealing.py)
    recorded_events = await client.app[STORE].read_all(limit=10_000, types=[EventType.USER_SKELETON_SET])
    assert {e.stream_id: e.data["username_skeleton"] for e in recorded_events} == {
        helen: recorded[helen],
        bot: recorded[bot],
    }

    newcomer = await signup(client)
    found = await (await client.get("/users/search", params={"q": f"helen{tag}"}, headers=newcomer.headers)).json()
    assert [u["id"] for u in found["results"]] == [str(helen)]
    for lookalike in (f"he1en{tag}", f"HELEN{tag}".replace("L", "I"), f"re1aybot{tag}"):
        refused = await client.post("/auth/signup", json={"username": lookalike, "password": "x" * 12})
        assert (refused.status, (await refused.json())["error"]["code"]) == (409, "username_confusable"), lookalike
    # A newcomer's name is recorded at signup: nothing more to record, and a second start appends nothing.
    assert await record_missing_skeletons(upgraded, client.app[STORE]) == 0
    # The skeletons are in the log: rebuilding the projection from it keeps them.
    await Rebuild(upgraded, client.app[STORE], target(all_projections(), "people")).run()
    assert await skeletons(upgraded) == {**recorded, newcomer.id: skeleton(newcomer.username)}


async def test_nodes_starting_together_record_each_skeleton_once(db: Database, store: EventStore) -> None:
    users = [uuid.uuid4() for _ in range(7)]
    for n, user in enumerate(users):
        await store.append(*registered_then(f"old{n}_{uuid.uuid4().hex[:6]}", user, user))
    # two nodes' start-ups at once (pages of 3: several appends each, racing page by page)
    first, second = await asyncio.gather(
        record_missing_skeletons(db, store, page=3), record_missing_skeletons(db, store, page=3)
    )
    assert first + second == len(users)
    async with db.cursor() as cur:
        await cur.execute("SELECT stream_id FROM events WHERE type = %s", (EventType.USER_SKELETON_SET.value,))
        assert sorted(r[0] for r in await cur.fetchall()) == sorted(users)
    assert all(skel is not None for skel in (await skeletons(db)).values())
