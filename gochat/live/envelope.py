"""The format of what nodes send each other over the broker.

Every payload on the room, presence and control channels starts with one header line,
`node|id|version|stream|type|member[|traceparent]` and a newline, followed by the frame's JSON
(room channels; nothing for a room event subscribers are not sent, a marker that keeps the room's
sequence whole) or nothing (presence, control). The receiver drops its own node's payloads
(brokers deliver a node's publishes to itself too). `member` is the user a removal concerns, or
`-`; the traceparent (W3C) is there only while OpenTelemetry is on: enable it once every node
reads it. On the control channel `id` is the session to close and the other fields are `-`.
Channels of other modules (people.py, erasures.py) carry a shorter header, `node|key`
(`encode_from`, `decode_from`).

The header is plain text so a node can tell what a payload is without parsing its JSON, and a
test or an operator can read it (`redis-cli subscribe`); changing it needs every node upgraded
together.
"""

from __future__ import annotations

from datetime import datetime
from typing import NamedTuple
from uuid import UUID

import orjson

from ..events.model import RecordedEvent

ROOM_PREFIX = "room:"
PRESENCE_CHANNEL = "presence"
CONTROL_CHANNEL = "control"
NO_MEMBER = "-"


def room_channel(room: UUID) -> str:
    return ROOM_PREFIX + str(room)


class Header(NamedTuple):
    """A payload's header line, as text: each channel's receiver converts what it reads."""

    node: str
    id: str
    version: str
    stream: str
    type: str
    member: str
    traceparent: str | None

    def member_id(self) -> str | None:
        return None if self.member == NO_MEMBER else self.member


def encode_event(node: str, e: RecordedEvent, member: str | None, data: bytes, traceparent: str | None = None) -> bytes:
    """A room frame (`data`) or a presence change (empty `data`) of event `e`, from `node`."""
    tail = f"|{traceparent}" if traceparent else ""
    return f"{node}|{e.id}|{e.version}|{e.stream_id}|{e.type}|{member or NO_MEMBER}{tail}\n".encode() + data


def encode_control(node: str, session_id: UUID) -> bytes:
    """Close a login's sockets on every node."""
    return f"{node}|{session_id}|-|-|-|-\n".encode()


def decode(payload: bytes) -> tuple[Header, bytes]:
    """The header and what follows it."""
    line, _, data = payload.partition(b"\n")
    node, id_, version, stream, type_, member, *trace = line.decode().split("|")
    return Header(node, id_, version, stream, type_, member, trace[0] if trace else None), data


def encode_from(node: str, data: bytes = b"", key: str = "") -> bytes:
    """A payload of another module's channel: `node|key`, a newline, then `data`."""
    return f"{node}|{key}\n".encode() + data


def decode_from(payload: bytes) -> tuple[str, str, bytes]:
    """(node, key, data) of an `encode_from` payload."""
    line, _, data = payload.partition(b"\n")
    node, _, key = line.decode().partition("|")
    return node, key, data


def commit_time(data: bytes) -> float:
    """Commit time of a room frame (its `timestamp`), for the cross-node lag metric."""
    ts = orjson.loads(data)["timestamp"]
    return datetime.fromisoformat(ts.replace("Z", "+00:00")).timestamp()
