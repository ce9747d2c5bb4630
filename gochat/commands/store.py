"""The SQL of bot-registered slash commands (sql/migrations/173_slash_commands.sql)."""

from __future__ import annotations

import uuid
from dataclasses import dataclass

from ..db import Cursor


@dataclass(frozen=True, slots=True)
class BotCommand:
    room_id: uuid.UUID
    name: str
    bot_id: uuid.UUID
    description: str
    usage: str
    url: str
    secret: str


_COLUMNS = "room_id, name, bot_id, description, usage, url, secret"


async def register(cur: Cursor, command: BotCommand) -> None:
    """Registering a name again (by the same bot) replaces it."""
    await cur.execute(
        f"INSERT INTO slash_commands ({_COLUMNS}) VALUES (%s, %s, %s, %s, %s, %s, %s)"
        " ON CONFLICT (room_id, name) DO UPDATE SET description = EXCLUDED.description, usage = EXCLUDED.usage,"
        " url = EXCLUDED.url, secret = EXCLUDED.secret WHERE slash_commands.bot_id = EXCLUDED.bot_id",
        (command.room_id, command.name, command.bot_id, command.description, command.usage, command.url,
         command.secret),
    )  # fmt: skip


async def get(cur: Cursor, room_id: uuid.UUID, name: str) -> BotCommand | None:
    await cur.execute(f"SELECT {_COLUMNS} FROM slash_commands WHERE room_id = %s AND name = %s", (room_id, name))
    row = await cur.fetchone()
    return None if row is None else BotCommand(*row)


async def of_room(cur: Cursor, room_id: uuid.UUID) -> list[BotCommand]:
    await cur.execute(f"SELECT {_COLUMNS} FROM slash_commands WHERE room_id = %s ORDER BY name", (room_id,))
    return [BotCommand(*row) for row in await cur.fetchall()]


async def remove(cur: Cursor, room_id: uuid.UUID, name: str) -> None:
    await cur.execute("DELETE FROM slash_commands WHERE room_id = %s AND name = %s", (room_id, name))
