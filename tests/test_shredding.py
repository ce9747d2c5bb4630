"""Crypto-shredding: each user's personal content is sealed in the log under a key of theirs, every
reader sees it opened, and erasure destroys the keys: afterwards no table, no dump and no reader
holds what the user wrote, while the log still replays to the same projections."""

from __future__ import annotations

import ast
import asyncio
import base64
import os
import subprocess
import uuid
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

import orjson
import pytest
from aiohttp import web
from conftest import FreshDb, run_cli
from file_helpers import image_bytes
from helpers import signup
from room_helpers import head, make_room, ok, post
from test_erasure import erase, wait_for
from test_previews import page, preview_settings, previewed
from test_projection_equivalence import EveryTypeLog, RandomLog
from test_projections_ops import rebuilt_from_zero, settled

import gochat
from gochat.app import create_app
from gochat.db import Database, DatabaseError
from gochat.e2e.store import Device
from gochat.e2e.store import KeyStore as DeviceKeys
from gochat.events import EventStore, NewEvent, build_registry
from gochat.events.keystore import UNWRAPPED, LocalKeks, MissingKey, TableKeyStore, kek_id
from gochat.events.scan import LogFilter, LogScan
from gochat.events.sealing import PERSONAL_TYPES, Sealer
from gochat.events.types import EventType
from gochat.keys import CURRENT_LOG, DB, STORE
from gochat.previews.outbox import NAME
from gochat.projections.catalog import all_projections
from gochat.projections.current import VIEW
from gochat.projections.engine import InlineProjections
from gochat.projections.rebuild import Rebuild, target
from gochat.settings import Settings, SettingsError

SECRET = "shredding-secret-" + "x" * 32


async def raw_log(db: Database) -> list[str]:
    async with db.cursor() as cur:
        await cur.execute("SELECT data::text FROM events ORDER BY id")
        return [r[0] for r in await cur.fetchall()]


def mentions(texts: Iterable[str], words: Iterable[str]) -> set[str]:
    """Which of `words` appear in any of `texts` (case-insensitive)."""
    joined = "\n".join(texts).lower()
    return {w for w in words if w.lower() in joined}


async def every_table_text(db: Database) -> dict[str, str]:
    """Every row of every table of every schema but the system's, as text: the events, the key
    table, the projections, sessions, anything a migration made."""
    async with db.cursor() as cur:
        await cur.execute(
            "SELECT format('%I.%I', table_schema, table_name) FROM information_schema.tables"
            " WHERE table_type = 'BASE TABLE' AND table_schema NOT IN ('pg_catalog', 'information_schema')"
        )
        tables = [r[0] for r in await cur.fetchall()]
        found = {}
        for table in tables:
            await cur.execute(f"SELECT coalesce(string_agg(t::text, E'\\n'), '') FROM {table} t")
            found[table] = (await cur.fetchone())[0]
    assert {"public.events", "public.user_keys", "public.messages"} <= found.keys()
    return found


def pg_dump(database_url: str) -> str:
    done = subprocess.run(["pg_dump", "--no-owner", database_url], capture_output=True, text=True, check=True)
    return done.stdout


def without_collected(tables: dict[str, list[str]]) -> dict[str, list[str]]:
    return {**tables, "blob_refs": [r for r in tables["blob_refs"] if '"refs": 0' not in r]}


