"""Replays serve what history serves now: a deleted message as a tombstone, an edited one with its
current text, an erased author's content blank, on every path that reads the log after the fact
(resume with `since`, a `join` frame with `since`, the relay's reads), and a file gone with its
message (or its uploader's erasure) is replayed without its name. The log keeps the originals."""

from __future__ import annotations

import uuid
from typing import Any

import aiohttp
from file_helpers import uploaded
from helpers import Account, signup
from room_helpers import make_room, ok, post
from test_erasure import erase
from test_ws import Client, connect, until

from gochat.keys import CURRENT_LOG, STORE


async def _history(client: Client, room: str, viewer: Account) -> dict[int, dict[str, Any]]:
    page = await ok(await client.get(f"/rooms/{room}/messages", headers=viewer.headers))
    return {m["id"]: m for m in page["messages"]}


async def _replay(ws: aiohttp.ClientWebSocketResponse, client: Client, room: str, poster: Account) -> list[Any]:
    """Every frame up to a live message posted now (the replay comes before it)."""
    marker = f"live-{uuid.uuid4().hex}"
    await post(client, poster, room, marker)
    frames: list[dict[str, Any]] = []

    def seen(frame: dict[str, Any]) -> bool:
        frames.append(frame)
        return frame.get("content") == marker

    await until(ws, seen)
    return frames[:-1]


async def _story(client: Client) -> tuple[Account, Account, str, dict[str, int]]:
    """alice's public room: a message edited, one deleted, one by bob, who is then erased."""
    alice, bob = await signup(client), await signup(client)
    room = (await make_room(client, alice, "public"))["id"]
    await ok(await client.post(f"/rooms/{room}/join", json={}, headers=bob.headers))
    kept = await post(client, alice, room, "first draft")
    gone = await post(client, alice, room, f"the secret plan, @{bob.username}")
    assert gone.get("mentions"), "the mention is parsed (and must go with the text)"
    bobs = await post(client, bob, room, "bob was here")
    url = f"/rooms/{room}/messages"
    await ok(await client.patch(f"{url}/{kept['id']}", json={"content": "final words"}, headers=alice.headers))
    await ok(await client.delete(f"{url}/{gone['id']}", headers=alice.headers), 204)
    await erase(client, username=bob.username)
    return alice, bob, room, {"kept": kept["id"], "gone": gone["id"], "bobs": bobs["id"]}


def _no_original_text(frames: list[dict[str, Any]]) -> None:
    text = repr(frames)
    for original in ("first draft", "the secret plan", "bob was here"):
        assert original not in text, f"{original!r} came back in a replay"


def _as_history_says(frames: list[dict[str, Any]], ids: dict[str, int]) -> None:
    posts = {f["message_id"]: f for f in frames if f["type"] == "message"}
    assert posts[ids["kept"]]["content"] == "final words"
    assert "edited_at" in posts[ids["kept"]]
    assert "deleted" not in posts[ids["kept"]]
    for tomb in (ids["gone"], ids["bobs"]):
        assert (posts[tomb]["content"], posts[tomb]["deleted"]) == ("", True)
        assert "attachments" not in posts[tomb]
        assert "mentions" not in posts[tomb]
    edits = [f for f in frames if f["type"] == "message_edited"]
    assert [(f["message_id"], f["content"]) for f in edits] == [(ids["kept"], "final words")]
    assert [f["message_id"] for f in frames if f["type"] == "message_deleted"] == [ids["gone"]]


async def test_resume_from_zero_serves_tombstones_and_current_text(client: Client) -> None:
    alice, _, room, ids = await _story(client)
    carol = await signup(client)
    ws = await connect(client, carol, room, since=0)
    frames = await _replay(ws, client, room, alice)
    await ws.close()
    _no_original_text(frames)
    _as_history_says(frames, ids)
    # the same as history shows carol
    history = await _history(client, room, carol)
    posts = {f["message_id"]: f for f in frames if f["type"] == "message"}
    for key in ("kept", "gone", "bobs"):
        assert posts[ids[key]]["content"] == history[ids[key]]["content"]
    # the log itself is untouched: the original text is still there for the operator
    log = await client.app[STORE].read_stream(uuid.UUID(room))
    assert "the secret plan" in repr([e.data for e in log])


async def test_a_join_frame_with_since_serves_the_same(client: Client) -> None:
    alice, _, room, ids = await _story(client)
    carol = await signup(client)
    lobby = (await make_room(client, carol, "public"))["id"]
    ws = await connect(client, carol, lobby)
    await ws.send_json({"type": "join", "room_id": room, "since": 0})
    await until(ws, lambda f: f["type"] == "subscribed" and f["room_id"] == room)
    frames = await _replay(ws, client, room, alice)
    await ws.close()
    _no_original_text(frames)
    _as_history_says(frames, ids)


async def test_the_current_log_keeps_ids_versions_and_other_events_as_they_are(client: Client) -> None:
    _, _, room, ids = await _story(client)
    raw = await client.app[STORE].read_stream(uuid.UUID(room))
    now = await client.app[CURRENT_LOG].read_stream(uuid.UUID(room))
    assert [(e.id, e.version, e.type) for e in now] == [(e.id, e.version, e.type) for e in raw]
    changed = {e.id for e, r in zip(now, raw, strict=True) if e.data != r.data}
    assert changed == {ids["kept"], ids["gone"], ids["bobs"]}  # the one edit's text is current already
    after = await client.app[CURRENT_LOG].read_streams([uuid.UUID(room)], after=ids["gone"])
    assert [e.id for e in after] == [e.id for e in raw if e.id > ids["gone"]]


async def test_a_file_gone_with_its_message_is_replayed_without_its_name(client: Client) -> None:
    alice, bob = await signup(client), await signup(client)
    room = (await make_room(client, alice, "public"))["id"]
    await ok(await client.post(f"/rooms/{room}/join", json={}, headers=bob.headers))
    gone = await uploaded(client, alice, room, b"plans", "the-secret-plan.txt", content="see attached")
    kept = await uploaded(client, bob, room, b"notes", "bobs-notes.txt")
    await ok(await client.delete(f"/rooms/{room}/messages/{gone['message']['id']}", headers=alice.headers), 204)
    await erase(client, user_id=bob.id)  # his file goes with him
    carol = await signup(client)
    ws = await connect(client, carol, room, since=0)
    frames = await _replay(ws, client, room, alice)
    await ws.close()
    assert "secret-plan" not in repr(frames)
    assert "bobs-notes" not in repr(frames)
    files = [f["file"] for f in frames if f["type"] == "file_uploaded"]
    assert files == [{"id": gone["file"]["id"], "deleted": True}, {"id": kept["file"]["id"], "deleted": True}]
    # a file that lives is replayed whole
    live = await uploaded(client, alice, room, b"agenda", "agenda.txt")
    now = await client.app[CURRENT_LOG].read_stream(uuid.UUID(room))
    assert [e.data["attachment"] for e in now if e.type == "file.uploaded"][-1] == live["file"]
    raw = await client.app[STORE].read_stream(uuid.UUID(room))
    assert "the-secret-plan.txt" in repr([e.data for e in raw])  # the log itself keeps it
