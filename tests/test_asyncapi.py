"""The AsyncAPI document describes every frame the server sends: each room event live/wire.py
renders, and real frames of the kinds that are not room events or that only some rooms carry
(notifications, profile changes, command results, files, a declined invitation, mentions, and a
message of an end-to-end encrypted room, whose content is the envelope the document names)."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from typing import Any

import jsonschema_rs
import orjson
from aiohttp.test_utils import TestClient
from file_helpers import uploaded
from helpers import signup
from test_ws import connect, make_room, until

from gochat.api.asyncapi import build_asyncapi
from gochat.events.catalog import build_registry
from gochat.events.model import RecordedEvent
from gochat.events.types import EventType as T
from gochat.live.wire import RENDER, render

Client = TestClient[Any, Any]
Validators = dict[str, Any]


def frame_validators(api: dict[str, Any]) -> Validators:
    """Frame type -> a validator of the one server message whose `type` enum names it."""
    out: Validators = {}
    for name, message in api["components"]["messages"].items():
        if name == "client_frame":
            continue
        for kind in message["payload"]["properties"]["type"]["enum"]:
            assert kind not in out, f"frame type {kind!r} is described twice"
            out[kind] = jsonschema_rs.validator_for(message["payload"])
    return out


def check(validators: Validators, frame: dict[str, Any]) -> None:
    assert frame["type"] in validators, f"frame type {frame['type']!r} is not in /asyncapi.json"
    validators[frame["type"]].validate(frame)


# --- every room event the server renders -----------------------------------------------------------
USER, MESSAGE = str(uuid.uuid4()), 41
SHA = "ab" * 32
FILE = {"id": str(uuid.uuid4()), "name": "notes.txt", "size": 5, "content_type": "text/plain", "kind": "text"}
# Data as each event type's schema takes it, for every type live/wire.py renders.
SAMPLES: dict[str, dict[str, Any]] = {
    T.MESSAGE_POSTED: {
        "content": "hi @bob",
        "thread_root": 7,
        "attachments": [FILE],
        "mentions": [{"kind": "user", "offset": 3, "length": 4, "user_id": USER}],
    },
    T.MESSAGE_EDITED: {
        "message_id": MESSAGE,
        "content": "hello @bob",
        "mentions": [{"kind": "here", "offset": 6, "length": 5}],
    },
    T.MESSAGE_DELETED: {"message_id": MESSAGE},
    T.REACTION_ADDED: {"message_id": MESSAGE, "emoji": "👍"},
    T.REACTION_REMOVED: {"message_id": MESSAGE, "emoji": "👍"},
    T.RECEIPT_READ: {"message_id": MESSAGE},
    T.TYPING_STARTED: {},
    T.ROOM_UPDATED: {"name": "renamed", "topic": "new topic"},
    T.MEMBER_JOINED: {"user_id": USER, "role": "member"},
    T.MEMBER_LEFT: {"user_id": USER},
    T.MEMBER_KICKED: {"user_id": USER},
    T.MEMBER_BANNED: {"user_id": USER, "reason": "spam"},
    T.MEMBER_INVITED: {"user_id": USER},
    T.MEMBER_DECLINED: {"user_id": USER},
    T.MEMBER_UNBANNED: {"user_id": USER},
    T.MEMBER_ROLE_CHANGED: {"user_id": USER, "role": "admin"},
    T.FILE_UPLOADED: {
        "file_id": FILE["id"],
        "name": "notes.txt",
        "size": 5,
        "content_type": "text/plain",
        "kind": "text",
        "blob": SHA,
        "attachment": FILE,
    },
    T.FILE_DELETED: {"file_id": FILE["id"]},
    T.MEMBER_MUTED: {"user_id": USER, "minutes": 10},
    T.MEMBER_UNMUTED: {"user_id": USER},
    T.ROOM_SLOW_MODE_SET: {"seconds": 30},
    T.MESSAGE_PINNED: {"message_id": MESSAGE},
    T.MESSAGE_UNPINNED: {"message_id": MESSAGE},
    T.MESSAGE_LINK_PREVIEW: {"message_id": MESSAGE, "previews": [{"url": "https://example.com/", "title": "Example"}]},
}


def test_every_room_event_the_server_renders_is_a_frame_the_document_describes() -> None:
    # A new entry in live/wire.py's RENDER needs a sample here, and then a message in asyncapi.py.
    assert set(RENDER) == set(SAMPLES)
    registry, validators = build_registry(), frame_validators(build_asyncapi())
    for n, (kind, data) in enumerate(SAMPLES.items(), start=1):
        event = RecordedEvent(
            id=100 + n,
            stream_id=uuid.uuid4(),
            version=n,
            type=kind,
            schema_version=1,
            data=registry.validate(kind, data),  # the sample is an event the log could hold
            metadata={},
            actor_id=uuid.uuid4(),
            client_msg_id="c1" if kind == T.MESSAGE_POSTED else None,
            recorded_at=datetime.now(UTC),
        )
        frame = render(event)
        assert frame is not None, kind
        check(validators, orjson.loads(orjson.dumps(frame)))


def test_a_frame_the_document_does_not_describe_is_refused() -> None:
    """The check above could fail: the payloads are closed, and their types are enumerated."""
    validators = frame_validators(build_asyncapi())
    assert "no_such_frame" not in validators
    assert not validators["message_deleted"].is_valid(
        {
            "type": "message_deleted",
            "id": 1,
            "room_id": USER,
            "user_id": None,
            "timestamp": "x",
            "message_id": 1,
            "x": 1,
        }
    )


# --- real frames of every other kind ------------------------------------------------------------------
async def test_real_frames_of_people_commands_files_invitations_and_encrypted_rooms_match_the_document(
    client: Client,
) -> None:
    api = await (await client.get("/asyncapi.json")).json()
    validators = frame_validators(api)
    alice, bob, carol = await signup(client), await signup(client), await signup(client)
    room = await make_room(client, alice)
    assert (await client.post(f"/rooms/{room}/join", json={}, headers=bob.headers)).status == 200
    ws_a, ws_b = await connect(client, alice, room), await connect(client, bob, room)
    seen_a: list[dict[str, Any]] = []
    seen_b: list[dict[str, Any]] = []

    async def wait(ws: Any, seen: list[dict[str, Any]], kind: str) -> dict[str, Any]:
        def keep(f: dict[str, Any]) -> bool:
            seen.append(f)
            return bool(f["type"] == kind)

        return await until(ws, keep, timeout=15)

    # A mention: the message carries `mentions`, and alice is notified.
    posted = await client.post(
        f"/rooms/{room}/messages", json={"content": f"hi @{alice.username}"}, headers=bob.headers
    )
    assert posted.status == 201
    mentioned = await wait(ws_a, seen_a, "message")
    assert mentioned["mentions"][0]["user_id"] == str(alice.id)
    await wait(ws_a, seen_a, "notification")
    # A profile change reaches those who share a room.
    assert (await client.patch("/me", json={"display_name": "Alice A."}, headers=alice.headers)).status == 200
    updated = await wait(ws_b, seen_b, "user_updated")
    assert updated["user"]["display_name"] == "Alice A."
    # A slash command answers its sender.
    await ws_a.send_json({"type": "command", "room_id": room, "content": "/shrug fine", "client_msg_id": "cmd1"})
    result = await wait(ws_a, seen_a, "command_result")
    assert result["visibility"] == "public"
    # An upload is a file_uploaded frame before its message.
    await uploaded(client, alice, room, b"hello", "notes.txt")
    await wait(ws_b, seen_b, "file_uploaded")
    # A declined invitation.
    private = await make_room(client, alice, "private")
    await ws_a.send_json({"type": "join", "room_id": private})
    await wait(ws_a, seen_a, "subscribed")
    invited = await client.post(f"/rooms/{private}/members", json={"user_id": str(carol.id)}, headers=alice.headers)
    assert invited.status in (200, 201), await invited.text()
    assert (await client.post(f"/invitations/{private}/decline", json={}, headers=carol.headers)).status == 204
    await wait(ws_a, seen_a, "decline")
    # An encrypted room: the frame's content is the envelope the document names.
    created = await client.post(
        "/rooms", json={"name": "secret", "type": "private", "encrypted": True}, headers=alice.headers
    )
    secret = (await created.json())["id"]
    await ws_a.send_json({"type": "join", "room_id": secret})
    await wait(ws_a, seen_a, "subscribed")
    envelope = {
        "algorithm": "m.megolm.v1.aes-sha2",
        "ciphertext": "AwgAEhCQ",
        "sender_key": "c2VuZGVy",
        "session_id": "c2Vzc2lvbg",
        "device_id": "d1",
    }
    sent = await client.post(
        f"/rooms/{secret}/messages", json={"content": orjson.dumps(envelope).decode()}, headers=alice.headers
    )
    assert sent.status == 201, await sent.text()
    ciphered = await wait(ws_a, seen_a, "message")
    while ciphered["room_id"] != secret:
        ciphered = await wait(ws_a, seen_a, "message")
    envelope_schema = api["components"]["schemas"]["EncryptedEnvelope"]["contentSchema"]
    jsonschema_rs.validator_for(envelope_schema).validate(orjson.loads(ciphered["content"]))

    for frame in seen_a + seen_b:
        check(validators, frame)
    kinds = {f["type"] for f in seen_a + seen_b}
    assert {"notification", "user_updated", "command_result", "file_uploaded", "decline", "message"} <= kinds
    await ws_a.close()
    await ws_b.close()