# --- sealed in the log, opened for every reader ---------------------------------------------------
async def test_personal_fields_are_sealed_in_the_log_and_read_back_as_written(client: Any) -> None:
    bob = await signup(client, display_name="Zanzibar Quokka")
    room = (await make_room(client, bob))["id"]
    message = await post(client, bob, room, "the password is marmalade")
    url = f"/rooms/{room}/messages/{message['id']}"
    await ok(await client.patch(url, json={"content": "persimmon instead"}, headers=bob.headers))
    await ok(await client.put("/me/status", json={"text": "tangerine mood"}, headers=bob.headers))
    await ok(await client.patch("/me", json={"display_name": "Quokka Again"}, headers=bob.headers))
    words = {"marmalade", "persimmon", "tangerine", "Zanzibar", "Quokka", bob.username}
    db, store = client.app[DB], client.app[STORE]

    assert mentions(await raw_log(db), words) == set()  # nothing of bob's in clear
    async with db.cursor() as cur:
        await cur.execute("SELECT type, data ? 'sealed' FROM events WHERE type = ANY(%s)", (sorted(PERSONAL_TYPES),))
        sealed = await cur.fetchall()
    assert {t for t, _ in sealed} >= {"user.registered", "message.posted", "message.edited", "user.status_set"}
    assert all(s for _, s in sealed)
    # the store, the projections and the routes read it as written
    events = await store.read_all()
    assert mentions([repr(e.data) for e in events], words) == words
    page = await ok(await client.get(f"/rooms/{room}/messages", headers=bob.headers))
    assert [m["content"] for m in page["messages"]] == ["persimmon instead"]
    me = await ok(await client.get(f"/users/{bob.id}", headers=bob.headers))
    assert (me["display_name"], me["status"]["text"]) == ("Quokka Again", "tangerine mood")
    replay = await client.app[CURRENT_LOG].read_stream(uuid.UUID(room))
    assert [e.data["content"] for e in replay if e.type == EventType.MESSAGE_POSTED] == ["persimmon instead"]


# --- erasure: nothing left anywhere ---------------------------------------------------------------
async def test_after_erasure_no_table_dump_export_replay_or_past_view_holds_the_users_words(
    client: Any, database_url: str, fresh_db: FreshDb
) -> None:
    alice = await signup(client, display_name="Alice Visible")
    bob = await signup(client, display_name="Zanzibar Quokka")
    room = (await make_room(client, alice, "public"))["id"]
    await ok(await client.post(f"/rooms/{room}/join", json={}, headers=bob.headers))
    await post(client, alice, room, "alicewords stay")
    secret = await post(client, bob, room, "the password is marmalade")
    url = f"/rooms/{room}/messages/{secret['id']}"
    await ok(await client.patch(url, json={"content": "persimmon instead"}, headers=bob.headers))
    await ok(await client.put("/me/status", json={"text": "tangerine mood"}, headers=bob.headers))
    await ok(await client.patch("/me", json={"display_name": "Quokka Again"}, headers=bob.headers))
    db, store = client.app[DB], client.app[STORE]
    # a file of bob's, as services/files.py appends it (the upload and the post carrying it)
    file_id = str(uuid.uuid4())
    meta = {"name": "kumquat-plans.pdf", "size": 3, "content_type": "application/pdf", "kind": "pdf"}
    attachment = {"id": file_id, **meta}
    upload = {"file_id": file_id, **meta, "blob": "ab" * 32, "thumbnail_blob": None, "attachment": attachment}
    await store.append(
        NewEvent(EventType.FILE_UPLOADED, uuid.UUID(room), upload, actor_id=bob.id),
        NewEvent(
            EventType.MESSAGE_POSTED, uuid.UUID(room), {"content": "", "attachments": [attachment]}, actor_id=bob.id
        ),
    )
    await wait_for(lambda: db.fetchval("SELECT count(*) FROM message_search WHERE user_id = %s", (bob.id,)), 2)
    # an end-to-end device, named by bob (the key directory: not events, deleted at erasure)
    await DeviceKeys(db).register(Device(bob.id, "phone", "c" * 43, "e" * 43, "Zanzibar's phone"))
    before_erasure = await head(client)
    bobs = {"marmalade", "persimmon", "tangerine", "Zanzibar", "Quokka", "kumquat", bob.username}
    # the projections hold what bob shows now (the search: that it finds words where they are)
    now = {"persimmon", "tangerine", "Quokka", "kumquat", bob.username}
    assert mentions((await every_table_text(db)).values(), bobs) >= now

    await erase(client, user_id=bob.id)
    await wait_for(lambda: db.fetchval("SELECT count(*) FROM message_search WHERE user_id = %s", (bob.id,)), 0)

    tables = await every_table_text(db)
    assert {t: mentions([text], bobs) for t, text in tables.items() if mentions([text], bobs)} == {}
    assert mentions([tables["public.messages"]], {"alicewords"}) == {"alicewords"}  # the search does find words
    dumped = await asyncio.to_thread(pg_dump, database_url)
    assert mentions([dumped], bobs) == set()
    assert mentions([dumped], {"alicewords", "Alice Visible"}) == {"alicewords", "Alice Visible"}
    assert (
        await db.fetchval("SELECT count(*) FROM user_keys WHERE user_id = %s AND material IS NOT NULL", (bob.id,)) == 0
    )

    # every reader: the store, resume/replay frames, exports (raw and current), time travel
    assert mentions([repr(e.data) for e in await store.read_all()], bobs) == set()
    replay = await client.app[CURRENT_LOG].read_stream(uuid.UUID(room))
    assert mentions([repr(e.data) for e in replay], bobs) == set()
    for view in (None, VIEW):
        scan = LogScan(db, build_registry(), view=view, sealer=store.sealer)
        rows = [r for batch in [b async for b in scan.batches(LogFilter())] for r in batch]
        assert mentions([r[5] for r in rows], bobs) == set()
        assert mentions([r[5] for r in rows], {"alicewords"}) == {"alicewords"}
    past = await ok(await client.get(f"/rooms/{room}/state?at={before_erasure}", headers=alice.headers))
    assert [m["content"] for m in past["messages"]] == ["alicewords stay", "", ""]
    assert mentions([repr(past)], bobs) == set()

    # the log still replays to the same projections (but for the blobs the collector already
    # deleted: their zero counts go with them live, and come back with a rebuild, as test_files_projection says)
    assert without_collected(await rebuilt_from_zero(db, fresh_db)) == without_collected(await settled(db))


