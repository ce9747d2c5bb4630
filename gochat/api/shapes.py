"""PROTOCOL.md's room and message objects (plus documented extensions), from projection rows.

The dicts go to `util.json`, whose orjson writes UUIDs in their canonical form and UTC datetimes
as RFC 3339 with `Z` in C: ids and times stay objects here (GET /rooms carries ~800 ids and ~400
times; `str()` and `isoformat()` on each were ~2 ms of a call's CPU).
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any
from uuid import UUID

from ..commands.service import Outcome
from ..projections.history import Message
from ..projections.receipts import RoomEntry

_ZERO = timedelta(0)


def utc_time(at: datetime | None) -> datetime | None:
    """The same instant in UTC, which `util.json` writes as RFC 3339 with `Z` (PROTOCOL.md)."""
    if at is None or at.utcoffset() == _ZERO:
        return at
    return at.astimezone(UTC)


def room_json(room: dict[str, Any]) -> dict[str, Any]:
    """PROTOCOL.md's room, plus `last_message_id` (null in a room without messages)."""
    return {
        "id": room["id"],
        "name": room["name"],
        "type": room["type"],
        "topic": room["topic"],
        "created_by": room["created_by"],
        "created_at": utc_time(room["created_at"]),
        "member_count": room["member_count"],
        "last_message_id": room["last_message_id"],
        "encrypted": room.get("encrypted", False),
    }


def room_entry_json(entry: RoomEntry) -> dict[str, Any]:
    """A room of GET /rooms: the room, the caller's role, marker and unread count, the newest message."""
    return {
        **room_json(entry.room),
        "role": entry.role,
        "unread_count": entry.receipt.unread_count,
        "last_read_id": entry.receipt.last_read_id,
        "last_message": message_json(entry.last_message) if entry.last_message else None,
    }


def member_json(member: dict[str, Any]) -> dict[str, Any]:
    return {"user_id": member["user_id"], "role": member["role"], "joined_at": utc_time(member["joined_at"])}


def message_json(m: Message) -> dict[str, Any]:
    """PROTOCOL.md's message: optional keys only when they apply (`deleted` only on tombstones).
    Extensions: `thread_root` on replies, `reply_count` and `last_reply_id` on thread roots,
    `reactions` (per emoji: count, and whether the caller is among them)."""
    out: dict[str, Any] = {
        "id": m.id,
        "message_id": m.id,
        "room_id": m.room_id,
        "user_id": m.user_id,
        "content": m.content,
        "timestamp": utc_time(m.created_at),
    }
    if m.client_msg_id:
        out["client_msg_id"] = m.client_msg_id
    if m.edited_at:
        out["edited_at"] = utc_time(m.edited_at)
    if m.deleted:
        out["deleted"] = True
    if m.attachments:
        out["attachments"] = m.attachments
    if m.mentions:
        out["mentions"] = m.mentions
    if m.previews:
        out["previews"] = m.previews
    if m.thread_root:
        out["thread_root"] = m.thread_root
    else:
        out["reply_count"] = m.reply_count
        out["last_reply_id"] = m.last_reply_id
    out["reactions"] = [{"emoji": r.emoji, "count": r.count, "me": r.me} for r in m.reactions]
    return out


def command_result(outcome: Outcome, room_id: UUID, client_msg_id: str | None) -> dict[str, Any]:
    """The answer to a command: shown to the caller alone (`ephemeral`), or `public` (then `message`
    is what it posted, which every subscriber of the room also receives)."""
    body: dict[str, Any] = {"type": "command_result", "command": f"/{outcome.command}", "room_id": str(room_id),
                            "visibility": outcome.visibility, "text": outcome.text}  # fmt: skip
    if outcome.message is not None:
        body["message"] = message_json(outcome.message)
    if client_msg_id is not None:
        body["client_msg_id"] = client_msg_id
    return body
