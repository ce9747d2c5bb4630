"""Incoming webhooks' SQL: a secret URL (stored as its SHA-256) that posts into a room as a bot."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from ..auth.store import token_hash
from ..db import Cursor


@dataclass(frozen=True, slots=True)
class IncomingWebhook:
    id: uuid.UUID
    room_id: uuid.UUID
    bot_id: uuid.UUID
    name: str
    created_by: uuid.UUID
    created_at: datetime

    def public(self) -> dict[str, Any]:
        return {"id": self.id, "room_id": self.room_id, "bot_id": self.bot_id, "name": self.name,
                "created_by": self.created_by, "created_at": self.created_at}  # fmt: skip


_COLUMNS = "id, room_id, bot_id, name, created_by, created_at"


async def create(
    cur: Cursor, room_id: uuid.UUID, bot_id: uuid.UUID, name: str, secret: str, actor: uuid.UUID
) -> IncomingWebhook:
    await cur.execute(
        f"INSERT INTO incoming_webhooks (id, room_id, bot_id, name, token_hash, created_by)"
        f" VALUES (%s, %s, %s, %s, %s, %s) RETURNING {_COLUMNS}",
        (uuid.uuid4(), room_id, bot_id, name, token_hash(secret), actor),
    )
    row = await cur.fetchone()
    assert row is not None
    return IncomingWebhook(*row)


async def of_room(cur: Cursor, room_id: uuid.UUID) -> list[IncomingWebhook]:
    await cur.execute(
        f"SELECT {_COLUMNS} FROM incoming_webhooks WHERE room_id = %s AND revoked_at IS NULL ORDER BY created_at, id",
        (room_id,),
    )
    return [IncomingWebhook(*row) for row in await cur.fetchall()]


async def by_secret(cur: Cursor, secret: str) -> IncomingWebhook | None:
    await cur.execute(
        f"SELECT {_COLUMNS} FROM incoming_webhooks WHERE token_hash = %s AND revoked_at IS NULL", (token_hash(secret),)
    )
    row = await cur.fetchone()
    return None if row is None else IncomingWebhook(*row)


async def revoke(cur: Cursor, room_id: uuid.UUID, hook_id: uuid.UUID) -> bool:
    await cur.execute(
        "UPDATE incoming_webhooks SET revoked_at = now() WHERE id = %s AND room_id = %s AND revoked_at IS NULL"
        " RETURNING id",
        (hook_id, room_id),
    )
    return await cur.fetchone() is not None
