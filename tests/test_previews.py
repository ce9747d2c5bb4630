"""Link previews, fetched from real HTTP servers on 127.0.0.1 (allowlisted as GOCHAT_PREVIEW_ALLOW
would): OpenGraph metadata and a thumbnailed image appended as `message.link_preview`, shown in
history, live over the WebSocket and on resume; cached per URL; bounded in bytes and content types;
refused on a redirect to an address not allowlisted; off per room and per message; gone with their
message, their images' blobs with the last message that used them."""

from __future__ import annotations

import asyncio
import collections
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from aiohttp import web
from conftest import eventually
from file_helpers import image_bytes, stored_files
from helpers import Account, signup
from room_helpers import make_room, ok, post
from test_ws import connect, until

from gochat.app import create_app
from gochat.auth.store import SessionStore
from gochat.db import Database
from gochat.e2e.store import KeyStore as DeviceKeys
from gochat.keys import DB, PREVIEWER, STORE
from gochat.previews.outbox import NAME
from gochat.projections.users import UserQueries
from gochat.services.erasure import ErasureService
from gochat.settings import Settings

Client = Any
MAX_HTML = 64 * 1024


def page(title: str, description: str = "", image: str | None = None, site: str = "Example") -> str:
    tags = [f'<meta property="og:title" content="{title}">', f'<meta property="og:site_name" content="{site}">']
    if description:
        tags.append(f'<meta property="og:description" content="{description}">')
    if image:
        tags.append(f'<meta property="og:image" content="{image}">')
    return f"<!doctype html><html><head><title>ignored</title>{''.join(tags)}</head><body><p>hi</p></body></html>"


@dataclass
class Site:
    """A web site on 127.0.0.1 that counts the requests each path gets."""

    base: str = ""
    hits: collections.Counter[str] = field(default_factory=collections.Counter)
    big_finished: bool = False


async def start_site(aiohttp_server: Callable[..., Any], secret_base: str = "") -> Site:
    site = Site()
    png = image_bytes("PNG", (1200, 630))

    def html(text: str) -> web.Response:
        return web.Response(text=text, content_type="text/html", charset="utf-8")

    async def handle(request: web.Request) -> web.StreamResponse:
        path = request.path
        site.hits[path] = site.hits[path] + 1
        if path in ("/article", "/shared"):
            return html(page("A fine article", "What it is about", image="/img.png"))
        if path == "/img.png":
            return web.Response(body=png, content_type="image/png")
        if path == "/plain":
            return html(page("Just words"))
        if path == "/to-private":
            raise web.HTTPFound(secret_base + "/secret")
        if path == "/to-metadata":
            raise web.HTTPFound("http://169.254.169.254/latest/meta-data/")
        if path == "/data.json":
            body = '{"og:title": "not a page"}'
            return web.Response(text=body, content_type="application/json")
        if path == "/late":  # the tags come after the bytes a preview reads
            filler = "<!--" + "x" * (2 * MAX_HTML) + "-->"
            return html(f"<html><head>{filler}{page('Too late')[15:]}")
        if path == "/big":  # a head, then a body that goes on and on
            resp = web.StreamResponse(headers={"Content-Type": "text/html; charset=utf-8"})
            await resp.prepare(request)
            await resp.write(page("Big page").replace("</body></html>", "").encode())
            chunk = b"<p>" + b"y" * 65536 + b"</p>"
            try:
                for _ in range(512):  # 32 MiB
                    await resp.write(chunk)
                site.big_finished = True
            except (ConnectionError, RuntimeError):
                pass
            return resp
        raise web.HTTPNotFound()

    app = web.Application()
    app.router.add_get("/{tail:.*}", handle)
    server = await aiohttp_server(app, host="127.0.0.1")
    site.base = f"http://127.0.0.1:{server.port}"
    return site


def preview_settings(settings: Settings, **more: Any) -> Settings:
    return settings.with_overrides(
        previews=True,
        preview_allow="127.0.0.1",
        preview_timeout=5.0,
        preview_max_bytes=MAX_HTML,
        rate_limits=False,
        **more,
    )


@dataclass
class World:
    """A site, a server with previews on, and a private room of alice's with bob in it."""

    site: Site
    client: Client
    alice: Account
    bob: Account
    room: str


