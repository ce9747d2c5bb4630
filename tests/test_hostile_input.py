"""Hostile input (hypothesis) over every HTTP write body and every WebSocket frame type: never a
5xx, never a partial write (a refused request leaves the log as it was), JSON bombs refused, and
CR/LF/ANSI in what is logged stays inside one escaped JSON log record.

The routes are the app's own: every POST, PUT and PATCH of its router, each with the fields its
documented body schema reads (api/docs.py), so a route added later is attacked too; likewise every
frame type and field `ws/frames.py` accepts.
"""

from __future__ import annotations

import io
import json
import os
import re
import sys
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import aiohttp
import pytest
from aiohttp.test_utils import TestClient
from helpers import Account, signup
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from room_helpers import head

from gochat.api.docs import doc_of
from gochat.api.openapi import documentable_routes
from gochat.app import create_app
from gochat.keys import STORE
from gochat.settings import Settings
from gochat.ws.frames import FRAME_SCHEMA, FRAME_TYPES
from gochat.ws.handlers import HANDLERS

Client = TestClient[Any, Any]
EXAMPLES = int(os.environ.get("GOCHAT_HOSTILE_EXAMPLES", "300"))
HOSTILE = settings(
    max_examples=EXAMPLES,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)

# Values a client can send: JSON of every kind, with the edges (huge and negative numbers, floats,
# control characters, bidi marks, NUL, long strings) likelier than chance would make them.
scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(),
    st.sampled_from([0, -1, 2**63, 2**63 - 1, -(2**63), 10**30]),
    st.floats(allow_nan=False, allow_infinity=False),
    st.text(max_size=40),
    st.sampled_from(["", " ", "\x00", "\r\n\x1b[31mred", "\u202eevil", "a" * 5000, str(uuid.uuid4()), "👍"]),
)
values = st.recursive(
    scalars,
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner, max_size=4),
    max_leaves=12,
)
FIELDS = ("name", "type", "topic", "members", "content", "client_msg_id", "thread_root", "user_id", "invite",
          "message_id", "role", "reason", "username", "password", "display_name", "refresh_token", "emoji",
          "room_id", "since")  # fmt: skip
bodies = st.one_of(values, st.dictionaries(st.sampled_from(FIELDS), values, max_size=5))


@dataclass
class World:
    client: Client
    alice: Account
    bob: Account
    room: str
    message: int

    def routes(self) -> list[tuple[str, str, dict[str, str] | None, tuple[str, ...]]]:
        """Every route that takes a body: who calls it (None: no token), and the fields it reads.
        Path parameters name the world's room, message and bob (an admin route's target); ids of
        things the world has none of (bots, webhooks, devices) are made up: the body is read first."""
        params = {"room_id": self.room, "user_id": str(self.bob.id), "message_id": str(self.message),
                  "emoji": "👍", "report_id": "1", "event_id": "1", "name": "hostile", "secret": "nope"}  # fmt: skip
        bob_calls = {f"/rooms/{self.room}/join", f"/rooms/{self.room}/leave", f"/invitations/{self.room}/accept",
                     f"/invitations/{self.room}/decline"}  # fmt: skip
        out = []
        for method, pattern, route in documentable_routes(self.client.app):
            if method not in ("POST", "PUT", "PATCH"):
                continue
            url = re.sub(r"\{(\w+)\}", lambda p: params.get(p.group(1), str(uuid.uuid4())), pattern)
            doc = doc_of(route.handler)
            body = doc.body if doc is not None else None
            schema = body() if isinstance(body, type) else body
            fields = tuple(f.data_key or name for name, f in schema.fields.items()) if schema is not None else ()
            caller = None if url.startswith("/auth/") else self.bob.headers if url in bob_calls else self.alice.headers
            out.append((method, url, caller, fields))
        return out


@pytest.fixture
async def world(aiohttp_client: Callable[..., Any], settings: Settings) -> World:
    client: Client = await aiohttp_client(create_app(settings.with_overrides(rate_limits=False)))
    alice, bob = await signup(client), await signup(client)
    resp = await client.post("/rooms", json={"name": "Hostile", "type": "public"}, headers=alice.headers)
    room = (await resp.json())["id"]
    posted = await client.post(f"/rooms/{room}/messages", json={"content": "target"}, headers=alice.headers)
    return World(client, alice, bob, room, (await posted.json())["id"])


