"""Projection "presence": last known status and last_seen per user (from presence.changed).

An erased user's row goes, and no later change (a node sweeping their last socket) brings it back.
"""

from __future__ import annotations

from typing import Any
from uuid import UUID

from ..db import Cursor, Executor
from ..events.model import RecordedEvent
from ..events.types import EventType
from .base import Projection
from .users import ERASED_AUTHORS


class PresenceProjection(Projection):
    name = "presence"
    tables = ("presence",)
    handles = frozenset({EventType.PRESENCE_CHANGED, EventType.USER_ERASED})

    async def apply(self, cur: Executor, e: RecordedEvent) -> None:
        if e.type == EventType.USER_ERASED:
            await cur.execute("DELETE FROM presence WHERE user_id = %s", (e.stream_id,))
            return
        await cur.execute(
            "INSERT INTO presence (user_id, status, last_seen, stream_version)"
            " SELECT %(user)s, %(status)s, %(at)s, %(version)s WHERE %(user)s::uuid NOT IN "
            + ERASED_AUTHORS
            + " ON CONFLICT (user_id) DO UPDATE SET status = EXCLUDED.status, last_seen = EXCLUDED.last_seen,"
            " stream_version = EXCLUDED.stream_version",
            {"user": e.data["user_id"], "status": e.data["status"], "at": e.recorded_at, "version": e.version},
        )


async def get_presence(cur: Cursor, user_id: UUID) -> dict[str, Any] | None:
    await cur.execute("SELECT status, last_seen, stream_version FROM presence WHERE user_id = %s", (user_id,))
    row = await cur.fetchone()
    return dict(zip(("status", "last_seen", "version"), row, strict=True)) if row else None


async def marked_online(cur: Cursor, limit: int = 10_000) -> list[tuple[UUID, int]]:
    await cur.execute("SELECT user_id, stream_version FROM presence WHERE status = 'online' LIMIT %s", (limit,))
    return [(r[0], r[1]) for r in await cur.fetchall()]


async def marked_offline(cur: Cursor, user_ids: list[UUID]) -> list[UUID]:
    """Those of `user_ids` the projection does not show online (absent or offline)."""
    await cur.execute(
        "SELECT u FROM unnest(%s::uuid[]) AS u WHERE NOT EXISTS"
        " (SELECT 1 FROM presence p WHERE p.user_id = u AND p.status = 'online')",
        (user_ids,),
    )
    return [r[0] for r in await cur.fetchall()]


async def share_a_room(cur: Cursor, a: UUID, b: UUID) -> bool:
    await cur.execute(
        "SELECT EXISTS (SELECT 1 FROM memberships x JOIN memberships y ON y.room_id = x.room_id"
        " WHERE x.user_id = %s AND y.user_id = %s AND x.state = 'joined' AND y.state = 'joined')",
        (a, b),
    )
    row = await cur.fetchone()
    return bool(row and row[0])
