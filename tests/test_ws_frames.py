"""Client frames: the quick loader for the frames a chat sends most agrees with the schema."""

from __future__ import annotations

import uuid
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st
from marshmallow import ValidationError

from gochat.ws.frames import ClientFrame, quick_load

ROOM = "0b7f4a57-1f0e-4a8e-9d52-5d3f1f6c2a11"
SCHEMA = ClientFrame()

_values = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(-3, 3),
    st.floats(allow_nan=False),
    st.text(max_size=70),
    st.sampled_from(["message", "typing", "read", "join", "dance", "", "x" * 64, "x" * 65]),
    st.uuids().map(str),
    st.uuids().map(lambda u: u.hex.upper()),
    st.uuids().map(lambda u: "{" + str(u) + "}"),
    st.lists(st.integers(), max_size=2),
    st.dictionaries(st.text(max_size=3), st.integers(), max_size=1),
)
_random_frames = st.dictionaries(
    st.sampled_from(["type", "room_id", "content", "client_msg_id", "message_id", "emoji", "since", "other"]),
    _values,
    max_size=5,
)
# Mostly well-formed message/typing frames with a bad value or a stray key now and then: the
# inputs where the quick loader answers, or has to notice it should not.
_near_frames = st.fixed_dictionaries(
    {"type": st.one_of(st.sampled_from(["message", "typing"]), _values)},
    optional={
        "room_id": st.one_of(st.uuids().map(str), _values),
        "content": st.one_of(st.text(max_size=100), _values),
        "client_msg_id": st.one_of(st.text(min_size=1, max_size=64), _values),
        "message_id": _values,
    },
)
_frames = st.one_of(_near_frames, _random_frames)


def schema_load(raw: dict[str, Any]) -> dict[str, Any] | None:
    try:
        return dict(SCHEMA.load(raw))
    except ValidationError:
        return None


@settings(max_examples=2000, deadline=None)
@given(_frames)
def test_what_the_quick_loader_accepts_the_schema_loads_the_same(raw: dict[str, Any]) -> None:
    quick = quick_load(raw)
    if quick is not None:
        assert quick == schema_load(raw)


@settings(max_examples=500, deadline=None)
@given(
    st.sampled_from(["message", "typing"]),
    st.uuids(),
    st.text(max_size=200),
    st.text(min_size=1, max_size=64),
)
def test_valid_messages_and_typing_take_the_quick_path(kind: str, room: uuid.UUID, content: str, cmid: str) -> None:
    raw = {"type": kind, "room_id": str(room).upper(), "content": content, "client_msg_id": cmid}
    assert quick_load(raw) == schema_load(raw) == {**raw, "room_id": str(room)}


def test_anything_unusual_is_left_to_the_schema() -> None:
    for raw in (
        {"type": "message", "room_id": ROOM, "client_msg_id": "x" * 65},
        {"type": "message", "room_id": ROOM, "client_msg_id": ""},
        {"type": "message", "room_id": "not-a-uuid"},
        {"type": "message", "room_id": ROOM, "content": None},
        {"type": "message", "room_id": ROOM, "content": 7},
        {"type": "message", "room_id": ROOM, "surprise": 1},
        {"type": "join", "room_id": ROOM},
        {"type": ["message"], "room_id": ROOM},
    ):
        assert quick_load(raw) is None, raw