async def test_an_erased_users_later_appends_store_nothing_of_theirs(store: EventStore, db: Database) -> None:
    """A request racing the erasure (a socket still open): nothing is sealed for a destroyed key,
    nor handed to projections and frames."""
    bob, room = uuid.uuid4(), uuid.uuid4()
    await store.append(NewEvent(EventType.ROOM_CREATED, room, {"name": "R", "type": "public"}, actor_id=bob))
    await store.sealer.keys.destroy(bob)
    store.sealer.forget(bob)
    late = await store.append_one(NewEvent(EventType.MESSAGE_POSTED, room, {"content": "marmalade"}, actor_id=bob))
    assert (late.event.data["content"], late.event.data["attachments"]) == ("", None)
    assert mentions(await raw_log(db), {"marmalade"}) == set()


# --- equivalence with keys destroyed ---------------------------------------------------------------
@pytest.mark.parametrize("seed", [21, 22])
async def test_one_by_one_rebuild_and_swap_agree_when_erasures_destroy_keys(
    seed: int, store: EventStore, db: Database, fresh_db: FreshDb
) -> None:
    log = EveryTypeLog(seed)
    for _ in range(1200):
        event = log.next_event()
        if event.type == EventType.USER_ERASED:  # as ErasureService does: the keys go first
            await store.sealer.keys.destroy(event.stream_id)
            store.sealer.forget(event.stream_id)
        log.appended(event, (await store.append_one(event)).event.id)
    assert len(log.erased) >= 2
    live = await settled(db)
    assert await rebuilt_from_zero(db, fresh_db) == live
    await Rebuild(db, store, target(all_projections(), "all"), page=41).run()
    assert await settled(db) == live
    # every personal event of an erased user is sealed under a destroyed key, or stored blank
    async with db.cursor() as cur:
        await cur.execute(
            "SELECT count(*) FROM events e WHERE e.type = ANY(%s) AND (e.actor_id = ANY(%s) OR e.stream_id = ANY(%s))"
            " AND e.data ? 'sealed' AND EXISTS (SELECT 1 FROM user_keys k WHERE k.user_id::text ="
            " substr(e.data->>'sealed', 1, 32)::uuid::text AND k.material IS NOT NULL)",
            (sorted(PERSONAL_TYPES), list(log.erased), list(log.erased)),
        )
        assert (await cur.fetchone())[0] == 0


async def test_a_log_copied_without_its_keys_refuses_to_be_read(store: EventStore, fresh_db: FreshDb) -> None:
    user = uuid.uuid4()
    data = {"username": "keyless", "username_norm": "keyless", "display_name": "K"}
    await store.append(NewEvent(EventType.USER_REGISTERED, user, data))
    other = await fresh_db()
    async with store.db.cursor() as cur:
        await cur.execute("SELECT to_jsonb(e) FROM events e")
        rows = [r[0] for r in await cur.fetchall()]
    async with other.transaction() as cur:
        await cur.execute(
            "INSERT INTO events SELECT * FROM jsonb_populate_recordset(NULL::events, %s::jsonb)",
            (orjson.dumps(rows).decode(),),
        )
    with pytest.raises(MissingKey, match="restore it with the log"):
        await EventStore(other, build_registry()).read_all()


