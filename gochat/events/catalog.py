"""Every event type gochat writes, with its schema. Streams: a room's id, or a user's id.

Add a type here (and an upcaster when its shape changes: bump `version`, register a function
turning the old data into the new). `build_registry()` is called once by the app factory.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from marshmallow import RAISE, Schema, ValidationError, fields, validate, validates_schema

from .fields import Emoji, Text, UUIDStr, clean_emoji, clean_text
from .registry import EventRegistry
from .types import EventType

MESSAGE_MAX = 4000
#: content of a message in an encrypted room: the JSON of a Megolm envelope (services/devices.py)
ENCRYPTED_MAX = 16_000
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
    # UTS #39 skeleton of the normalized name (auth/confusables.py): display names are compared to it
    username_skeleton = fields.String()


class UserSkeletonSet(_Strict):
    """The skeleton of a user's username, for users whose user.registered predates it."""

    username_skeleton = fields.String(required=True, validate=validate.Length(min=1))


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
    # end-to-end encrypted from creation, never switched back (absent: not encrypted)
    encrypted = fields.Boolean()


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
class Mention(_Strict):
    """A mention entity (services/mentions.py): `offset`/`length` in code points of the content."""

    kind = fields.String(required=True, validate=validate.OneOf(("user", "room", "here")))
    offset = fields.Integer(required=True, strict=True, validate=validate.Range(min=0))
    length = fields.Integer(required=True, strict=True, validate=validate.Range(min=1))
    user_id = UUIDStr()  # kind "user" only


class _Content(_Strict):
    """`content` is text, or in an encrypted room (`encrypted`, set by the server, absent otherwise)
    an opaque envelope the server cannot read, allowed to be longer than the text it carries."""

    content = Text(required=True, min_len=1, max_len=ENCRYPTED_MAX)
    encrypted = fields.Boolean()

    @validates_schema
    def _text_limit(self, data: dict[str, Any], **kw: Any) -> None:
        if not data.get("encrypted") and len(data.get("content", "")) > MESSAGE_MAX:
            raise ValidationError(f"Longer than {MESSAGE_MAX} characters.", "content")


class MessagePosted(_Content):
    # may be empty only when the message carries attachments (a file sent without a caption)
    content = Text(required=True, min_len=0, max_len=ENCRYPTED_MAX)
    thread_root = fields.Integer(load_default=None, allow_none=True, strict=True, validate=validate.Range(min=1))
    attachments = fields.List(fields.Dict(), load_default=None, allow_none=True)
    # step 12: mentions parsed at send time; `here`: the members online then, for @here (both only
    # when there are mentions: other events keep the shape they had)
    mentions = fields.List(fields.Nested(Mention))
    here = fields.List(UUIDStr())
    # the sender asked for no link previews (absent otherwise; gochat/previews/)
    no_previews = fields.Boolean()

    @validates_schema
    def _content_or_attachments(self, data: dict[str, Any], **kw: Any) -> None:
        if not data.get("content") and not data.get("attachments"):
            raise ValidationError("Must not be empty.", field_name="content")


class MessageEdited(_Content):
    message_id = fields.Integer(required=True, strict=True, validate=validate.Range(min=1))
    mentions = fields.List(fields.Nested(Mention))
    here = fields.List(UUIDStr())
    # the edit asked for no link previews: the message shows none (absent otherwise; gochat/previews/)
    no_previews = fields.Boolean()


class MessageRef(_Strict):
    message_id = fields.Integer(required=True, strict=True, validate=validate.Range(min=1))


class ReactionChanged(_Strict):
    message_id = fields.Integer(required=True, strict=True, validate=validate.Range(min=1))
    emoji = Emoji(required=True)


class TypingStarted(_Strict):
    pass


# --- files (stream: the room's id; services/files.py) -------------------------------------------
FILE_KINDS = ("image", "audio", "voice", "video", "pdf", "text", "file")
_SHA256 = validate.Regexp(r"^[0-9a-f]{64}$")


class FileUploaded(_Strict):
    """A file stored (content-addressed by the sha256 of the bytes kept) and shared in the room."""

    file_id = UUIDStr(required=True)
    name = Text(required=True, min_len=1, max_len=255)
    size = fields.Integer(required=True, strict=True, validate=validate.Range(min=0))
    content_type = fields.String(required=True, validate=validate.Length(min=1, max=100))
    kind = fields.String(required=True, validate=validate.OneOf(FILE_KINDS))
    blob = fields.String(required=True, validate=_SHA256)
    thumbnail_blob = fields.String(load_default=None, allow_none=True, validate=_SHA256)
    # a link preview's image: the message it belongs to (absent for uploads; gochat/previews/)
    preview_of = fields.Integer(strict=True, validate=validate.Range(min=1))
    # what a message carrying the file shows (services/files.py `attachment`)
    attachment = fields.Dict(required=True)


