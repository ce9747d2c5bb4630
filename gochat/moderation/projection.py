"""The moderation projection (rules: sql/functions/gochat_apply_moderation.sql) and its queries."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from ..db import Cursor
from ..events.types import EventType
from ..projections.base import SqlProjection


class ModerationProjection(SqlProjection):
    name = "moderation"
    tables = ("room_moderation", "room_mutes", "reports", "pins", "server_admins", "deactivated_users")
    handles = frozenset(
        {
            EventType.MEMBER_MUTED,
            EventType.MEMBER_UNMUTED,
            EventType.ROOM_SLOW_MODE_SET,
            EventType.MESSAGE_REPORTED,
            EventType.REPORT_RESOLVED,
            EventType.MESSAGE_PINNED,
            EventType.MESSAGE_UNPINNED,
            EventType.USER_ADMIN_SET,
            EventType.USER_DEACTIVATED,
            EventType.USER_REACTIVATED,
            EventType.USER_ERASED,  # the reasons of the user's own reports
        }
    )
    function = "gochat_apply_moderation"


@dataclass(frozen=True, slots=True)
class RoomRules:
    """What a post in a room is checked against (moderation/gate.py)."""

    slow_mode_seconds: int
    muted_until: dict[uuid.UUID, datetime]
    moderators: frozenset[uuid.UUID]


async def room_rules(cur: Cursor, room_id: uuid.UUID) -> RoomRules:
    await cur.execute(
        "SELECT (SELECT slow_mode_seconds FROM room_moderation WHERE room_id = %s),"
        " (SELECT coalesce(array_agg(user_id), '{}') FROM memberships"
        "   WHERE room_id = %s AND state = 'joined' AND role IN ('owner', 'admin'))",
        (room_id, room_id),
    )
    row = await cur.fetchone()
    assert row is not None
    await cur.execute("SELECT user_id, until FROM room_mutes WHERE room_id = %s AND until > now()", (room_id,))
    mutes: dict[uuid.UUID, datetime] = dict(await cur.fetchall())
    return RoomRules(row[0] or 0, mutes, frozenset(row[1]))


@dataclass(frozen=True, slots=True)
class Report:
    id: int
    room_id: uuid.UUID
    message_id: int
    reporter: uuid.UUID
    reason: str
    created_at: datetime
    state: str
    action: str | None
    resolved_by: uuid.UUID | None
    resolved_at: datetime | None

    def public(self) -> dict[str, Any]:
        return {"id": self.id, "room_id": self.room_id, "message_id": self.message_id,
                "reporter": self.reporter, "reason": self.reason, "created_at": self.created_at,
                "state": self.state, "action": self.action, "resolved_by": self.resolved_by,
                "resolved_at": self.resolved_at}  # fmt: skip


_REPORT = "id, room_id, message_id, reporter, reason, created_at, state, action, resolved_by, resolved_at"


async def reports(cur: Cursor, room_id: uuid.UUID, state: str | None, limit: int) -> list[Report]:
    where = "room_id = %s" + (" AND state = %s" if state else "")
    params: tuple[Any, ...] = (room_id, state, limit) if state else (room_id, limit)
    await cur.execute(f"SELECT {_REPORT} FROM reports WHERE {where} ORDER BY id DESC LIMIT %s", params)
    return [Report(*row) for row in await cur.fetchall()]


async def get_report(cur: Cursor, room_id: uuid.UUID, report_id: int) -> Report | None:
    await cur.execute(f"SELECT {_REPORT} FROM reports WHERE room_id = %s AND id = %s", (room_id, report_id))
    row = await cur.fetchone()
    return None if row is None else Report(*row)


async def pinned_ids(cur: Cursor, room_id: uuid.UUID) -> list[int]:
    await cur.execute(
        "SELECT message_id FROM pins WHERE room_id = %s ORDER BY pinned_at DESC, message_id DESC", (room_id,)
    )
    return [row[0] for row in await cur.fetchall()]


async def is_server_admin(cur: Cursor, user_id: uuid.UUID) -> bool:
    await cur.execute("SELECT 1 FROM server_admins WHERE user_id = %s", (user_id,))
    return await cur.fetchone() is not None


async def is_deactivated(cur: Cursor, user_id: uuid.UUID) -> bool:
    await cur.execute("SELECT 1 FROM deactivated_users WHERE user_id = %s", (user_id,))
    return await cur.fetchone() is not None


@dataclass(frozen=True, slots=True)
class UserRow:
    id: uuid.UUID
    username: str
    display_name: str
    created_at: datetime
    bot: bool
    server_admin: bool
    deactivated: bool
    username_norm: str  # the page cursor

    def public(self) -> dict[str, Any]:
        return {"id": self.id, "username": self.username, "display_name": self.display_name,
                "created_at": self.created_at, "bot": self.bot, "server_admin": self.server_admin,
                "deactivated": self.deactivated}  # fmt: skip


async def search_users(cur: Cursor, q: str | None, after: str | None, limit: int) -> list[UserRow]:
    """Users by normalized name (prefix match when `q`), erased ones left out; page with `after`."""
    await cur.execute(
        "SELECT u.id, u.username, u.display_name, u.created_at,"
        " EXISTS (SELECT 1 FROM bots b WHERE b.user_id = u.id),"
        " EXISTS (SELECT 1 FROM server_admins a WHERE a.user_id = u.id),"
        " EXISTS (SELECT 1 FROM deactivated_users d WHERE d.user_id = u.id), u.username_norm"
        " FROM users u WHERE NOT u.erased AND u.username_norm LIKE %s AND u.username_norm > %s"
        " ORDER BY u.username_norm LIMIT %s",
        ((q or "").replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "%", after or "", limit),
    )
    return [UserRow(*row) for row in await cur.fetchall()]
