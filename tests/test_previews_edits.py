"""Link previews follow a message's edits, against real HTTP servers on 127.0.0.1 (test_previews.py's
site) and real PostgreSQL: an edit that removes a link drops its preview and image at once, in
history, live and on resume; a changed link is fetched; a kept link keeps its preview and is not
fetched again; `previews: false` on an edit drops them all and sticks; a preview fetched for the text
before an edit brings nothing back; and a rebuild from the log equals the live tables after it all."""

from __future__ import annotations

import asyncio
import json
import uuid
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

from conftest import FreshDb
from helpers import Account
from room_helpers import ok, post
from test_previews import Client, World, message, previewed, world
from test_projections_ops import dump, rebuilt_from_zero
from test_ws import connect, until

from gochat.db import Database
from gochat.events import EventStore, NewEvent, RecordedEvent
from gochat.events.types import EventType
from gochat.keys import DB, PREVIEWER, STORE
from gochat.previews import outbox
from gochat.previews.outbox import NAME, LinkPreviewOutbox
from gochat.projections.current import CurrentLog
from gochat.settings import Settings

Frame = dict[str, Any]


async def edit(w: World, message_id: int, content: str, **more: Any) -> dict[str, Any]:
    url = f"/rooms/{w.room}/messages/{message_id}"
    body: dict[str, Any] = await ok(
        await w.client.patch(url, json={"content": content, **more}, headers=w.alice.headers)
    )
    return body


async def quiet(client: Client, message_id: int, timeout: float = 20.0) -> None:
    """The link_previews follower is at the log's head and the message has no job left: whatever the
    edits queued was done (or found nothing to do)."""
    db: Database = client.app[DB]
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while True:
        head = await client.app[STORE].head()
        position = await db.fetchval("SELECT position FROM projection_checkpoints WHERE name = %s", (NAME,))
        left = await db.fetchval("SELECT count(*) FROM link_preview_jobs WHERE message_id = %s", (message_id,))
        if position is not None and position >= head and left == 0:
            return
        assert loop.time() < deadline, f"message {message_id} still queued"
        await asyncio.sleep(0.05)


