"""The AsyncAPI 3.0 document of the WebSocket protocol (PROTOCOL.md), from marshmallow schemas: the
client frames are ws/frames.py's own `ClientFrame`; the server frames, which live/wire.py, live/
people.py, live/erasures.py and ws/ build as dicts, are described here. Each message's `type` enum
names the frame types it describes, and every frame type is in exactly one message:
tests/test_asyncapi.py renders every room event live/wire.py sends and checks real frames of every
other kind against them."""

from __future__ import annotations

from typing import Any

from marshmallow import RAISE, Schema, fields, validate

from .. import __version__
from ..services.devices import Envelope
from ..ws.frames import FRAME_TYPES, ClientFrame
from . import schemas as api_schemas
from .openapi import new_spec
from .schemas import WebSocketQuery

Str, Int, UUID = fields.String, fields.Integer, fields.UUID
NullableUUID = fields.UUID(required=True, allow_none=True)


def _type(*names: str) -> fields.Field[Any]:
    return fields.String(required=True, validate=validate.OneOf(names))


class _RoomEvent(Schema):
    """Every frame of a room event: its log position, room, author and commit time."""

    id = Int(required=True, metadata={"description": "the event's log position (resume with since=id)"})
    room_id = UUID(required=True)
    user_id = fields.UUID(required=True, allow_none=True)
    timestamp = Str(required=True, metadata={"format": "date-time"})


CONTENT = (
    "the text; in an end-to-end encrypted room (the room's `encrypted`), the JSON text of an"
    " `EncryptedEnvelope` (components.schemas)"
)
MENTIONS = "who the text mentions: `{kind: user|room|here, offset, length, user_id?}` (docs/api.md, Mentions)"


class MessageFrame(_RoomEvent):
    type = _type("message")
    message_id = Int(required=True)
    content = Str(required=True, metadata={"description": CONTENT})
    client_msg_id = Str()
    thread_root = Int()
    attachments = fields.List(fields.Dict(), metadata={"description": "attachment objects (docs/api.md, Files)"})
    mentions = fields.List(fields.Dict(), metadata={"description": MENTIONS})
    edited_at = Str(metadata={"format": "date-time", "description": "replays only: edited since"})
    deleted = fields.Boolean(metadata={"description": "replays only: deleted since (content is empty)"})


class MessageEditedFrame(_RoomEvent):
    type = _type("message_edited")
    message_id = Int(required=True)
    content = Str(required=True, metadata={"description": CONTENT})
    edited_at = Str(required=True)
    mentions = fields.List(fields.Dict(), metadata={"description": MENTIONS})


class MessageDeletedFrame(_RoomEvent):
    type = _type("message_deleted")
    message_id = Int(required=True)


class ReactionFrame(_RoomEvent):
    type = _type("reaction")
    message_id = Int(required=True)
    emoji = Str(required=True)
    action = _type("added", "removed")


class ReadFrame(_RoomEvent):
    type = _type("read")
    message_id = Int(required=True)


class TypingFrame(_RoomEvent):
    type = _type("typing")


class MemberFrame(_RoomEvent):
    type = _type("join", "leave", "invite", "decline", "unban", "role")
    actor_id = fields.UUID(required=True, allow_none=True)
    reason = Str(validate=validate.OneOf(["kicked", "banned"]))
    role = Str()


class RoomUpdatedFrame(_RoomEvent):
    type = _type("room_updated")
    name = Str()
    topic = Str()


class MuteFrame(_RoomEvent):
    """A member muted (`until`, `minutes`) or unmuted: `user_id` is the member, `actor_id` the moderator."""

    type = _type("mute", "unmute")
    actor_id = fields.UUID(required=True, allow_none=True)
    minutes = Int()
    until = Str(metadata={"format": "date-time"})


class SlowModeFrame(_RoomEvent):
    type = _type("slow_mode")
    seconds = Int(required=True, metadata={"description": "one message per this many seconds per member; 0: off"})


class PinFrame(_RoomEvent):
    type = _type("message_pinned", "message_unpinned")
    message_id = Int(required=True)


class LinkPreviewFrame(_RoomEvent):
    type = _type("link_preview")
    message_id = Int(required=True)
    previews = fields.List(fields.Dict(), required=True, metadata={"description": "docs/api.md, Link previews"})
    deleted = fields.Boolean()


class FileUploadedFrame(_RoomEvent):
    type = _type("file_uploaded")
    file = fields.Dict(required=True, metadata={"description": "the attachment object (docs/api.md, Files)"})


class FileDeletedFrame(_RoomEvent):
    type = _type("file_deleted")
    file_id = UUID(required=True)


class LiveNotification(api_schemas.Notification):
    """What `GET /notifications` lists (docs/api.md, Notifications), plus the author."""

    actor = fields.Nested(api_schemas.Person, required=True, allow_none=True)


class NotificationFrame(Schema):
    """To every socket of the recipient, on every node; not a room event (no `id`)."""

    type = _type("notification")
    notification = fields.Nested(LiveNotification, required=True)


class UserUpdatedFrame(Schema):
    """A display name or status changed: to sockets sharing a room with the user, and the user's own."""

    type = _type("user_updated")
    user = fields.Nested(api_schemas.Person, required=True)


class UserErasedFrame(Schema):
    """A user was erased (live/erasures.py): to the sockets subscribed to a room where their
    messages became tombstones or their reactions went, on every node; not a room event (no `id`)."""

    type = _type("user_erased")
    room_id = UUID(required=True)
    user_id = UUID(required=True)
    event_id = Int(
        required=True,
        metadata={"description": "the user.erased event (its tombstones' deletion); not a resume cursor"},
    )


