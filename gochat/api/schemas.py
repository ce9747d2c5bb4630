"""The shapes of the HTTP answers as marshmallow schemas, for the API documents (openapi.py).

They describe what `shapes.py` and the views build (PROTOCOL.md's objects and their extensions);
tests/test_openapi.py's schemathesis run checks real answers against them. Keys that are always
present are `required`; keys that may be null `allow_none`.
"""

from __future__ import annotations

from typing import Any

from marshmallow import INCLUDE, Schema, fields, validate

from ..events.catalog import ROLES, ROOM_TYPES

Str, Int, Bool, UUID, Time = fields.String, fields.Integer, fields.Boolean, fields.UUID, fields.DateTime


class Open(Schema):
    """Answers may carry more keys than described (PROTOCOL.md: extend freely); those described
    are checked."""

    class Meta:
        unknown = INCLUDE


def req(field: type[fields.Field[Any]], **kw: object) -> fields.Field[Any]:
    return field(required=True, **kw)  # type: ignore[arg-type]


class ErrorBody(Open):
    code = req(Str, metadata={"description": "machine-readable, e.g. rate_limited"})
    message = req(Str)
    details = fields.Dict()


class Error(Open):
    """PROTOCOL.md's error shape, for every refusal."""

    error = fields.Nested(ErrorBody, required=True)


class User(Open):
    id = req(UUID)
    username = req(Str)
    display_name = req(Str)
    created_at = req(Time)


class Tokens(Open):
    user = fields.Nested(User, required=True)
    access_token = req(Str)
    refresh_token = req(Str)
    token_type = req(Str, validate=validate.OneOf(["Bearer"]))
    expires_in = req(Int)


class Room(Open):
    id = req(UUID)
    name = req(Str)
    type = req(Str, validate=validate.OneOf(ROOM_TYPES))
    topic = req(Str)
    created_by = req(UUID, allow_none=True)
    created_at = req(Time)
    member_count = req(Int)
    last_message_id = req(Int, allow_none=True)
    encrypted = req(Bool, metadata={"description": "end-to-end encrypted: content is a Megolm envelope"})


class Reaction(Open):
    emoji = req(Str)
    count = req(Int)
    me = req(Bool)


class Message(Open):
    id = req(Int)
    message_id = req(Int)
    room_id = req(UUID)
    user_id = req(UUID, allow_none=True)
    content = req(Str)
    timestamp = req(Time)
    client_msg_id = Str()
    edited_at = Time()
    deleted = Bool()
    attachments = fields.List(fields.Dict())
    previews = fields.List(fields.Dict(), metadata={"description": "link previews (docs/api.md)"})
    thread_root = Int()
    reply_count = Int()
    last_reply_id = Int(allow_none=True)
    reactions = fields.List(fields.Nested(Reaction), required=True)


class RoomEntry(Room):
    role = req(Str, validate=validate.OneOf(ROLES))
    unread_count = req(Int)
    last_read_id = req(Int, allow_none=True)
    last_message = fields.Nested(Message, required=True, allow_none=True)


class Member(Open):
    user_id = req(UUID)
    role = req(Str)
    joined_at = req(Time, allow_none=True)


class Membership(Open):
    state = req(Str)
    role = req(Str, allow_none=True)


class RoomDetail(Room):
    members = fields.List(fields.Nested(Member), required=True)
    membership = fields.Nested(Membership, required=True, allow_none=True)


class RoomList(Open):
    rooms = fields.List(fields.Nested(RoomEntry), required=True)
    users = fields.Dict(metadata={"description": "the people named in the rooms, by id"})


class Directory(Open):
    rooms = fields.List(fields.Nested(Room), required=True)
    next = req(Str, allow_none=True)


class MemberState(Open):
    user_id = req(UUID)
    state = req(Str, validate=validate.OneOf(["joined", "invited"]))


class MemberRole(Open):
    user_id = req(UUID)
    role = req(Str, validate=validate.OneOf(ROLES))


class MessagePage(Open):
    messages = fields.List(fields.Nested(Message), required=True)
    has_more = req(Bool)


class Context(Open):
    messages = fields.List(fields.Nested(Message), required=True)
    has_more_before = req(Bool)
    has_more_after = req(Bool)


class Thread(Open):
    root = fields.Nested(Message, required=True)
    messages = fields.List(fields.Nested(Message), required=True)
    has_more = req(Bool)


class Receipt(Open):
    room_id = req(UUID)
    last_read_id = req(Int, allow_none=True)
    unread_count = req(Int)


class SearchHit(Message):
    highlight = req(Str, metadata={"description": "HTML: the excerpt escaped, matches in <mark>"})
    rank = req(fields.Float)


class SearchPage(Open):
    results = fields.List(fields.Nested(SearchHit), required=True)
    next_cursor = req(Str, allow_none=True)


class Presence(Open):
    user_id = req(UUID)
    status = req(Str, validate=validate.OneOf(["online", "offline"]))
    last_seen = req(Time, allow_none=True)


class StateRoom(Open):
    id = req(UUID)
    name = req(Str)
    topic = req(Str)
    type = req(Str)


class Position(Open):
    id = req(Int)
    timestamp = req(Time)


