"""Every event type, as one enumeration.

A member is its wire and storage string (`EventType.MESSAGE_POSTED == "message.posted"`), so code
comparing against the bare strings, and events read back from the log (whose `type` is a plain
str), agree with code using the members. events/catalog.py registers a schema for each member
(tests/test_event_types.py holds the two lists equal): add a type in both places.
"""

from __future__ import annotations

from enum import StrEnum


class EventType(StrEnum):
    # users (stream: the user's id; a username's claim stream for USERNAME_CLAIMED)
    USER_REGISTERED = "user.registered"
    USERNAME_CLAIMED = "username.claimed"
    USER_PROFILE_UPDATED = "user.profile_updated"
    USER_ERASED = "user.erased"
    PRESENCE_CHANGED = "presence.changed"
    # rooms and membership (stream: the room's id)
    ROOM_CREATED = "room.created"
    ROOM_UPDATED = "room.updated"
    MEMBER_JOINED = "member.joined"
    MEMBER_LEFT = "member.left"
    MEMBER_INVITED = "member.invited"
    MEMBER_KICKED = "member.kicked"
    MEMBER_BANNED = "member.banned"
    MEMBER_UNBANNED = "member.unbanned"
    MEMBER_ROLE_CHANGED = "member.role_changed"
    # a room's content (stream: the room's id)
    MESSAGE_POSTED = "message.posted"
    MESSAGE_EDITED = "message.edited"
    MESSAGE_DELETED = "message.deleted"
    REACTION_ADDED = "reaction.added"
    REACTION_REMOVED = "reaction.removed"
    RECEIPT_READ = "receipt.read"
    TYPING_STARTED = "typing.started"
    # an invitee turned an invitation down (accepting is MEMBER_JOINED by the invitee)
    MEMBER_DECLINED = "member.declined"
    # step 15: bots (stream: the bot's user id), moderation (stream: the room's id, or the user's
    # for the server-wide ones)
    BOT_CREATED = "bot.created"
    MEMBER_MUTED = "member.muted"
    MEMBER_UNMUTED = "member.unmuted"
    ROOM_SLOW_MODE_SET = "room.slow_mode_set"
    MESSAGE_REPORTED = "message.reported"
    REPORT_RESOLVED = "report.resolved"
    MESSAGE_PINNED = "message.pinned"
    MESSAGE_UNPINNED = "message.unpinned"
    USER_ADMIN_SET = "user.admin_set"
    USER_DEACTIVATED = "user.deactivated"
    USER_REACTIVATED = "user.reactivated"
    # files (stream: the room's id; services/files.py)
    FILE_UPLOADED = "file.uploaded"
    FILE_DELETED = "file.deleted"
    # people (step 12): the acting user's stream, except ROOM_SETTINGS_CHANGED (the room's)
    USER_STATUS_SET = "user.status_set"
    ROOM_SETTINGS_CHANGED = "room.settings_changed"
    NOTIFICATION_LEVEL_SET = "notification.level_set"
    NOTIFICATION_READ = "notification.read"
    NOTIFICATION_READ_ALL = "notification.read_all"
    USER_DND_SET = "user.dnd_set"
    USER_BLOCKED = "user.blocked"
    USER_UNBLOCKED = "user.unblocked"
    # issue #18: the skeleton of the username of a user registered before skeletons were recorded
    # (stream: the user's id; services/skeletons.py)
    USER_SKELETON_SET = "user.skeleton_set"
    # link previews (stream: the room's id; gochat/previews/): what a message's URLs showed
    MESSAGE_LINK_PREVIEW = "message.link_preview"