class CommandResultFrame(api_schemas.CommandResult):
    """The answer to a `command` frame, to the sender only (docs/api.md, Slash commands): what
    `POST /rooms/:id/commands` answers."""

    class Meta:
        unknown = RAISE


class PresenceFrame(Schema):
    type = _type("presence")
    user_id = Str(required=True)
    status = _type("online", "offline")
    last_seen = Str(required=True, allow_none=True)


class AckFrame(Schema):
    type = _type("ack")
    client_msg_id = Str(required=True, allow_none=True)
    message_id = Int(required=True)
    id = Int(required=True)
    room_id = UUID(required=True)
    timestamp = Str(required=True)
    duplicate = fields.Boolean()


class ErrorFrame(Schema):
    type = _type("error")
    code = Str(required=True)
    message = Str(required=True)
    client_msg_id = Str()
    details = fields.Dict()
    retry_after = fields.Float()


class SubscribedFrame(Schema):
    type = _type("subscribed")
    room_id = UUID(required=True)
    head = Int(required=True, metadata={"description": "the room's newest event id here"})


class UnsubscribedFrame(Schema):
    type = _type("unsubscribed")
    room_id = UUID(required=True)


class ResyncRequiredFrame(Schema):
    type = _type("resync_required")
    id = Int(required=True)
    room_ids = fields.List(UUID(), required=True)


SERVER_FRAMES: dict[str, type[Schema]] = {
    "message": MessageFrame,
    "message_edited": MessageEditedFrame,
    "message_deleted": MessageDeletedFrame,
    "reaction": ReactionFrame,
    "read": ReadFrame,
    "typing": TypingFrame,
    "member": MemberFrame,
    "room_updated": RoomUpdatedFrame,
    "link_preview": LinkPreviewFrame,
    "file_uploaded": FileUploadedFrame,
    "file_deleted": FileDeletedFrame,
    "notification": NotificationFrame,
    "user_updated": UserUpdatedFrame,
    "user_erased": UserErasedFrame,
    "command_result": CommandResultFrame,
    "presence": PresenceFrame,
    "ack": AckFrame,
    "error": ErrorFrame,
    "subscribed": SubscribedFrame,
    "unsubscribed": UnsubscribedFrame,
    "resync_required": ResyncRequiredFrame,
    "mute": MuteFrame,
    "slow_mode": SlowModeFrame,
    "message_pinned": PinFrame,
}
CLOSE_CODES = {
    1001: "the server is shutting down: reconnect (to another node) with since",
    4008: "too far behind (slow consumer): reconnect with since",
    4401: "the access token expired or the session was revoked",
    4404: "the room does not exist or is not visible",
}


def _inline(node: Any, schemas: dict[str, Any]) -> Any:
    """`node` with every `$ref` to a component schema replaced by the schema itself, so each
    message's payload stands alone (a validator needs nothing else)."""
    if isinstance(node, dict):
        ref = node.get("$ref")
        if isinstance(ref, str) and ref.startswith("#/components/schemas/"):
            return _inline(schemas[ref.rsplit("/", 1)[1]], schemas)
        return {k: _inline(v, schemas) for k, v in node.items()}
    if isinstance(node, list):
        return [_inline(v, schemas) for v in node]
    return node


def build_asyncapi() -> dict[str, Any]:
    spec, plugin = new_spec("gochat", "")
    assert plugin.converter is not None
    converter = plugin.converter

    def payload(schema: type[Schema]) -> dict[str, Any]:
        out: dict[str, Any] = converter.schema2jsonschema(schema())  # type: ignore[no-untyped-call]
        out.pop("description", None)
        return out

    raw: dict[str, Any] = {
        "client_frame": {
            "name": "client_frame",
            "title": "A client frame",
            "summary": ", ".join(FRAME_TYPES) + " (PROTOCOL.md, docs/api.md)",
            "contentType": "application/json",
            "payload": payload(ClientFrame),
        }
    }
    for name, schema in SERVER_FRAMES.items():
        raw[name] = {"name": name, "contentType": "application/json", "payload": payload(schema)}
    envelope = {
        "type": "string",
        "contentMediaType": "application/json",
        "contentSchema": payload(Envelope),
        "description": "A message's `content` in an end-to-end encrypted room: a Megolm message and its"
        " sender (docs/api.md, End-to-end encryption). The server checks this shape, never the plaintext.",
    }
    messages: dict[str, Any] = _inline(raw, spec.to_dict().get("components", {}).get("schemas", {}))
    refs = {name: {"$ref": f"#/components/messages/{name}"} for name in messages}
    close = "; ".join(f"{code}: {why}" for code, why in CLOSE_CODES.items())
    return {
        "asyncapi": "3.0.0",
        "info": {
            "title": "gochat WebSocket protocol",
            "version": __version__,
            "description": "Connect to /ws?token=<access token>; frames are JSON text. Close codes: " + close,
        },
        "defaultContentType": "application/json",
        "channels": {
            "live": {
                "address": "/ws",
                "messages": refs,
                "bindings": {"ws": {"query": payload(WebSocketQuery), "bindingVersion": "0.1.0"}},
            }
        },
        "operations": {
            "clientSends": {
                "action": "receive",
                "channel": {"$ref": "#/channels/live"},
                "messages": [{"$ref": "#/channels/live/messages/client_frame"}],
            },
            "serverSends": {
                "action": "send",
                "channel": {"$ref": "#/channels/live"},
                "messages": [{"$ref": f"#/channels/live/messages/{n}"} for n in SERVER_FRAMES],
            },
        },
        "components": {"messages": messages, "schemas": {"EncryptedEnvelope": envelope}},
    }
