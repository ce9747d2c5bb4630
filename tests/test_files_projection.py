"""The files projection rebuilt from the log equals the one kept live (files, and the blob counts
that matter), its row-level security survives the swap, and the collector then removes only the
blobs nothing refers to."""

from __future__ import annotations

import uuid
from pathlib import Path
from typing import Any

import orjson
from file_helpers import image_bytes, stored_files, uploaded
from helpers import signup
from room_helpers import make_room

from gochat.auth.store import SessionStore
from gochat.e2e.store import KeyStore as DeviceKeys
from gochat.events.scan import RawEvent
from gochat.keys import DB, FILES, SETTINGS, STORE
from gochat.projections.catalog import all_projections
from gochat.projections.rebuild import Rebuild, target
from gochat.projections.users import UserQueries
from gochat.services.erasure import ErasureService
from gochat.tools.redact import Redactor


async def rows(client: Any) -> tuple[list[Any], list[Any]]:
    async with client.app[DB].cursor() as cur:
        await cur.execute("SELECT to_jsonb(f)::text FROM files f ORDER BY id")
        files = [r[0] for r in await cur.fetchall()]
        await cur.execute("SELECT blob, refs FROM blob_refs WHERE refs > 0 ORDER BY blob")
        return files, list(await cur.fetchall())


async def test_a_rebuild_gives_the_same_files_and_counts_and_keeps_them_private(client: Any) -> None:
    alice, bob, carol = await signup(client), await signup(client), await signup(client)
    room = (await make_room(client, alice, "private", members=[bob]))["id"]
    kept = (await uploaded(client, alice, room, image_bytes("PNG"), "kept.png"))["file"]
    twin = await uploaded(client, alice, room, b"twin", "1.txt")
    await uploaded(client, alice, room, b"twin", "2.txt")
    await client.delete(f"/rooms/{room}/messages/{twin['message']['id']}", headers=alice.headers)
    await uploaded(client, bob, room, b"bob's", "bob.txt")
    db = client.app[DB]
    erasure = ErasureService(client.app[STORE], UserQueries(db), SessionStore(db, 3600), DeviceKeys(db))
    await erasure.erase(await erasure.find(user_id=bob.id))
    await client.app[FILES].collect()
    live = await rows(client)
    assert len(live[0]) == 4
    assert len(live[1]) == 3  # the image, its thumbnail, the twins' one blob

    await Rebuild(db, client.app[STORE], target(all_projections(), "files"), page=2).run()
    assert await rows(client) == live
    await client.app[FILES].collect()  # zero counts come back with the rebuild: their blobs are gone already
    files_dir = Path(client.app[SETTINGS].data_dir) / "files"
    assert len(stored_files(files_dir)) == 3
    assert (await client.get(kept["url"], headers=alice.headers)).status == 200
    assert (await client.get(kept["url"], headers=carol.headers)).status == 404


def test_exports_redact_an_erased_users_file_names() -> None:
    erased, room = str(uuid.uuid4()), str(uuid.uuid4())
    data = {"file_id": str(uuid.uuid4()), "name": "my-passport.jpg", "attachment": {"name": "my-passport.jpg"}}
    row: RawEvent = (7, room, 1, "file.uploaded", 1, orjson.dumps(data).decode(), "{}", erased, None, "t")
    (out,) = Redactor([uuid.UUID(erased)])([row])
    assert "passport" not in out[5]
    assert orjson.loads(out[5])["file_id"] == data["file_id"]
    (kept,) = Redactor([uuid.uuid4()])([row])
    assert kept == row
