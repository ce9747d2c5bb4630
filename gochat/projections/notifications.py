"""Projection "notifications": who a message notifies (mentions, DMs, rooms set to all), per-room
levels, do-not-disturb and blocks. A follower (it reads message.posted); its rules are
sql/functions/gochat_apply_notifications.sql and gochat_notification_targets.sql.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any
from uuid import UUID

from ..db import Cursor
from ..events.types import EventType
from .base import SqlProjection

#: reasons that count in a room's mention_count (every reason but a plain message)
MENTION_REASONS = ("mention", "here", "room", "dm")


class NotificationsProjection(SqlProjection):
    name = "notifications"
    tables = ("notifications", "notification_levels", "notification_prefs", "blocks")
    handles = frozenset(
        {
            EventType.MESSAGE_POSTED,
            EventType.MESSAGE_EDITED,
            EventType.MESSAGE_DELETED,
            EventType.RECEIPT_READ,
            EventType.MEMBER_LEFT,
            EventType.MEMBER_KICKED,
            EventType.MEMBER_BANNED,
            EventType.USER_ERASED,
            EventType.NOTIFICATION_LEVEL_SET,
            EventType.NOTIFICATION_READ,
            EventType.NOTIFICATION_READ_ALL,
            EventType.USER_DND_SET,
            EventType.USER_BLOCKED,
            EventType.USER_UNBLOCKED,
        }
    )
    inline = False
    function = "gochat_apply_notifications"


@dataclass(frozen=True, slots=True)
class Notification:
    user_id: UUID
    message_id: int
    room_id: UUID
    actor_id: UUID | None
    reason: str
    created_at: datetime
    read: bool
    content: str
    room_name: str
    room_type: str


_COLUMNS = (
    "n.user_id, n.message_id, n.room_id, n.actor_id, n.reason, n.created_at, n.read, m.content, r.name, r.type"
    " FROM notifications n JOIN messages m ON m.room_id = n.room_id AND m.id = n.message_id"
    " JOIN rooms r ON r.id = n.room_id"
)


def _row(row: Sequence[Any]) -> Notification:
    return Notification(*row)


async def page(cur: Cursor, user_id: UUID, *, before: int | None, limit: int, unread: bool) -> list[Notification]:
    """The user's notifications, newest first, older than `before` (run as the user: RLS applies)."""
    where = "n.user_id = %(me)s AND n.message_id < %(before)s" + (" AND NOT n.read" if unread else "")
    await cur.execute(
        f"SELECT {_COLUMNS} WHERE {where} ORDER BY n.message_id DESC LIMIT %(limit)s",
        {"me": user_id, "before": before or 2**63 - 1, "limit": limit},
    )
    return [_row(r) for r in await cur.fetchall()]


async def fresh(cur: Cursor, after: int, until: int) -> list[Notification]:
    """Notifications created or re-raised by events after < id <= until, not silenced (delivery)."""
    await cur.execute(
        f"SELECT {_COLUMNS} WHERE n.event_id > %s AND n.event_id <= %s AND NOT n.silent AND NOT n.read"
        " ORDER BY n.event_id, n.user_id",
        (after, until),
    )
    return [_row(r) for r in await cur.fetchall()]


async def newest_id(cur: Cursor, user_id: UUID) -> int:
    await cur.execute("SELECT max(message_id) FROM notifications WHERE user_id = %s", (user_id,))
    row = await cur.fetchone()
    return int(row[0] or 0) if row else 0


async def exists(cur: Cursor, user_id: UUID, message_id: int) -> bool:
    await cur.execute("SELECT 1 FROM notifications WHERE user_id = %s AND message_id = %s", (user_id, message_id))
    return await cur.fetchone() is not None


async def mention_counts(cur: Cursor, user_id: UUID) -> dict[UUID, int]:
    """Unread notifications per room that count as mentions (MENTION_REASONS)."""
    await cur.execute(
        "SELECT room_id, count(*) FROM notifications WHERE user_id = %s AND NOT read AND reason = ANY(%s)"
        " GROUP BY room_id",
        (user_id, list(MENTION_REASONS)),
    )
    return {room: int(n) for room, n in await cur.fetchall()}


async def levels(cur: Cursor, user_id: UUID) -> dict[UUID, str]:
    await cur.execute("SELECT room_id, level FROM notification_levels WHERE user_id = %s", (user_id,))
    return {room: str(level) for room, level in await cur.fetchall()}


async def dnd_until(cur: Cursor, user_id: UUID) -> datetime | None:
    # psycopg2 cannot represent 'infinity' as a datetime: year 9999 stands for "until turned off"
    await cur.execute(
        "SELECT CASE WHEN dnd_until = 'infinity' THEN '9999-12-31T00:00:00Z'::timestamptz ELSE dnd_until END"
        " FROM notification_prefs WHERE user_id = %s",
        (user_id,),
    )
    row = await cur.fetchone()
    return row[0] if row else None


async def blocked(cur: Cursor, user_id: UUID) -> list[tuple[UUID, datetime]]:
    await cur.execute(
        "SELECT blocked_id, created_at FROM blocks WHERE user_id = %s ORDER BY created_at, blocked_id", (user_id,)
    )
    return [(u, at) for u, at in await cur.fetchall()]


async def blocks_between(cur: Cursor, a: UUID, b: UUID) -> bool:
    """Whether either user blocked the other (run as the owner: the other side's rows are private)."""
    await cur.execute(
        "SELECT 1 FROM blocks WHERE (user_id = %s AND blocked_id = %s) OR (user_id = %s AND blocked_id = %s)",
        (a, b, b, a),
    )
    return await cur.fetchone() is not None