# --- keys: wrapping, rotation, re-wrapping --------------------------------------------------------
async def test_rotation_keeps_old_events_readable_and_rewrap_moves_every_key_to_the_new_kek(db: Database) -> None:
    old_kek, new_kek = os.urandom(32), os.urandom(32)
    store = EventStore(db, build_registry(), sealer=Sealer(TableKeyStore(db, LocalKeks([old_kek]))))
    store.inline.append(InlineProjections(store, all_projections()))
    store.start()
    user, room = uuid.uuid4(), uuid.uuid4()
    try:
        await store.append(NewEvent(EventType.ROOM_CREATED, room, {"name": "R", "type": "public"}, actor_id=user))
        first = await store.append_one(NewEvent(EventType.MESSAGE_POSTED, room, {"content": "one"}, actor_id=user))
        async with db.cursor() as cur:
            await cur.execute("SELECT material, wrapped_by FROM user_keys WHERE user_id = %s", (user,))
            material, wrapped_by = await cur.fetchone()
        assert wrapped_by == kek_id(old_kek)
        assert len(bytes(material)) == 12 + 32 + 16  # nonce, key, tag: never the key itself
        with pytest.raises(DatabaseError, match="permission denied"):  # user-facing reads never see the table
            async with db.read(user) as cur:
                await cur.execute("SELECT material FROM user_keys")

        assert await store.sealer.keys.rotate([user]) == 1
        rotated = Sealer(TableKeyStore(db, LocalKeks([old_kek])))  # a process started after the rotation
        store.sealer = rotated
        second = await store.append_one(NewEvent(EventType.MESSAGE_POSTED, room, {"content": "two"}, actor_id=user))
        async with db.cursor() as cur:
            await cur.execute(
                "SELECT data->>'sealed' FROM events WHERE id = ANY(%s) ORDER BY id",
                ([first.event.id, second.event.id],),
            )
            versions = [s.split(".")[1] for (s,) in await cur.fetchall()]
        assert versions == ["1", "2"]

        # a new key-encryption key first, the old one after it; rewrap; then the old one can go
        both = TableKeyStore(db, LocalKeks([new_kek, old_kek]))
        assert await both.rewrap() == 2
        assert await both.rewrap() == 0
        alone = EventStore(db, build_registry(), sealer=Sealer(TableKeyStore(db, LocalKeks([new_kek]))))
        assert [e.data["content"] for e in await alone.read_stream(room) if e.type == "message.posted"] == [
            "one",
            "two",
        ]
        unwrapped = EventStore(db, build_registry(), sealer=Sealer(TableKeyStore(db)))
        with pytest.raises(KeyError, match="no key-encryption key"):
            await unwrapped.read_stream(room)

        assert await both.destroy(user) == 2
        erased = EventStore(db, build_registry(), sealer=Sealer(TableKeyStore(db, LocalKeks([new_kek]))))
        assert [e.data["content"] for e in await erased.read_stream(room) if e.type == "message.posted"] == ["", ""]
    finally:
        await store.close()


def test_key_encryption_keys_come_from_the_environment() -> None:
    key = os.urandom(32)
    env = {"GOCHAT_ENV": "development", "GOCHAT_KEY_ENCRYPTION_KEYS": f"{base64.b64encode(key).decode()}, {key.hex()}"}
    assert Settings.from_env(env).key_encryption_keys == (key, key)
    assert Settings.from_env({"GOCHAT_ENV": "development"}).key_encryption_keys == ()
    with pytest.raises(SettingsError, match="GOCHAT_KEY_ENCRYPTION_KEYS: key 1 is not 32 bytes"):
        Settings.from_env({"GOCHAT_ENV": "development", "GOCHAT_KEY_ENCRYPTION_KEYS": "c2hvcnQ="})
    assert LocalKeks().current == UNWRAPPED