class FileDeleted(_Strict):
    file_id = UUIDStr(required=True)


# --- people (step 12): streams are the acting user's id, except room.settings_changed ------------
class UserStatusSet(_Strict):
    """Empty text and emoji clear the status."""

    text = Text(load_default="", max_len=100, no_bidi=True)
    emoji = fields.String(load_default=None, allow_none=True)
    expires_at = fields.String(load_default=None, allow_none=True)  # RFC 3339, UTC


class RoomSettingsChanged(_Strict):
    """The settings it names change; the others keep their value (at least one is named)."""

    room_mentions = fields.String(validate=validate.OneOf(("admins", "members")))
    # link previews on (default) or off in the room (gochat/previews/)
    link_previews = fields.Boolean()

    @validates_schema
    def _some_setting(self, data: dict[str, Any], **kw: Any) -> None:
        if not data:
            raise ValidationError("Name at least one setting.", field_name="_schema")


class NotificationLevelSet(_Strict):
    room_id = UUIDStr(required=True)
    level = fields.String(required=True, validate=validate.OneOf(("all", "mentions", "muted")))


class NotificationReadAll(_Strict):
    up_to = fields.Integer(required=True, strict=True, validate=validate.Range(min=0))


class DndSet(_Strict):
    """`until`: do not disturb until then; "infinity" until turned off; null: off."""

    until = fields.String(load_default=None, allow_none=True)


# --- fast paths for the hot types (about a tenth of marshmallow's cost; tests/test_event_fast_paths.py
# checks each against its schema on generated input) ------------------------------------------------
_POSTED_KEYS = frozenset(("content", "thread_root", "attachments"))


def _message_id(value: Any) -> int | None:
    return value if type(value) is int and value >= 1 else None


def fast_message_posted(data: Mapping[str, Any]) -> dict[str, Any] | None:
    content, thread_root = data.get("content"), data.get("thread_root")
    if type(content) is not str or not data.keys() <= _POSTED_KEYS or data.get("attachments") is not None:
        return None
    if thread_root is not None and _message_id(thread_root) is None:
        return None
    return {
        "content": clean_text(content, min_len=1, max_len=MESSAGE_MAX),
        "thread_root": thread_root,
        "attachments": None,
    }


def fast_message_ref(data: Mapping[str, Any]) -> dict[str, Any] | None:
    message_id = _message_id(data.get("message_id"))
    return {"message_id": message_id} if message_id is not None and len(data) == 1 else None


def fast_reaction(data: Mapping[str, Any]) -> dict[str, Any] | None:
    message_id, emoji = _message_id(data.get("message_id")), data.get("emoji")
    if message_id is None or type(emoji) is not str or len(data) != 2:
        return None
    return {"message_id": message_id, "emoji": clean_emoji(emoji)}


def fast_empty(data: Mapping[str, Any]) -> dict[str, Any] | None:
    return {} if not data else None


class BotCreated(_Strict):
    """Stream: the bot's user id, appended with its user.registered (a bot is a user without a password)."""

    created_by = UUIDStr(required=True, allow_none=True)  # None: an operator (`gochat bots create`)
    room_id = UUIDStr(load_default=None, allow_none=True)  # None: a server-wide bot


MUTE_MAX_MINUTES = 60 * 24 * 365
SLOW_MODE_MAX_SECONDS = 24 * 3600
REPORT_ACTIONS = ("dismiss", "delete", "mute", "kick", "ban")


class MemberMuted(_Strict):
    """Stream: the room. The mute lasts `minutes` from the event's time."""

    user_id = UUIDStr(required=True)
    minutes = fields.Integer(strict=True, required=True, validate=validate.Range(min=1, max=MUTE_MAX_MINUTES))


class SlowModeSet(_Strict):
    seconds = fields.Integer(strict=True, required=True, validate=validate.Range(min=0, max=SLOW_MODE_MAX_SECONDS))


class MessageReported(_Strict):
    message_id = fields.Integer(strict=True, required=True, validate=validate.Range(min=1))
    reason = Text(required=True, min_len=1, max_len=500)


class ReportResolved(_Strict):
    report_id = fields.Integer(strict=True, required=True, validate=validate.Range(min=1))
    action = fields.String(required=True, validate=validate.OneOf(REPORT_ACTIONS))


class AdminSet(_Strict):
    """Stream: the user. Appended by `gochat users admin` only."""

    admin = fields.Boolean(required=True)


# --- link previews (stream: the room's id; gochat/previews/) -------------------------------------
PREVIEW_TEXT_MAX = 500


class PreviewImage(_Strict):
    """The preview's picture: a file of the room (`file.uploaded` with `preview_of`), a thumbnail."""

    id = UUIDStr(required=True)
    url = fields.String(required=True, validate=validate.Length(min=1, max=200))
    content_type = fields.String(required=True, validate=validate.Length(min=1, max=100))
    width = fields.Integer(required=True, strict=True, validate=validate.Range(min=1))
    height = fields.Integer(required=True, strict=True, validate=validate.Range(min=1))


