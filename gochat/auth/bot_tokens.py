"""Bot API tokens (sql/migrations/170_bots.sql): long-lived, shown once, stored as SHA-256, scoped to
actions and rooms, revocable. The SQL of bot authentication, as auth/store.py is that of logins."""

from __future__ import annotations

import secrets
import uuid
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from ..db import Database
from .store import token_hash
from .tokens import BotGrant

PREFIX = "gcb_"  # tells a bot token from a JWT at a glance (and to secret scanners)
SCOPES = ("read", "write")


@dataclass(frozen=True, slots=True)
class TokenInfo:
    id: uuid.UUID
    bot_id: uuid.UUID
    name: str
    scopes: list[str]
    rooms: list[uuid.UUID] | None
    created_by: uuid.UUID | None  # None: issued by an operator (`gochat bots token`)
    created_at: datetime
    revoked_at: datetime | None

    def public(self) -> dict[str, Any]:
        return {"id": self.id, "bot_id": self.bot_id, "name": self.name, "scopes": self.scopes,
                "rooms": self.rooms, "created_by": self.created_by, "created_at": self.created_at,
                "revoked_at": self.revoked_at}  # fmt: skip


_COLUMNS = "id, bot_id, name, scopes, rooms, created_by, created_at, revoked_at"


def is_bot_token(token: str) -> bool:
    return token.startswith(PREFIX)


class BotTokenStore:
    def __init__(self, db: Database) -> None:
        self.db = db

    async def issue(
        self,
        bot_id: uuid.UUID,
        name: str,
        scopes: list[str],
        rooms: list[uuid.UUID] | None,
        created_by: uuid.UUID | None,
    ) -> tuple[str, TokenInfo]:
        """A new token (the secret, returned this once) and what is stored about it."""
        secret = PREFIX + secrets.token_urlsafe(32)
        async with self.db.cursor() as cur:
            await cur.execute(
                f"INSERT INTO bot_tokens (id, bot_id, name, token_hash, rooms, scopes, created_by)"
                f" VALUES (%s, %s, %s, %s, %s::uuid[], %s, %s) RETURNING {_COLUMNS}",
                (uuid.uuid4(), bot_id, name, token_hash(secret), rooms, sorted(set(scopes)), created_by),
            )
            row = await cur.fetchone()
        assert row is not None
        return secret, TokenInfo(*row)

    async def grant(self, secret: str) -> tuple[uuid.UUID, BotGrant] | None:
        """The bot and what it may do, for a live token of a bot not erased; else None."""
        async with self.db.cursor() as cur:
            await cur.execute(
                "SELECT t.bot_id, t.id, t.scopes, t.rooms FROM bot_tokens t JOIN users u ON u.id = t.bot_id"
                " WHERE t.token_hash = %s AND t.revoked_at IS NULL AND NOT u.erased"
                " AND NOT EXISTS (SELECT 1 FROM deactivated_users d WHERE d.user_id = t.bot_id)",
                (token_hash(secret),),
            )
            row = await cur.fetchone()
        if row is None:
            return None
        bot_id, token_id, scopes, rooms = row
        return bot_id, BotGrant(token_id, frozenset(scopes), None if rooms is None else frozenset(rooms))

    async def of_bot(self, bot_id: uuid.UUID) -> list[TokenInfo]:
        async with self.db.cursor() as cur:
            await cur.execute(f"SELECT {_COLUMNS} FROM bot_tokens WHERE bot_id = %s ORDER BY created_at, id", (bot_id,))
            return [TokenInfo(*row) for row in await cur.fetchall()]

    async def revoke(self, bot_id: uuid.UUID, token_id: uuid.UUID) -> bool:
        """True when the token existed; revoking twice is fine."""
        async with self.db.cursor() as cur:
            await cur.execute(
                "UPDATE bot_tokens SET revoked_at = coalesce(revoked_at, now()) WHERE id = %s AND bot_id = %s"
                " RETURNING id",
                (token_id, bot_id),
            )
            return await cur.fetchone() is not None

    async def revoke_all(self, bot_id: uuid.UUID) -> list[uuid.UUID]:
        """Revoke every live token of the bot; returns their ids (their sockets are to be closed)."""
        async with self.db.cursor() as cur:
            await cur.execute(
                "UPDATE bot_tokens SET revoked_at = now() WHERE bot_id = %s AND revoked_at IS NULL RETURNING id",
                (bot_id,),
            )
            return [row[0] for row in await cur.fetchall()]
