"""Every event type gochat writes, with its schema. Streams: a room's id, or a user's id.

Add a type here (and an upcaster when its shape changes: bump `version`, register a function
turning the old data into the new). `build_registry()` is called once by the app factory.
"""

from __future__ import annotations

from marshmallow import RAISE, Schema, fields, validate

from .fields import Emoji, Text, UUIDStr
from .registry import EventRegistry

MESSAGE_MAX = 4000
ROOM_TYPES = ("public", "private", "group")
ROLES = ("owner", "admin", "member")


class _Strict(Schema):
    class Meta:
        unknown = RAISE


# --- users (stream: the user's id) --------------------------------------------------------------
class UserRegistered(_Strict):
    username = Text(required=True, min_len=3, max_len=32, no_bidi=True)
    username_norm = fields.String(required=True)
    display_name = Text(required=True, min_len=1, max_len=64, no_bidi=True)
    # argon2id PHC string, so the users table can be rebuilt from the log; exports redact this field
    password_hash = fields.String(load_default=None, allow_none=True)


class UsernameClaimed(_Strict):
    """Stream: uuid5(namespace, normalized name), appended with NO_STREAM, so a name is taken once."""

    user_id = UUIDStr(required=True)


class UserProfileUpdated(_Strict):
    display_name = Text(required=True, min_len=1, max_len=64, no_bidi=True)


class UserErased(_Strict):
    pass


class PresenceChanged(_Strict):
    # stream: presence_stream(user_id), so concurrent nodes race on one version (see services/presence.py)
    user_id = UUIDStr(required=True)
    status = fields.String(required=True, validate=validate.OneOf(("online", "offline")))


# --- rooms and membership (stream: the room's id) -----------------------------------------------
class RoomCreated(_Strict):
    name = Text(required=True, min_len=1, max_len=100, no_bidi=True)
    type = fields.String(required=True, validate=validate.OneOf(ROOM_TYPES))
    topic = Text(load_default="", max_len=500)
    # group rooms: the fixed, sorted member set that identifies the room
    members = fields.List(UUIDStr(), load_default=None, allow_none=True)


class RoomUpdated(_Strict):
    name = Text(min_len=1, max_len=100, no_bidi=True)
    topic = Text(max_len=500)


class MemberJoined(_Strict):
    user_id = UUIDStr(required=True)
    role = fields.String(required=True, validate=validate.OneOf(ROLES))


class MemberRef(_Strict):
    user_id = UUIDStr(required=True)


class MemberBanned(_Strict):
    user_id = UUIDStr(required=True)
    reason = Text(load_default="", max_len=500)


class MemberRoleChanged(_Strict):
    user_id = UUIDStr(required=True)
    role = fields.String(required=True, validate=validate.OneOf(ROLES))


# --- messages (stream: the room's id; message_id = id of the message.posted event) --------------
class MessagePosted(_Strict):
    content = Text(required=True, min_len=1, max_len=MESSAGE_MAX)
    thread_root = fields.Integer(load_default=None, allow_none=True, strict=True, validate=validate.Range(min=1))
    attachments = fields.List(fields.Dict(), load_default=None, allow_none=True)


class MessageEdited(_Strict):
    message_id = fields.Integer(required=True, strict=True, validate=validate.Range(min=1))
    content = Text(required=True, min_len=1, max_len=MESSAGE_MAX)


class MessageRef(_Strict):
    message_id = fields.Integer(required=True, strict=True, validate=validate.Range(min=1))


class ReactionChanged(_Strict):
    message_id = fields.Integer(required=True, strict=True, validate=validate.Range(min=1))
    emoji = Emoji(required=True)


class TypingStarted(_Strict):
    pass


def build_registry() -> EventRegistry:
    reg = EventRegistry()
    reg.register("user.registered", UserRegistered())
    reg.register("username.claimed", UsernameClaimed())
    reg.register("user.profile_updated", UserProfileUpdated())
    reg.register("user.erased", UserErased())
    reg.register("presence.changed", PresenceChanged())
    reg.register("room.created", RoomCreated())
    reg.register("room.updated", RoomUpdated())
    reg.register("member.joined", MemberJoined())
    reg.register("member.left", MemberRef())
    reg.register("member.invited", MemberRef())
    reg.register("member.kicked", MemberRef())
    reg.register("member.banned", MemberBanned())
    reg.register("member.unbanned", MemberRef())
    reg.register("member.role_changed", MemberRoleChanged())
    reg.register("message.posted", MessagePosted())
    reg.register("message.edited", MessageEdited())
    reg.register("message.deleted", MessageRef())
    reg.register("reaction.added", ReactionChanged())
    reg.register("reaction.removed", ReactionChanged())
    reg.register("receipt.read", MessageRef())
    reg.register("typing.started", TypingStarted())
    return reg
