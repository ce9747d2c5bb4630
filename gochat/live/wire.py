"""Events as WebSocket frames (PROTOCOL.md): the seed's shape plus `id`, one function per type.

Pure functions of the event, so every node renders an event identically whether it committed it
or heard of it over the broker, and a resume replay sends exactly what live delivery sent.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Any

from ..events.model import RecordedEvent, uuid_text
from ..events.types import EventType

Frame = dict[str, Any]


def timestamp(at: datetime) -> str:
    return at.isoformat().replace("+00:00", "Z")


def _base(kind: str, e: RecordedEvent) -> Frame:
    return {
        "type": kind,
        "id": e.id,
        "room_id": uuid_text(e.stream_id),
        "user_id": uuid_text(e.actor_id) if e.actor_id else None,
        "timestamp": timestamp(e.recorded_at),
    }


def _message(e: RecordedEvent) -> Frame:
    f = _base("message", e)
    f["message_id"] = e.id
    f["content"] = e.data["content"]
    if e.client_msg_id:
        f["client_msg_id"] = e.client_msg_id
    if e.data.get("thread_root"):
        f["thread_root"] = e.data["thread_root"]
    if e.data.get("attachments"):
        f["attachments"] = e.data["attachments"]
    # Only on posts read back through projections/current.py: the message's state now.
    if e.data.get("edited_at"):
        f["edited_at"] = e.data["edited_at"]
    if e.data.get("deleted"):
        f["deleted"] = True
    if e.data.get("mentions"):
        f["mentions"] = e.data["mentions"]
    return f


def _edited(e: RecordedEvent) -> Frame:
    f = _base("message_edited", e)
    f.update(message_id=e.data["message_id"], content=e.data["content"], edited_at=f["timestamp"])
    if e.data.get("mentions"):
        f["mentions"] = e.data["mentions"]
    return f


def _deleted(e: RecordedEvent) -> Frame:
    f = _base("message_deleted", e)
    f["message_id"] = e.data["message_id"]
    return f


def _reaction(e: RecordedEvent) -> Frame:
    f = _base("reaction", e)
    f.update(
        message_id=e.data["message_id"],
        emoji=e.data["emoji"],
        action="added" if e.type == EventType.REACTION_ADDED else "removed",
    )
    return f


def _read(e: RecordedEvent) -> Frame:
    f = _base("read", e)
    f["message_id"] = e.data["message_id"]
    return f


def _typing(e: RecordedEvent) -> Frame:
    return _base("typing", e)


_MEMBER_KIND: dict[str, str] = {
    EventType.MEMBER_JOINED: "join",
    EventType.MEMBER_LEFT: "leave",
    EventType.MEMBER_KICKED: "leave",
    EventType.MEMBER_BANNED: "leave",
    EventType.MEMBER_INVITED: "invite",
    EventType.MEMBER_DECLINED: "decline",
    EventType.MEMBER_UNBANNED: "unban",
    EventType.MEMBER_ROLE_CHANGED: "role",
}


def _member(e: RecordedEvent) -> Frame:
    f = _base(_MEMBER_KIND[e.type], e)
    # user_id is the member concerned; the actor (who kicked, invited...) is reported separately.
    f["actor_id"] = f["user_id"]
    f["user_id"] = e.data["user_id"]
    if e.type in (EventType.MEMBER_KICKED, EventType.MEMBER_BANNED):
        f["reason"] = "kicked" if e.type == EventType.MEMBER_KICKED else "banned"
    if "role" in e.data:
        f["role"] = e.data["role"]
    return f


def _room_updated(e: RecordedEvent) -> Frame:
    f = _base("room_updated", e)
    f.update({k: v for k, v in e.data.items() if k in ("name", "topic")})
    return f


def _file(e: RecordedEvent) -> Frame:
    # Room events like any other: every event of a room stream is a frame, so the relay's
    # per-room sequence has no holes (a hole waits for a gap fill from the log).
    if e.type == EventType.FILE_UPLOADED:
        f = _base("file_uploaded", e)
        f["file"] = e.data["attachment"]
    else:
        f = _base("file_deleted", e)
        f["file_id"] = e.data["file_id"]
    return f


def _moderation(e: RecordedEvent) -> Frame:
    """Room moderation every member sees (docs/api.md, "Moderation frames"): a mute or unmute (so
    the muted member learns it, with `until`), slow mode, a pin or unpin. Reports and their
    resolution are not sent: they stay with the room's admins (what a resolution does, a deletion
    or a mute, is its own event and frame)."""
    if e.type in (EventType.MEMBER_MUTED, EventType.MEMBER_UNMUTED):
        f = _base("mute" if e.type == EventType.MEMBER_MUTED else "unmute", e)
        # as member frames: user_id is the member concerned, actor_id the moderator
        f["actor_id"] = f["user_id"]
        f["user_id"] = e.data["user_id"]
        if e.type == EventType.MEMBER_MUTED:
            f["minutes"] = e.data["minutes"]
            f["until"] = timestamp(e.recorded_at + timedelta(minutes=e.data["minutes"]))
        return f
    if e.type == EventType.ROOM_SLOW_MODE_SET:
        f = _base("slow_mode", e)
        f["seconds"] = e.data["seconds"]
        return f
    f = _base("message_pinned" if e.type == EventType.MESSAGE_PINNED else "message_unpinned", e)
    f["message_id"] = e.data["message_id"]
    return f


#: Room events that are moderation, delivered live to the room (`_moderation`).
MODERATION_FRAMES = (
    EventType.MEMBER_MUTED,
    EventType.MEMBER_UNMUTED,
    EventType.ROOM_SLOW_MODE_SET,
    EventType.MESSAGE_PINNED,
    EventType.MESSAGE_UNPINNED,
)


# The one list of what room subscribers receive live (and on resume): an event type with no entry
# here is not sent to sockets. A room event left out still takes a version of the room's stream,
# which every node's sequencer (sequencer.py) then skips only by a gap fill from the log: a delay
# for the room's next frame.
def _link_preview(e: RecordedEvent) -> Frame:
    # The message's author is the frame's user_id (the previewer appends in their name).
    f = _base("link_preview", e)
    f.update(message_id=e.data["message_id"], previews=e.data["previews"])
    # Only read back through projections/current.py, for a message deleted since: no previews.
    if e.data.get("deleted"):
        f["deleted"] = True
    return f


RENDER: dict[str, Callable[[RecordedEvent], Frame]] = {
    EventType.MESSAGE_POSTED: _message,
    EventType.MESSAGE_EDITED: _edited,
    EventType.MESSAGE_DELETED: _deleted,
    EventType.REACTION_ADDED: _reaction,
    EventType.REACTION_REMOVED: _reaction,
    EventType.RECEIPT_READ: _read,
    EventType.TYPING_STARTED: _typing,
    EventType.ROOM_UPDATED: _room_updated,
    **dict.fromkeys(_MEMBER_KIND, _member),
    EventType.FILE_UPLOADED: _file,
    EventType.FILE_DELETED: _file,
    **dict.fromkeys(MODERATION_FRAMES, _moderation),
    EventType.MESSAGE_LINK_PREVIEW: _link_preview,
}


#: Room-stream events no subscriber is sent: room.created (before anyone can subscribe), reports
#: and their resolution (they stay with the room's admins), settings changes (the answer to the
#: request carries them). Each still takes a version of the room's stream, so nodes pass a marker
#: with no frame for it (relay.py) and no node holds the room's next frame for a gap fill.
UNSENT_ROOM_EVENTS = frozenset(
    {EventType.ROOM_CREATED, EventType.MESSAGE_REPORTED, EventType.REPORT_RESOLVED, EventType.ROOM_SETTINGS_CHANGED}
)


# Membership events after which the member concerned stops receiving the room (the relay drops
# their subscriptions, a resume's replay stops there).
REMOVALS = frozenset({EventType.MEMBER_LEFT, EventType.MEMBER_KICKED, EventType.MEMBER_BANNED})


def render(e: RecordedEvent) -> Frame | None:
    """The frame for a room event, or None for events that are not sent to room subscribers."""
    fn = RENDER.get(e.type)
    return fn(e) if fn else None


def presence_frame(user_id: str, status: str, last_seen: datetime | None) -> Frame:
    return {
        "type": "presence",
        "user_id": user_id,
        "status": status,
        "last_seen": timestamp(last_seen) if last_seen else None,
    }