class Preview(_Strict):
    """What one URL of the message showed: `url` as written in the message, the rest from the page."""

    url = fields.String(required=True, validate=validate.Length(min=1, max=2048))
    title = Text(max_len=PREVIEW_TEXT_MAX)
    description = Text(max_len=PREVIEW_TEXT_MAX)
    site_name = Text(max_len=200)
    image = fields.Nested(PreviewImage)


class MessageLinkPreview(_Strict):
    """A message's previews, all of them (the last event for its text wins). Empty: the previews an
    edit kept were none (appended with the edit, so live clients drop what it removed)."""

    message_id = fields.Integer(required=True, strict=True, validate=validate.Range(min=1))
    previews = fields.List(fields.Nested(Preview), required=True, validate=validate.Length(max=10))
    # the message.edited whose text was previewed (absent: the text as posted)
    edit_id = fields.Integer(strict=True, validate=validate.Range(min=1))


def build_registry() -> EventRegistry:
    reg = EventRegistry()
    reg.register(EventType.USER_REGISTERED, UserRegistered())
    reg.register(EventType.USERNAME_CLAIMED, UsernameClaimed())
    reg.register(EventType.USER_PROFILE_UPDATED, UserProfileUpdated())
    reg.register(EventType.USER_ERASED, UserErased())
    reg.register(EventType.PRESENCE_CHANGED, PresenceChanged())
    reg.register(EventType.ROOM_CREATED, RoomCreated())
    reg.register(EventType.ROOM_UPDATED, RoomUpdated())
    reg.register(EventType.MEMBER_JOINED, MemberJoined())
    reg.register(EventType.MEMBER_LEFT, MemberRef())
    reg.register(EventType.MEMBER_INVITED, MemberRef())
    reg.register(EventType.MEMBER_KICKED, MemberRef())
    reg.register(EventType.MEMBER_BANNED, MemberBanned())
    reg.register(EventType.MEMBER_UNBANNED, MemberRef())
    reg.register(EventType.MEMBER_ROLE_CHANGED, MemberRoleChanged())
    reg.register(EventType.MESSAGE_POSTED, MessagePosted(), fast=fast_message_posted)
    reg.register(EventType.MESSAGE_EDITED, MessageEdited())
    reg.register(EventType.MESSAGE_DELETED, MessageRef(), fast=fast_message_ref)
    reg.register(EventType.REACTION_ADDED, ReactionChanged(), fast=fast_reaction)
    reg.register(EventType.REACTION_REMOVED, ReactionChanged(), fast=fast_reaction)
    reg.register(EventType.RECEIPT_READ, MessageRef(), fast=fast_message_ref)
    reg.register(EventType.TYPING_STARTED, TypingStarted(), fast=fast_empty)
    # The invitee turned an invitation down (accepting is member.joined by the invitee).
    reg.register(EventType.MEMBER_DECLINED, MemberRef())
    reg.register(EventType.BOT_CREATED, BotCreated())
    reg.register(EventType.MEMBER_MUTED, MemberMuted())
    reg.register(EventType.MEMBER_UNMUTED, MemberRef())
    reg.register(EventType.ROOM_SLOW_MODE_SET, SlowModeSet())
    reg.register(EventType.MESSAGE_REPORTED, MessageReported())
    reg.register(EventType.REPORT_RESOLVED, ReportResolved())
    reg.register(EventType.MESSAGE_PINNED, MessageRef())
    reg.register(EventType.MESSAGE_UNPINNED, MessageRef())
    reg.register(EventType.USER_ADMIN_SET, AdminSet())
    reg.register(EventType.USER_DEACTIVATED, _Strict())
    reg.register(EventType.USER_REACTIVATED, _Strict())
    reg.register(EventType.FILE_UPLOADED, FileUploaded())
    reg.register(EventType.FILE_DELETED, FileDeleted())
    reg.register(EventType.USER_STATUS_SET, UserStatusSet())
    reg.register(EventType.ROOM_SETTINGS_CHANGED, RoomSettingsChanged())
    reg.register(EventType.NOTIFICATION_LEVEL_SET, NotificationLevelSet())
    reg.register(EventType.NOTIFICATION_READ, MessageRef())
    reg.register(EventType.NOTIFICATION_READ_ALL, NotificationReadAll())
    reg.register(EventType.USER_DND_SET, DndSet())
    reg.register(EventType.USER_BLOCKED, MemberRef())
    reg.register(EventType.USER_UNBLOCKED, MemberRef())
    reg.register(EventType.USER_SKELETON_SET, UserSkeletonSet())
    reg.register(EventType.MESSAGE_LINK_PREVIEW, MessageLinkPreview(), version=1)
    return reg
