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


# --- invitations, uploads, moderation, commands -----------------------------------------------------
class Invitation(Open):
    room = fields.Nested(Room, required=True)
    invited_by = req(UUID, allow_none=True)
    invited_at = req(Time)


class InvitationList(Open):
    invitations = fields.List(fields.Nested(Invitation), required=True)


class Uploaded(Open):
    file = req(fields.Dict, metadata={"description": "the attachment object (docs/api.md, Files)"})
    message = fields.Nested(Message, required=True, allow_none=True, metadata={"description": "null with send=false"})


class Mute(Open):
    user_id = req(UUID)
    until = req(Time)


class MuteList(Open):
    mutes = fields.List(fields.Nested(Mute), required=True)


class SlowMode(Open):
    seconds = req(Int)


class Report(Open):
    id = req(Int)
    room_id = req(UUID)
    message_id = req(Int)
    reporter = req(UUID)
    reason = req(Str)
    created_at = req(Time)
    state = req(Str, validate=validate.OneOf(["open", "resolved"]))
    action = req(Str, allow_none=True)
    resolved_by = req(UUID, allow_none=True)
    resolved_at = req(Time, allow_none=True)


class ReportList(Open):
    reports = fields.List(fields.Nested(Report), required=True)


class Pins(Open):
    messages = fields.List(fields.Nested(Message), required=True)


class AdminUser(User):
    bot = req(Bool)
    server_admin = req(Bool)
    deactivated = req(Bool)


class AdminUsers(Open):
    users = fields.List(fields.Nested(AdminUser), required=True)
    next = req(Str, allow_none=True, metadata={"description": "pass as `after` for the next page"})


class ModerationEntry(Open):
    id = req(Int)
    type = req(Str)
    actor_id = req(UUID, allow_none=True)
    timestamp = req(Time)
    data = req(fields.Dict)
    frame = req(fields.Dict, allow_none=True, metadata={"description": "the live frame, null for reports"})


class ModerationHistory(Open):
    events = fields.List(fields.Nested(ModerationEntry), required=True)
    next_before = req(Int, allow_none=True)


class CommandInfo(Open):
    name = req(Str)
    description = req(Str)
    usage = req(Str)
    source = req(Str, validate=validate.OneOf(["builtin", "bot"]))
    bot_id = UUID()


class CommandList(Open):
    commands = fields.List(fields.Nested(CommandInfo), required=True)


class CommandResult(Open):
    type = req(Str, validate=validate.OneOf(["command_result"]))
    command = req(Str)
    room_id = req(UUID)
    visibility = req(Str, validate=validate.OneOf(["ephemeral", "public"]))
    text = req(Str, allow_none=True)
    message = fields.Nested(Message, metadata={"description": "what a public result posted"})
    client_msg_id = Str()


class CommandSecret(Open):
    name = req(Str)
    secret = req(Str, metadata={"description": "signs the calls to the bot (shown once)"})


# --- bots and webhooks (api/bots.py, api/webhooks.py) ------------------------------------------------
class Bot(User):
    bot = req(Bool)
    created_by = req(UUID, allow_none=True, metadata={"description": "null: made by an operator"})
    room_id = req(UUID, allow_none=True, metadata={"description": "null: a server-wide bot"})
    server_wide = req(Bool)


class NewBot(Open):
    bot = fields.Nested(Bot, required=True)


class BotList(Open):
    bots = fields.List(fields.Nested(Bot), required=True)


class BotPage(BotList):
    next = req(Str, allow_none=True, metadata={"description": "pass as `after` for the next page"})


class BotToken(Open):
    id = req(UUID)
    bot_id = req(UUID)
    name = req(Str)
    scopes = fields.List(Str(validate=validate.OneOf(["read", "write"])), required=True)
    rooms = fields.List(UUID(), required=True, allow_none=True, metadata={"description": "null: every room"})
    created_by = req(UUID, allow_none=True)
    created_at = req(Time)
    revoked_at = req(Time, allow_none=True)


class IssuedBotToken(BotToken):
    token = req(Str, metadata={"description": "the secret, shown this once"})


class BotTokenList(Open):
    tokens = fields.List(fields.Nested(BotToken), required=True)


class Revoked(Open):
    revoked = fields.List(UUID(), required=True, metadata={"description": "the ids of the tokens revoked"})


class _RoomHook(Open):
    """What outgoing and incoming webhooks share."""

    id = req(UUID)
    room_id = req(UUID)
    created_by = req(UUID)
    created_at = req(Time)


class Webhook(_RoomHook):
    url = req(Str)
    events = fields.List(Str(), required=True)


class NewWebhook(Webhook):
    secret = req(Str, metadata={"description": "signs every delivery (shown this once)"})


class WebhookList(Open):
    webhooks = fields.List(fields.Nested(Webhook), required=True)


class Delivery(Open):
    webhook_id = req(UUID)
    event_id = req(Int)
    state = req(Str)
    attempts = req(Int)
    next_attempt_at = req(Time)
    last_status = req(Int, allow_none=True)
    last_error = req(Str, allow_none=True)
    updated_at = req(Time)


class DeliveryList(Open):
    deliveries = fields.List(fields.Nested(Delivery), required=True)


class IncomingWebhook(_RoomHook):
    bot_id = req(UUID)
    name = req(Str)


class NewIncomingWebhook(IncomingWebhook):
    url = req(Str, metadata={"description": "/hooks/<secret>: post to it (shown this once)"})


class IncomingWebhookList(Open):
    incoming_webhooks = fields.List(fields.Nested(IncomingWebhook), required=True)


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