async def world(aiohttp_client: Callable[..., Any], aiohttp_server: Callable[..., Any], settings: Settings) -> World:
    site = await start_site(aiohttp_server)
    client = await aiohttp_client(create_app(preview_settings(settings)))
    alice, bob = await signup(client), await signup(client)
    room = (await make_room(client, alice, "private", members=[bob]))["id"]
    return World(site, client, alice, bob, room)


async def settled(db: Database, message_id: int, timeout: float = 20.0) -> None:
    """The follower has seen the message, and no job of it is left (done, dropped or never made)."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while True:
        position = await db.fetchval("SELECT position FROM projection_checkpoints WHERE name = %s", (NAME,))
        left = await db.fetchval("SELECT count(*) FROM link_preview_jobs WHERE message_id = %s", (message_id,))
        if position is not None and position >= message_id and left == 0:
            return
        assert loop.time() < deadline, f"message {message_id} still queued"
        await asyncio.sleep(0.05)


async def message(client: Client, who: Account, room: str, message_id: int) -> dict[str, Any]:
    body: dict[str, Any] = await ok(await client.get(f"/rooms/{room}/messages/{message_id}", headers=who.headers))
    return body


async def previewed(client: Client, who: Account, room: str, message_id: int) -> list[dict[str, Any]]:
    """The message's previews, once it has them."""
    found: list[dict[str, Any]] = []

    async def check() -> bool:
        found[:] = (await message(client, who, room, message_id)).get("previews") or []
        return bool(found)

    loop = asyncio.get_running_loop()
    deadline = loop.time() + 20
    while not await check():
        assert loop.time() < deadline, f"no preview for message {message_id}"
        await asyncio.sleep(0.05)
    return found


async def test_a_link_gets_its_page_s_preview_in_history_live_and_on_resume(
    aiohttp_client: Callable[..., Any], aiohttp_server: Callable[..., Any], settings: Settings
) -> None:
    w = await world(aiohttp_client, aiohttp_server, settings)
    site, client, alice, bob, room = w.site, w.client, w.alice, w.bob, w.room
    stranger = await signup(client)
    ws = await connect(client, bob, room)
    sent = await post(client, alice, room, f"look at {site.base}/article!")
    assert "previews" not in sent  # posting never waits for the fetch

    frame = await until(ws, lambda f: f["type"] == "link_preview", timeout=20)
    assert (frame["message_id"], frame["room_id"], frame["user_id"]) == (sent["id"], room, str(alice.id))
    [live] = frame["previews"]
    assert live["url"] == f"{site.base}/article"  # normalized: the sentence's "!" is not part of it
    assert (live["title"], live["description"], live["site_name"]) == ("A fine article", "What it is about", "Example")
    image = live["image"]
    assert image["content_type"] == "image/webp"
    assert max(image["width"], image["height"]) <= 400
    assert image["width"] > image["height"]  # 1200 x 630, scaled down

    assert await previewed(client, bob, room, sent["id"]) == frame["previews"]
    page_of_history = await ok(await client.get(f"/rooms/{room}/messages", headers=bob.headers))
    assert [m.get("previews") for m in page_of_history["messages"]] == [frame["previews"]]

    thumb = await client.get(image["url"], headers=bob.headers)
    assert thumb.status == 200
    assert thumb.headers["Content-Type"] == "image/webp"
    assert (await thumb.read())[:4] == b"RIFF"
    assert (await client.get(image["url"], headers=stranger.headers)).status == 404  # members only
    assert site.hits["/article"] == site.hits["/img.png"] == 1

    # a socket that missed it gets it on resume, after the message, as the log has it
    await ws.close()
    ws = await connect(client, bob, room, since=sent["id"] - 1)
    replayed = await until(ws, lambda f: f["type"] == "link_preview")
    assert replayed["previews"] == frame["previews"]
    assert replayed["id"] == frame["id"]
    await ws.close()