async def previewed_both(client: Client, who: Account, room: str, message_id: int) -> list[dict[str, Any]]:
    """The message's previews once it has two."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + 20
    while len(shown := (await message(client, who, room, message_id)).get("previews") or []) < 2:
        assert loop.time() < deadline, f"message {message_id} has {len(shown)} previews"
        await asyncio.sleep(0.05)
    return list(shown)


async def preview_events(client: Client, room: str) -> list[dict[str, Any]]:
    events = await client.app[STORE].read_stream(uuid.UUID(room))
    return [e.data for e in events if e.type == EventType.MESSAGE_LINK_PREVIEW]


async def test_an_edit_that_removes_a_link_drops_its_preview_and_image_at_once_in_history_live_and_on_resume(
    aiohttp_client: Callable[..., Any], aiohttp_server: Callable[..., Any], settings: Settings
) -> None:
    w = await world(aiohttp_client, aiohttp_server, settings)
    site, client, bob, room = w.site, w.client, w.bob, w.room
    ws = await connect(client, bob, room)
    sent = await post(client, w.alice, room, f"read {site.base}/article and {site.base}/plain")
    article, plain = (await until(ws, lambda f: f["type"] == "link_preview", timeout=20))["previews"]
    assert (article["url"], plain["url"]) == (f"{site.base}/article", f"{site.base}/plain")
    assert (await client.get(article["image"]["url"], headers=bob.headers)).status == 200

    edited = await edit(w, sent["id"], f"read {site.base}/plain")
    assert edited["previews"] == [plain]  # at once: the edit's own answer
    assert (await message(client, bob, room, sent["id"]))["previews"] == [plain]
    assert (await client.get(article["image"]["url"], headers=bob.headers)).status == 404

    # live, without a reload: the edit, the previews it kept, the dropped preview's image
    assert (await until(ws, lambda f: f["type"] == "message_edited"))["message_id"] == sent["id"]
    kept = await until(ws, lambda f: f["type"] == "link_preview")
    assert (kept["message_id"], kept["previews"]) == (sent["id"], [plain])
    assert (await until(ws, lambda f: f["type"] == "file_deleted"))["file_id"] == article["image"]["id"]
    await ws.close()

    await quiet(client, sent["id"])
    assert site.hits["/article"] == site.hits["/plain"] == site.hits["/img.png"] == 1  # nothing fetched again
    assert (await message(client, bob, room, sent["id"]))["previews"] == [plain]

    # a replay from before the message shows no trace of the link the edit removed
    ws = await connect(client, bob, room, since=sent["id"] - 1)
    seen: list[Frame] = []

    def last(frame: Frame) -> bool:
        seen.append(frame)
        return bool(frame["type"] == "file_deleted")

    await until(ws, last)
    await ws.close()
    assert [f["previews"] for f in seen if f["type"] == "link_preview"] == [[plain], [plain]]
    assert f"{site.base}/article" not in json.dumps(seen)
    [upload] = [f["file"] for f in seen if f["type"] == "file_uploaded"]
    assert upload == {"id": article["image"]["id"], "preview_of": sent["id"], "deleted": True}


async def test_an_edit_that_changes_a_link_fetches_the_new_one(
    aiohttp_client: Callable[..., Any], aiohttp_server: Callable[..., Any], settings: Settings
) -> None:
    w = await world(aiohttp_client, aiohttp_server, settings)
    site, client, bob, room = w.site, w.client, w.bob, w.room
    sent = await post(client, w.alice, room, f"{site.base}/plain")
    [plain] = await previewed(client, bob, room, sent["id"])
    assert plain["title"] == "Just words"
    ws = await connect(client, bob, room)

    edited = await edit(w, sent["id"], f"I meant {site.base}/article")
    assert "previews" not in edited  # the old link's went with the edit; the new one's is fetched after
    assert (await until(ws, lambda f: f["type"] == "link_preview"))["previews"] == []
    fetched = await until(ws, lambda f: f["type"] == "link_preview", timeout=20)
    [article] = fetched["previews"]
    assert (article["url"], article["title"]) == (f"{site.base}/article", "A fine article")
    assert (await client.get(article["image"]["url"], headers=bob.headers)).status == 200
    await ws.close()
    assert await previewed(client, bob, room, sent["id"]) == [article]
    assert site.hits["/article"] == site.hits["/img.png"] == site.hits["/plain"] == 1
    edits = [e for e in await client.app[STORE].read_stream(uuid.UUID(room)) if e.type == EventType.MESSAGE_EDITED]
    assert (await preview_events(client, room))[-1]["edit_id"] == edits[-1].id  # the edit's text, keyed to it


async def test_an_edit_that_keeps_a_link_keeps_its_preview_without_fetching_it_again(
    aiohttp_client: Callable[..., Any], aiohttp_server: Callable[..., Any], settings: Settings
) -> None:
    w = await world(aiohttp_client, aiohttp_server, settings)
    site, client, bob, room = w.site, w.client, w.bob, w.room
    sent = await post(client, w.alice, room, f"look {site.base}/article")
    [article] = await previewed(client, bob, room, sent["id"])
    fetches = client.app[PREVIEWER].fetches

    edited = await edit(w, sent["id"], f"look at this, really: {site.base}/article!")
    assert edited["previews"] == [article]
    await quiet(client, sent["id"])
    assert (await message(client, bob, room, sent["id"]))["previews"] == [article]
    assert client.app[PREVIEWER].fetches == fetches
    assert site.hits["/article"] == site.hits["/img.png"] == 1
    assert len(await preview_events(client, room)) == 1  # the edit appended none: nothing changed
    assert (await client.get(article["image"]["url"], headers=bob.headers)).status == 200

    # a link added beside it is fetched; the kept one is not, and keeps its image
    await edit(w, sent["id"], f"look at this, really: {site.base}/article! and {site.base}/plain")
    shown = await previewed_both(client, bob, room, sent["id"])
    assert shown[0] == article
    assert shown[1] == {"url": f"{site.base}/plain", "title": "Just words", "site_name": "Example"}
    assert client.app[PREVIEWER].fetches == fetches + 1
    assert site.hits["/article"] == site.hits["/img.png"] == 1


async def test_previews_false_on_an_edit_drops_them_and_sticks_until_turned_on(
    aiohttp_client: Callable[..., Any], aiohttp_server: Callable[..., Any], settings: Settings
) -> None:
    w = await world(aiohttp_client, aiohttp_server, settings)
    site, client, bob, room = w.site, w.client, w.bob, w.room
    text = f"look {site.base}/article"
    sent = await post(client, w.alice, room, text)
    [article] = await previewed(client, bob, room, sent["id"])

    assert "previews" not in await edit(w, sent["id"], text, previews=False)  # the same text: still a change
    assert (await client.get(article["image"]["url"], headers=bob.headers)).status == 404
    assert "previews" not in await edit(w, sent["id"], f"{text} and {site.base}/plain")  # as said last: none
    await quiet(client, sent["id"])
    assert "previews" not in await message(client, bob, room, sent["id"])
    assert site.hits["/plain"] == 0

    await edit(w, sent["id"], f"{text} and {site.base}/plain", previews=True)
    shown = await previewed(client, bob, room, sent["id"])
    assert [p["url"] for p in shown] == [f"{site.base}/article", f"{site.base}/plain"]
    assert shown[0]["image"]["id"] != article["image"]["id"]  # a new file: the old one went with the opt-out
    assert site.hits["/article"] == site.hits["/img.png"] == 1  # from the cache
    assert site.hits["/plain"] == 1


async def test_a_rebuild_from_the_log_equals_the_live_tables_after_edits(
    aiohttp_client: Callable[..., Any], aiohttp_server: Callable[..., Any], settings: Settings, fresh_db: FreshDb
) -> None:
    w = await world(aiohttp_client, aiohttp_server, settings)
    site, client, bob, room = w.site, w.client, w.bob, w.room
    removed = await post(client, w.alice, room, f"{site.base}/article {site.base}/plain")
    changed = await post(client, w.alice, room, f"{site.base}/plain")
    kept = await post(client, w.alice, room, f"{site.base}/shared")
    for sent in (removed, changed, kept):
        await previewed(client, bob, room, sent["id"])
    await edit(w, removed["id"], f"{site.base}/plain only")
    await edit(w, changed["id"], f"{site.base}/article now")
    await edit(w, kept["id"], f"still {site.base}/shared")
    assert [p["url"] for p in await previewed(client, bob, room, changed["id"])] == [f"{site.base}/article"]
    for sent in (removed, changed, kept):
        await quiet(client, sent["id"])

    db = client.app[DB]
    live, rebuilt = await dump(db), await rebuilt_from_zero(db, fresh_db)
    for table in ("messages", "files", "blob_refs"):
        assert live[table] == rebuilt[table], table
    shown = {json.loads(r)["id"]: json.loads(r)["previews"] for r in live["messages"] if json.loads(r)["previews"]}
    assert [[p["url"] for p in shown[m["id"]]] for m in (removed, changed, kept)] == [
        [f"{site.base}/plain"],
        [f"{site.base}/article"],
        [f"{site.base}/shared"],
    ]


async def test_a_preview_fetched_for_the_text_before_an_edit_brings_back_nothing_the_edit_removed(
    store: EventStore, db: Database, fresh_db: FreshDb
) -> None:
    # the previewer's fetch raced the edit: its preview of the posted text is appended after it
    author, room = uuid.uuid4(), uuid.uuid4()
    posted = await store.append_one(
        NewEvent(EventType.MESSAGE_POSTED, room, {"content": "https://a.example/ https://b.example/"}, actor_id=author)
    )
    message_id = posted.event.id

    def preview(url: str) -> dict[str, Any]:
        return {"url": url, "title": url[8:9].upper()}

    edit = NewEvent(
        EventType.MESSAGE_EDITED, room, {"message_id": message_id, "content": "https://b.example/"}, actor_id=author
    )
    edit_id = (await store.append_one(edit)).event.id
    late = {"message_id": message_id, "previews": [preview("https://a.example/"), preview("https://b.example/")]}
    await store.append_one(NewEvent(EventType.MESSAGE_LINK_PREVIEW, room, late, actor_id=author))
    shown = "SELECT previews FROM messages WHERE room_id = %s AND id = %s"
    assert await db.fetchval(shown, (room, message_id)) is None
    replayed = [e for e in await CurrentLog(store).read_stream(room) if e.type == EventType.MESSAGE_LINK_PREVIEW]
    assert [e.data["previews"] for e in replayed] == [[]]

    # the edit's own job previews its text
    mine = {"message_id": message_id, "previews": [preview("https://b.example/")], "edit_id": edit_id}
    await store.append_one(NewEvent(EventType.MESSAGE_LINK_PREVIEW, room, mine, actor_id=author))
    assert await db.fetchval(shown, (room, message_id)) == mine["previews"]
    replayed = [e for e in await CurrentLog(store).read_stream(room) if e.type == EventType.MESSAGE_LINK_PREVIEW]
    assert [e.data["previews"] for e in replayed] == [mine["previews"], mine["previews"]]

    # and one recorded before an edit goes with the links the edit removes
    again = NewEvent(EventType.MESSAGE_EDITED, room, {"message_id": message_id, "content": "no links"}, actor_id=author)
    await store.append_one(again)
    assert await db.fetchval(shown, (room, message_id)) is None
    assert (await dump(db))["messages"] == (await rebuilt_from_zero(db, fresh_db))["messages"]


async def test_an_edit_s_job_takes_the_place_of_one_being_worked_which_then_removes_only_itself(db: Database) -> None:
    room, author = uuid.uuid4(), uuid.uuid4()
    at = datetime.now(UTC)

    def recorded(id_: int, type_: str, data: dict[str, Any]) -> RecordedEvent:
        return RecordedEvent(id_, room, id_, type_, 1, data, {}, author, None, at)

    follower = LinkPreviewOutbox()
    async with db.transaction() as cur:
        await follower.apply_batch(cur, [recorded(50, EventType.MESSAGE_POSTED, {"content": "https://a.io"})])
        [posted] = await outbox.claim_due(cur, limit=5, lease=60, max_attempts=3)  # the previewer has it
    assert (posted.message_id, posted.edit_id, posted.urls) == (50, None, ["https://a.io/"])

    async with db.transaction() as cur:  # meanwhile the author edits it
        await follower.apply_batch(
            cur, [recorded(51, EventType.MESSAGE_EDITED, {"message_id": 50, "content": "https://b.io"})]
        )
        await outbox.done(cur, posted)  # the post's job finishes: the edit's stays, due at once
        [edited] = await outbox.claim_due(cur, limit=5, lease=60, max_attempts=3)
    assert (edited.message_id, edited.edit_id, edited.urls, edited.attempts) == (50, 51, ["https://b.io/"], 1)

    async with db.transaction() as cur:  # the post's preview in the log finishes nothing; the edit's does
        await follower.apply_batch(
            cur, [recorded(52, EventType.MESSAGE_LINK_PREVIEW, {"message_id": 50, "previews": []})]
        )
        assert await jobs(cur) == [(50, 51)]
        preview = {"message_id": 50, "previews": [], "edit_id": 51}
        await follower.apply_batch(cur, [recorded(53, EventType.MESSAGE_LINK_PREVIEW, preview)])
        assert await jobs(cur) == []
        # an edit that leaves no link to preview takes the job away
        await follower.apply_batch(cur, [recorded(54, EventType.MESSAGE_POSTED, {"content": "https://c.io"})])
        await follower.apply_batch(cur, [recorded(55, EventType.MESSAGE_EDITED, {"message_id": 54, "content": "gone"})])
        assert await jobs(cur) == []


async def jobs(cur: Any) -> list[tuple[int, int | None]]:
    await cur.execute("SELECT message_id, edit_id FROM link_preview_jobs ORDER BY 1")
    return [tuple(r) for r in await cur.fetchall()]