async def send(world: World, method: str, url: str, headers: dict[str, str] | None, data: bytes) -> int:
    """The status; a refusal must leave the log as it was."""
    before = await head(world.client)
    all_headers = {"Content-Type": "application/json", **(headers or {})}
    resp = await world.client.request(method, url, data=data, headers=all_headers)
    text = await resp.text()
    assert resp.status < 500, (method, url, data[:200], resp.status, text)
    if resp.status >= 400:
        assert set(json.loads(text)) == {"error"}, text
        assert await head(world.client) == before, ("a refused request wrote", method, url, data[:200])
    return resp.status


def test_the_routes_attacked_are_every_write_route_with_its_fields(world: World) -> None:
    routes = {(method, url): fields for method, url, _, fields in world.routes()}
    r = f"/rooms/{world.room}"
    assert routes[("POST", "/rooms")] == ("name", "type", "topic", "members", "encrypted")
    assert routes[("POST", f"{r}/messages")][:3] == ("content", "client_msg_id", "thread_root")
    for later in (("PUT", f"{r}/slow_mode"), ("POST", "/dms"), ("PUT", "/me/status"), ("POST", f"{r}/commands")):
        assert routes[later], later  # moderation, people, bots: routes added after this test was written
    assert len(routes) >= 45


@HOSTILE
@given(data=st.data())
async def test_no_http_body_gets_a_5xx_or_a_partial_write(world: World, data: st.DataObject) -> None:
    method, url, headers, fields = data.draw(st.sampled_from(world.routes()))
    # mostly the route's own fields, with hostile values; now and then anything at all
    own = st.dictionaries(st.sampled_from(fields), values, min_size=1) if fields else st.just({})
    body = data.draw(st.one_of(own, own, own, bodies))
    await send(world, method, url, headers, json.dumps(body).encode())


QUERY_VALUES = st.one_of(
    st.text(max_size=30),
    st.sampled_from(["²", "١٢", "1e3", "-1", "0", " 5", "1_000", "9" * 30, "\x00", "NaN", "2025-13-40", "a" * 300]),
    # times at the calendar's ends, and one Python reads as 0001-01-01T00:00-20:00 (past year 1 in UTC)
    st.sampled_from(["9999-12-31T23:59:59-23:59", "0001-01-01T00:00:00+23:59", "0001-01-01000-2000"]),
)


@HOSTILE
@given(data=st.data())
async def test_no_query_string_gets_a_5xx(world: World, data: st.DataObject) -> None:
    r, m = f"/rooms/{world.room}", f"/rooms/{world.room}/messages/{world.message}"
    url, names = data.draw(
        st.sampled_from(
            [
                (f"{r}/messages", ("limit", "before", "after")),
                (f"{m}/context", ("limit",)),
                (f"{m}/thread", ("limit", "after")),
                (f"{r}/search", ("q", "limit", "before", "cursor", "order", "user_id", "since", "until")),
                ("/search", ("q", "limit", "cursor", "room_id")),
                (f"{r}/state", ("at", "before", "limit")),
                ("/rooms/directory", ("q", "limit", "after")),
            ]
        )
    )
    params = data.draw(st.dictionaries(st.sampled_from(names), QUERY_VALUES, min_size=1))
    resp = await world.client.get(url, params=params, headers=world.alice.headers)
    assert resp.status < 500, (url, params, resp.status, await resp.text())


async def test_json_bombs_and_oversized_bodies_are_refused(world: World) -> None:
    r, a = f"/rooms/{world.room}/messages", world.alice.headers
    deep = b"[" * 100_000 + b"]" * 100_000
    assert await send(world, "POST", r, a, deep) in (400, 413)
    wide = b"{" + b",".join(b'"k%d": 1' % i for i in range(200_000)) + b"}"
    assert await send(world, "POST", r, a, wide) == 413
    assert await send(world, "POST", r, a, b'{"content": "' + b"x" * (2 << 20) + b'"}') == 413
    assert await send(world, "POST", r, a, b'{"content": 1e999999}') in (400, 422)
    assert await send(world, "POST", r, a, b'{"content": "\\ud800"}') in (400, 422)  # a lone surrogate
    assert await send(world, "POST", r, a, b"\xff\xfe not utf-8") == 400


# --- WebSocket --------------------------------------------------------------------------------------
KINDS = (*FRAME_TYPES, "nope")  # every type a client may send (ws/frames.py), and one it may not
FRAME_FIELDS = tuple(name for name in FRAME_SCHEMA.fields if name != "type")


def frames(world: World) -> st.SearchStrategy[Any]:
    """Frames of every type with hostile fields, the world's real room and message among them
    (so that handlers get past the first checks), and now and then anything at all."""
    real = st.sampled_from([world.room, world.message, str(uuid.uuid4())])
    fields = st.dictionaries(st.sampled_from(FRAME_FIELDS), real | values, max_size=4)
    typed = st.builds(lambda kind, rest: {"type": kind, **rest}, st.sampled_from(KINDS), fields)
    return st.one_of(typed, typed, typed, values)