class RoomState(Open):
    room = fields.Nested(StateRoom, required=True)
    members = fields.List(fields.Nested(Member), required=True)
    messages = fields.List(fields.Nested(Message), required=True)
    has_more = req(Bool)
    at = fields.Nested(Position, required=True)


class Health(Open):
    status = req(Str)


class Ready(Open):
    status = req(Str, validate=validate.OneOf(["ok", "degraded", "draining", "unavailable"]))
    checks = req(fields.Dict, keys=Str(), values=Str())


# --- end-to-end encryption (api/devices.py) --------------------------------------------------------
class IdentityKeys(Open):
    curve25519 = req(Str)
    ed25519 = req(Str)


class Device(Open):
    user_id = req(UUID)
    device_id = req(Str)
    identity_keys = fields.Nested(IdentityKeys, required=True)
    display_name = req(Str)


class KeyCount(Open):
    one_time_keys_left = req(Int)
    low = req(Bool, metadata={"description": "time to upload more one-time keys"})


class RegisteredDevice(Device, KeyCount):
    pass


class DeviceList(Open):
    devices = fields.List(fields.Nested(Device), required=True)


class OneTimeKey(Open):
    key_id = req(Str)
    key = req(Str)
    signature = req(Str)
    fallback = req(Bool)


class ClaimedDevice(Device):
    one_time_key = fields.Nested(OneTimeKey, required=True, allow_none=True)


class Claimed(Open):
    keys = fields.List(fields.Nested(ClaimedDevice), required=True)


class Queued(Open):
    queued = req(Int)


class InboxItem(Open):
    id = req(Int)
    sender_id = req(UUID)
    sender_device = req(Str)
    payload = req(fields.Dict)
    created_at = req(Time)


class Inbox(Open):
    messages = fields.List(fields.Nested(InboxItem), required=True)


class InboxQuery(Open):
    after = Int(validate=validate.Range(min=0, max=2**63 - 1))
    limit = Int(validate=validate.Range(min=1, max=500))


# --- people (api/people.py; docs/api.md, People) -------------------------------------------------------
class Status(Open):
    text = req(Str)
    emoji = req(Str, allow_none=True)
    expires_at = req(Time, allow_none=True)


class Person(User):
    """The user object of the people routes (people_wire.user_json)."""

    display = req(Str, metadata={"description": "what to render: the display name, with @username on a collision"})
    name_collision = req(Bool)
    status = fields.Nested(Status, required=True, allow_none=True, metadata={"description": "null once expired"})


class People(Open):
    users = req(fields.Dict, keys=Str(), values=fields.Nested(Person), metadata={"description": "by user id"})


class PeopleFound(Open):
    results = fields.List(fields.Nested(Person), required=True)
    next_cursor = req(Str, allow_none=True)


class Dm(Room):
    user = fields.Nested(Person, required=True, allow_none=True, metadata={"description": "the other person"})


class DmList(Open):
    dms = fields.List(fields.Nested(Dm), required=True)


class Notification(Open):
    id = req(Int)
    message_id = req(Int)
    room_id = req(UUID)
    reason = req(Str)
    read = req(Bool)
    created_at = req(Time)
    actor_id = req(UUID, allow_none=True)
    message = req(fields.Dict)
    room = req(fields.Dict)


class NotificationPage(People):
    notifications = fields.List(fields.Nested(Notification), required=True)
    next_cursor = req(Str, allow_none=True)


class NotificationLevel(Open):
    level = req(Str, validate=validate.OneOf(["all", "mentions", "muted"]))


class Dnd(Open):
    enabled = req(Bool)
    until = req(Time, allow_none=True, metadata={"description": "null: until turned off"})


class RoomSettings(Open):
    room_mentions = req(Str, validate=validate.OneOf(["admins", "members"]))
    link_previews = req(Bool)


class Block(Open):
    user_id = req(UUID)
    since = req(Time)
    user = fields.Nested(Person, required=True, allow_none=True)


class BlockList(Open):
    blocks = fields.List(fields.Nested(Block), required=True)


class AnyObject(Open):
    """A JSON object (the API documents themselves)."""

    class Meta:
        unknown = "include"


# --- query strings (parsed by the views with util.query_int; described here for the documents) ---
class PageQuery(Schema):
    limit = Int(validate=validate.Range(min=1, max=100), metadata={"description": "default 50"})


class HistoryQuery(PageQuery):
    before = Int(validate=validate.Range(min=1, max=2**63 - 1))
    after = Int(validate=validate.Range(min=1, max=2**63 - 1))


class ThreadQuery(PageQuery):
    after = Int(validate=validate.Range(min=1, max=2**63 - 1))


class DirectoryQuery(PageQuery):
    q = Str(metadata={"description": "a part of the name"})
    after = Str(metadata={"description": "the `next` of the previous page"})


class StateQuery(Schema):
    at = req(Str, metadata={"description": "a log position or an RFC 3339 time"})
    before = Int(validate=validate.Range(min=1, max=2**63 - 1))
    limit = Int(validate=validate.Range(min=1, max=100))


class WebSocketQuery(Schema):
    token = req(Str, metadata={"description": "an access token"})
    room_id = UUID(metadata={"description": "subscribe to this room at once"})
    since = Int(validate=validate.Range(min=0), metadata={"description": "resume after this log position"})