async def test_one_fetch_serves_every_message_with_the_url_and_deleting_drops_previews_and_then_the_blob(
    aiohttp_client: Callable[..., Any], aiohttp_server: Callable[..., Any], settings: Settings
) -> None:
    w = await world(aiohttp_client, aiohttp_server, settings)
    site, client, alice, bob, room = w.site, w.client, w.alice, w.bob, w.room
    other = (await make_room(client, bob))["id"]
    first = await post(client, alice, room, f"{site.base}/shared")
    [one] = await previewed(client, alice, room, first["id"])
    shouted = site.base.replace("http://", "HTTP://")  # the same URL, as normalized
    second = await post(client, bob, other, f"same again: {shouted}/shared#frag")
    [two] = await previewed(client, bob, other, second["id"])
    assert site.hits["/shared"] == site.hits["/img.png"] == 1  # the second came from the cache
    assert client.app[PREVIEWER].fetches == 1
    assert one["title"] == two["title"]
    assert one["image"]["id"] != two["image"]["id"]
    blobs = settings.data_dir / "files"
    assert len(stored_files(blobs)) == 1  # the same thumbnail bytes, stored once

    await ok(await client.delete(f"/rooms/{room}/messages/{first['id']}", headers=alice.headers), 204)
    gone = await message(client, alice, room, first["id"])
    assert gone["deleted"] is True
    assert "previews" not in gone
    assert (await client.get(one["image"]["url"], headers=alice.headers)).status == 404
    ws = await connect(client, alice, room, since=first["id"] - 1)  # a replay shows nothing of it
    seen: list[dict[str, Any]] = []

    def preview(frame: dict[str, Any]) -> bool:
        seen.append(frame)
        return bool(frame["type"] == "link_preview")

    replayed = await until(ws, preview)
    assert (replayed["previews"], replayed.get("deleted")) == ([], True)
    [image] = [f["file"] for f in seen if f["type"] == "file_uploaded"]  # nor of its image
    assert image == {"id": one["image"]["id"], "preview_of": first["id"], "deleted": True}
    await ws.close()
    assert (await client.get(two["image"]["url"], headers=bob.headers)).status == 200  # still used
    assert len(stored_files(blobs)) == 1

    await ok(await client.delete(f"/rooms/{other}/messages/{second['id']}", headers=bob.headers), 204)
    await eventually(lambda: not stored_files(blobs), what="the unreferenced thumbnail removed")


async def test_erasing_the_author_takes_their_previews_and_images_with_them(
    aiohttp_client: Callable[..., Any], aiohttp_server: Callable[..., Any], settings: Settings
) -> None:
    w = await world(aiohttp_client, aiohttp_server, settings)
    site, client, alice, bob, room = w.site, w.client, w.alice, w.bob, w.room
    sent = await post(client, alice, room, f"{site.base}/article")
    [preview] = await previewed(client, bob, room, sent["id"])
    db = client.app[DB]
    erasure = ErasureService(client.app[STORE], UserQueries(db), SessionStore(db, 3600), DeviceKeys(db))
    await erasure.erase(await erasure.find(user_id=alice.id))
    assert "previews" not in await message(client, bob, room, sent["id"])
    assert (await client.get(preview["image"]["url"], headers=bob.headers)).status == 404
    await eventually(lambda: not stored_files(settings.data_dir / "files"), what="the erased user's preview image")


async def test_redirects_to_addresses_not_allowlisted_are_refused(
    aiohttp_client: Callable[..., Any], aiohttp_server: Callable[..., Any], settings: Settings
) -> None:
    # 127.0.0.2 is loopback, a "private" address the operator did not allowlist (127.0.0.1 only)
    secret = Site()

    async def leak(request: web.Request) -> web.Response:
        secret.hits[request.path] += 1
        return web.Response(text=page("Internal admin"), content_type="text/html")

    inner = web.Application()
    inner.router.add_get("/secret", leak)
    server = await aiohttp_server(inner, host="127.0.0.2")
    site = await start_site(aiohttp_server, secret_base=f"http://127.0.0.2:{server.port}")
    client = await aiohttp_client(create_app(preview_settings(settings)))
    alice = await signup(client)
    room = (await make_room(client, alice))["id"]
    for path in ("/to-private", "/to-metadata"):
        sent = await post(client, alice, room, f"{site.base}{path}")
        await settled(client.app[DB], sent["id"])
        assert "previews" not in await message(client, alice, room, sent["id"])
        assert site.hits[path] == 1
    assert secret.hits["/secret"] == 0  # refused after the redirect, before any connection
    direct = await post(client, alice, room, f"http://127.0.0.2:{server.port}/secret")
    await settled(client.app[DB], direct["id"])
    assert "previews" not in await message(client, alice, room, direct["id"])
    assert secret.hits["/secret"] == 0


