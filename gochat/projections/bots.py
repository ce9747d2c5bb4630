"""The bots projection: which users are bots and who made them (rules: sql/functions/gochat_apply_bots.sql)."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from ..db import Cursor
from ..events.types import EventType
from .base import SqlProjection


class BotsProjection(SqlProjection):
    name = "bots"
    tables = ("bots",)
    handles = frozenset({EventType.BOT_CREATED})
    function = "gochat_apply_bots"


@dataclass(frozen=True, slots=True)
class Bot:
    user_id: uuid.UUID
    username: str
    display_name: str
    created_by: uuid.UUID | None  # None: made by an operator with `gochat bots create`
    room_id: uuid.UUID | None  # None: a server-wide bot (made by a server administrator)
    created_at: datetime

    @property
    def server_wide(self) -> bool:
        return self.room_id is None

    def public(self) -> dict[str, Any]:
        return {"id": self.user_id, "username": self.username, "display_name": self.display_name,
                "bot": True, "created_by": self.created_by, "room_id": self.room_id,
                "server_wide": self.server_wide, "created_at": self.created_at}  # fmt: skip


_SELECT = (
    "SELECT b.user_id, u.username, u.display_name, b.created_by, b.room_id, b.created_at, u.username_norm"
    " FROM bots b JOIN users u ON u.id = b.user_id WHERE NOT u.erased"
)


async def get_bot(cur: Cursor, bot_id: uuid.UUID) -> Bot | None:
    await cur.execute(_SELECT + " AND b.user_id = %s", (bot_id,))
    row = await cur.fetchone()
    return None if row is None else Bot(*row[:6])


async def bots_created_by(cur: Cursor, user_id: uuid.UUID) -> list[Bot]:
    await cur.execute(_SELECT + " AND b.created_by = %s ORDER BY b.created_at, b.user_id", (user_id,))
    return [Bot(*row[:6]) for row in await cur.fetchall()]


async def every_bot(cur: Cursor, after: str | None, limit: int) -> list[tuple[Bot, str]]:
    """Every bot (server administrators' list), by normalized username after `after`, with that name
    (the page cursor)."""
    await cur.execute(_SELECT + " AND u.username_norm > %s ORDER BY u.username_norm LIMIT %s", (after or "", limit))
    return [(Bot(*row[:6]), row[6]) for row in await cur.fetchall()]