async def answer(ws: aiohttp.ClientWebSocketResponse) -> list[dict[str, Any]]:
    """Everything the server said before answering a sentinel frame (an unknown type: its error
    names the sentinel's client_msg_id), so each batch's answers are read whole."""
    mark = f"sentinel-{uuid.uuid4().hex}"
    await ws.send_json({"type": "sentinel", "client_msg_id": mark})
    got: list[dict[str, Any]] = []
    while True:
        msg = await ws.receive(timeout=10)
        assert msg.type == aiohttp.WSMsgType.TEXT, f"the socket ended: {msg}"
        frame: dict[str, Any] = msg.json()
        if frame.get("type") == "error" and frame.get("client_msg_id") == mark:
            assert frame["code"] == "validation_failed"
            return got
        got.append(frame)


@HOSTILE
@given(data=st.data())
async def test_no_websocket_frame_breaks_the_socket_or_the_server(world: World, data: st.DataObject) -> None:
    """Each frame answered in turn: never an internal error, and a refused frame leaves the room's
    log as it was (the room's stream, not the whole log: closing a socket appends presence)."""
    batch = data.draw(st.lists(frames(world), min_size=1, max_size=5))
    params = {"token": world.alice.access_token, "room_id": world.room}
    ws = await world.client.ws_connect("/ws", params=params)
    store, room = world.client.app[STORE], uuid.UUID(world.room)
    try:
        for frame in batch:
            before = await store.last_in_stream(room)
            await ws.send_str(json.dumps(frame))
            errors = [f for f in await answer(ws) if f.get("type") == "error"]
            assert not [f for f in errors if f.get("code") == "internal_error"], errors
            if errors:
                assert await store.last_in_stream(room) == before, ("a refused frame wrote", frame, errors)
    finally:
        await ws.close()


async def test_an_error_naming_a_list_item_is_answered_and_a_failing_handler_leaves_the_socket_up(
    world: World, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Found by the test above: marshmallow keys a list item's messages by an int, which the
    socket's JSON encoder refused; the exception reached aiohttp, which wrote an HTTP 500 into the
    upgraded stream (the client read a frame with reserved bits set)."""
    params = {"token": world.alice.access_token, "room_id": world.room}
    ws = await world.client.ws_connect("/ws", params=params)
    try:
        await ws.send_json({"type": "message", "room_id": world.room, "attachments": [None]})
        said = [f for f in await answer(ws) if f["type"] == "error"]
        assert [(f["code"], f["details"]) for f in said] == [
            ("validation_failed", {"attachments": {"0": ["Field may not be null."]}})
        ]

        async def broken(session: Any, data: dict[str, Any]) -> None:
            raise RuntimeError("a bug")

        monkeypatch.setitem(HANDLERS, "leave", broken)
        await ws.send_json({"type": "leave", "room_id": world.room, "client_msg_id": "c1"})
        said = [f for f in await answer(ws) if f["type"] == "error"]
        assert [(f["code"], f["client_msg_id"]) for f in said] == [("internal_error", "c1")]
    finally:
        await ws.close()


# --- logs ---------------------------------------------------------------------------------------------
async def test_control_characters_stay_inside_one_escaped_log_record(
    world: World, monkeypatch: pytest.MonkeyPatch
) -> None:
    from gochat.log import configure_logging, get_logger

    out = io.StringIO()  # not capsys: the app still logs while it shuts down, after the test
    monkeypatch.setattr(sys, "stderr", out)
    configure_logging("info", "json")
    nasty = 'x\r\n{"level": "critical", "event": "forged"}\x1b[2J\x1b[31m'
    await world.client.get(f"/rooms/{world.room}/messages/{nasty}", headers=world.alice.headers)
    await world.client.get("/rooms/directory", params={"q": nasty}, headers=world.alice.headers)
    await world.client.post("/auth/login", json={"username": nasty, "password": nasty})
    get_logger("test").warning("user_input", content=nasty, username=nasty)  # as any code logging input would
    lines = out.getvalue().splitlines()
    records = [json.loads(line) for line in lines]  # every line one whole JSON record
    assert len(records) >= 4
    assert [r["content"] for r in records if r.get("event") == "user_input"] == [nasty]
    assert not [r for r in records if r.get("event") == "forged"]
    assert not any("\x1b" in line or "\r" in line for line in lines)