# --- upgrading: events written in clear are sealed in place ---------------------------------------
class _Unsealed(Sealer):
    """What a store before migration 190 wrote: personal fields in clear."""

    async def seal_all(
        self, events: Iterable[tuple[str, uuid.UUID, uuid.UUID | None, Mapping[str, Any]]]
    ) -> list[Mapping[str, Any]]:
        return [data for _, _, _, data in events]


def test_seal_log_seals_an_upgraded_databases_clear_events_in_place(
    database_url: str, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("DATABASE_URL", database_url)
    monkeypatch.setenv("JWT_SECRET", SECRET)
    log = RandomLog(seed=31)
    before: dict[str, Any] = {}

    async def write_legacy() -> None:
        db = await Database.connect(database_url, minsize=1, maxsize=4)
        store = EventStore(db, build_registry(), sealer=_Unsealed(TableKeyStore(db)))
        store.inline.append(InlineProjections(store, all_projections()))
        store.start()
        for _ in range(400):
            event = log.next_event()
            log.appended(event, (await store.append_one(event)).event.id)
        await store.close()
        before["raw"] = await raw_log(db)
        before["events"] = [(e.id, dict(e.data)) for e in await EventStore(db, build_registry()).read_all(limit=10_000)]
        before["tables"] = await settled(db)
        await db.close()

    asyncio.run(write_legacy())
    # names and statuses in clear (quoted: JSON strings; base64 never holds a quote)
    clear = {'"user1"', '"away"'}
    assert mentions(before["raw"], clear) == clear

    code, out, err = run_cli(capsys, "keys", "seal-log", "--page", "37")
    assert code == 0, err
    assert int(out.split()[0]) > 100
    assert run_cli(capsys, "keys", "seal-log")[1] == "0 event(s) sealed in place\n"

    async def check() -> None:
        db = await Database.connect(database_url, minsize=1, maxsize=4)
        try:
            assert mentions(await raw_log(db), clear) == set()
            store = EventStore(db, build_registry())
            assert [(e.id, dict(e.data)) for e in await store.read_all(limit=10_000)] == before["events"]
            assert await settled(db) == before["tables"]
            await Rebuild(db, store, target(all_projections(), "all"), page=53).run()
            assert await settled(db) == before["tables"]
        finally:
            await db.close()

    asyncio.run(check())


async def test_erasure_blanks_events_a_user_wrote_before_sealing_existed(client: Any) -> None:
    """An upgraded database erases a user before `seal-log` ran: their clear events are blanked in place."""
    alice = await signup(client)
    room = uuid.UUID((await make_room(client, alice))["id"])
    db, store = client.app[DB], client.app[STORE]
    legacy = EventStore(db, build_registry(), sealer=_Unsealed(TableKeyStore(db)))
    legacy.inline.append(InlineProjections(legacy, all_projections()))
    legacy.start()
    await legacy.append(NewEvent(EventType.MESSAGE_POSTED, room, {"content": "old marmalade"}, actor_id=alice.id))
    await legacy.close()
    # as migration 190 marks an upgraded database's log: written in clear up to here
    async with db.cursor() as cur:
        await cur.execute("UPDATE log_sealing SET clear_upto = (SELECT max(id) FROM events)")
    assert mentions(await raw_log(db), {"old marmalade"}) == {"old marmalade"}
    await erase(client, user_id=alice.id)
    assert mentions(await raw_log(db), {"marmalade", alice.username}) == set()
    assert mentions([repr(e.data) for e in await store.read_all()], {"marmalade"}) == set()
    # the one sanctioned change: data alone, and only when asked for; anything else stays refused
    with pytest.raises(DatabaseError, match="append-only"):
        async with db.transaction() as cur:
            await cur.execute("SET LOCAL gochat.reseal = 'on'; UPDATE events SET type = 'x' WHERE id = 1")
    with pytest.raises(DatabaseError, match="append-only"):
        async with db.transaction() as cur:
            await cur.execute("UPDATE events SET data = '{}' WHERE id = 1")


# --- what came after the first sealing: skeletons, link previews -----------------------------------
async def test_a_skeleton_and_a_link_preview_are_sealed_like_the_text_they_spell(
    store: EventStore, db: Database
) -> None:
    """A username's skeleton spells the name (auth/confusables.py) and a preview names the links its
    message holds: both are sealed under their owner's key, and read blank once it is destroyed."""
    user, room = uuid.uuid4(), uuid.uuid4()
    await store.append(NewEvent(EventType.ROOM_CREATED, room, {"name": "R", "type": "public"}, actor_id=user))
    posted = await store.append_one(
        NewEvent(EventType.MESSAGE_POSTED, room, {"content": "https://example.com/kumquat"}, actor_id=user)
    )
    link = {"url": "https://example.com/kumquat", "title": "Quokka Gazette"}
    preview = {"message_id": posted.event.id, "previews": [link]}
    await store.append(
        NewEvent(EventType.USER_SKELETON_SET, user, {"username_skeleton": "rnarmalade"}),
        NewEvent(EventType.MESSAGE_LINK_PREVIEW, room, preview, actor_id=user),
    )
    words = {"rnarmalade", "kumquat", "Quokka"}
    assert mentions(await raw_log(db), words) == set()
    opened = {e.type: e.data for e in await store.read_all()}
    assert opened[EventType.USER_SKELETON_SET]["username_skeleton"] == "rnarmalade"
    assert opened[EventType.MESSAGE_LINK_PREVIEW]["previews"] == [link]

    await store.sealer.keys.destroy(user)
    store.sealer.forget(user)
    opened = {e.type: e.data for e in await store.read_all()}
    assert "username_skeleton" not in opened[EventType.USER_SKELETON_SET]
    assert opened[EventType.MESSAGE_LINK_PREVIEW] == {"message_id": posted.event.id, "previews": []}
    assert mentions([repr(e.data) for e in await store.read_all()], words) == set()


async def test_an_erased_authors_links_leave_the_preview_cache_and_every_table(
    aiohttp_client: Any, aiohttp_server: Any, settings: Settings
) -> None:
    """A cached preview is keyed by the URL its author posted: erasing the author drops it (and the
    log's preview, sealed, reads blank); another user's cached link stays."""
    png = image_bytes("PNG", (600, 315))

    async def handle(request: web.Request) -> web.Response:
        if request.path == "/img.png":
            return web.Response(body=png, content_type="image/png")
        title = "Quokka Gazette" if "kumquat" in request.path else "Other Paper"
        return web.Response(text=page(title, image="/img.png"), content_type="text/html")

    site = web.Application()
    site.router.add_get("/{tail:.*}", handle)
    server = await aiohttp_server(site, host="127.0.0.1")
    base = f"http://127.0.0.1:{server.port}"
    client = await aiohttp_client(create_app(preview_settings(settings)))
    alice, bob = await signup(client), await signup(client)
    room = (await make_room(client, alice, "private", members=[bob]))["id"]
    db = client.app[DB]
    secret = await post(client, alice, room, f"my plans: {base}/kumquat-marmalade")
    other = await post(client, bob, room, f"{base}/bobs-page")
    await previewed(client, bob, room, secret["id"])
    await previewed(client, bob, room, other["id"])
    cached = "SELECT coalesce(array_agg(url ORDER BY url), '{}') FROM link_preview_cache"
    assert await db.fetchval(cached) == [f"{base}/bobs-page", f"{base}/kumquat-marmalade"]
    alices = {"kumquat", "marmalade", "Quokka Gazette"}
    assert mentions((await every_table_text(db)).values(), alices) == alices  # cache, history, jobs' table...
    assert mentions(await raw_log(db), alices) == set()  # ...but the log holds them sealed

    await erase(client, user_id=alice.id)
    # the link_previews follower has applied the erasure
    seen = "SELECT position >= (SELECT max(id) FROM events WHERE type = 'user.erased') FROM projection_checkpoints"
    await wait_for(lambda: db.fetchval(seen + " WHERE name = %s", (NAME,)), True)

    tables = await every_table_text(db)
    assert {t: mentions([text], alices) for t, text in tables.items() if mentions([text], alices)} == {}
    assert await db.fetchval(cached) == [f"{base}/bobs-page"]
    replay = await client.app[CURRENT_LOG].read_stream(uuid.UUID(room))
    assert mentions([repr(e.data) for e in replay], alices) == set()
    assert mentions([repr(e.data) for e in replay], {"bobs-page", "Other Paper"}) == {"bobs-page", "Other Paper"}


async def test_the_reasons_a_user_wrote_in_reports_and_bans_go_with_their_keys(client: Any) -> None:
    """A report's reason is its reporter's text, a ban's its moderator's: sealed under their key, and
    blank in the log's readers and in the reports the moderators keep once that user is erased."""
    alice, bob, carol = await signup(client), await signup(client), await signup(client)
    room = (await make_room(client, alice, "public"))["id"]
    for who in (bob, carol):
        await ok(await client.post(f"/rooms/{room}/join", json={}, headers=who.headers))
    posted = await post(client, alice, room, "a fine message")
    url = f"/rooms/{room}/messages/{posted['id']}/reports"
    await ok(await client.post(url, json={"reason": "persimmon grievance"}, headers=bob.headers), 201)
    ban = {"reason": "tangerine conduct"}
    await ok(await client.post(f"/rooms/{room}/bans/{carol.id}", json=ban, headers=alice.headers), 204)
    db, store = client.app[DB], client.app[STORE]
    words = {"persimmon", "tangerine"}
    assert mentions(await raw_log(db), words) == set()
    assert mentions([repr(e.data) for e in await store.read_all()], words) == words
    reasons = "SELECT coalesce(array_agg(reason), '{}') FROM reports"
    assert await db.fetchval(reasons) == ["persimmon grievance"]

    await erase(client, user_id=bob.id)
    assert await db.fetchval(reasons) == [""]  # the report stays for the moderators, its words go
    assert mentions([repr(e.data) for e in await store.read_all()], words) == {"tangerine"}
    await erase(client, user_id=alice.id)
    assert mentions([repr(e.data) for e in await store.read_all()], words) == set()
    assert mentions((await every_table_text(db)).values(), words) == set()


def test_every_store_the_server_and_its_tools_build_seals_with_the_configured_keys() -> None:
    """A store built without the configured sealer would make new users' data keys unwrapped even
    where GOCHAT_KEY_ENCRYPTION_KEYS is set, and fail to unwrap the others' (`gochat bots`, merged
    after sealing, was one): every EventStore built in gochat/ is handed one."""
    package = Path(gochat.__file__).parent
    unsealed = []
    for path in sorted(package.rglob("*.py")):
        for node in ast.walk(ast.parse(path.read_text(), str(path))):
            if (
                isinstance(node, ast.Call)
                and isinstance(node.func, ast.Name)
                and node.func.id == "EventStore"
                and "sealer" not in {k.arg for k in node.keywords}
            ):
                unsealed.append(f"{path.relative_to(package)}:{node.lineno}")
    assert unsealed == []


def test_the_keys_commands_count_rotate_and_rewrap(
    database_url: str, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """`gochat keys status|rotate|rewrap` as an operator runs them (docs/operations.md, "Keys")."""
    monkeypatch.setenv("DATABASE_URL", database_url)
    monkeypatch.setenv("JWT_SECRET", SECRET)
    users = [uuid.uuid4(), uuid.uuid4()]

    async def register() -> None:
        db = await Database.connect(database_url, minsize=1, maxsize=2)
        try:
            await Sealer(TableKeyStore(db)).keys.current(users)  # as a first append makes them
        finally:
            await db.close()

    asyncio.run(register())
    code, out, _ = run_cli(capsys, "keys", "status")
    assert code == 0
    assert out.splitlines() == [
        "users with live keys: 2 (2 key versions); users with destroyed keys: 0",
        "  wrapped by none: 2 (current)",
    ]
    assert run_cli(capsys, "keys", "rotate", "--id", str(users[0]))[:2] == (
        0,
        "1 new data key(s); servers seal with them once they next read the user's key (on restart)\n",
    )
    assert run_cli(capsys, "keys", "rewrap")[0] == 2  # nothing to wrap with
    kek = os.urandom(32)
    monkeypatch.setenv("GOCHAT_KEY_ENCRYPTION_KEYS", base64.b64encode(kek).decode())
    assert run_cli(capsys, "keys", "rewrap")[:2] == (0, "3 data key(s) re-wrapped\n")
    code, out, _ = run_cli(capsys, "keys", "status")
    assert out.splitlines() == [
        "users with live keys: 2 (3 key versions); users with destroyed keys: 0",
        f"  wrapped by {kek_id(kek)}: 3 (current)",
    ]