async def test_pages_are_read_up_to_a_bound_and_only_html_is_previewed(
    aiohttp_client: Callable[..., Any], aiohttp_server: Callable[..., Any], settings: Settings
) -> None:
    site = await start_site(aiohttp_server)
    client = await aiohttp_client(create_app(preview_settings(settings)))
    alice = await signup(client)
    room = (await make_room(client, alice))["id"]
    big = await post(client, alice, room, f"{site.base}/big")
    [preview] = await previewed(client, alice, room, big["id"])
    assert preview["title"] == "Big page"  # from the head, within the first bytes
    assert not site.big_finished  # the rest of its 32 MiB was never read

    for path in ("/late", "/data.json", "/img.png"):
        sent = await post(client, alice, room, f"{site.base}{path}")
        await settled(client.app[DB], sent["id"])
        assert "previews" not in await message(client, alice, room, sent["id"]), path
        assert site.hits[path] == 1


async def test_rooms_and_senders_can_turn_previews_off(
    aiohttp_client: Callable[..., Any], aiohttp_server: Callable[..., Any], settings: Settings
) -> None:
    site = await start_site(aiohttp_server)
    client = await aiohttp_client(create_app(preview_settings(settings)))
    owner, member = await signup(client), await signup(client)
    room = (await make_room(client, owner, members=[member]))["id"]
    settings_url = f"/rooms/{room}/settings"
    assert (await ok(await client.get(settings_url, headers=member.headers)))["link_previews"] is True
    refused = await client.patch(settings_url, json={"link_previews": False}, headers=member.headers)
    assert refused.status == 403  # room admins only
    changed = await ok(await client.patch(settings_url, json={"link_previews": False}, headers=owner.headers))
    assert changed == {"room_mentions": "admins", "link_previews": False}  # the other setting kept
    assert (await client.patch(settings_url, json={}, headers=owner.headers)).status == 422

    off = await post(client, member, room, f"{site.base}/plain")
    await settled(client.app[DB], off["id"])
    assert "previews" not in await message(client, owner, room, off["id"])

    await ok(await client.patch(settings_url, json={"link_previews": True}, headers=owner.headers))
    declined = await post(client, member, room, f"{site.base}/plain", previews=False)
    bracketed = await post(client, member, room, f"see <{site.base}/plain>")
    for sent in (declined, bracketed):
        await settled(client.app[DB], sent["id"])
        assert "previews" not in await message(client, owner, room, sent["id"])
    assert site.hits["/plain"] == 0

    shown = await post(client, member, room, f"{site.base}/plain")
    [preview] = await previewed(client, owner, room, shown["id"])
    assert preview == {"url": f"{site.base}/plain", "title": "Just words", "site_name": "Example"}
    events = await client.app[STORE].read_stream(uuid.UUID(room))
    assert [e.data["link_previews"] for e in events if e.type == "room.settings_changed"] == [False, True]


async def test_a_restarted_server_previews_what_was_queued_while_it_was_down(
    aiohttp_client: Callable[..., Any], aiohttp_server: Callable[..., Any], settings: Settings, tmp_path: Path
) -> None:
    site = await start_site(aiohttp_server)
    first = await aiohttp_client(create_app(preview_settings(settings)))
    alice = await signup(first)
    room = (await make_room(first, alice))["id"]
    await first.app[PREVIEWER].close()  # the worker is gone; the follower still queues
    sent = await post(first, alice, room, f"{site.base}/plain")
    db = first.app[DB]
    await eventually_queued(db, sent["id"])
    await first.close()

    second = await aiohttp_client(create_app(preview_settings(settings)))
    [preview] = await previewed(second, alice, room, sent["id"])
    assert preview["title"] == "Just words"
    assert site.hits["/plain"] == 1


async def eventually_queued(db: Database, message_id: int) -> None:
    loop = asyncio.get_running_loop()
    deadline = loop.time() + 20
    while not await db.fetchval("SELECT count(*) FROM link_preview_jobs WHERE message_id = %s", (message_id,)):
        assert loop.time() < deadline, "never queued"
        await asyncio.sleep(0.05)
