"""Refresh tokens and their families (sql/migrations/011_sessions.sql): the SQL of login sessions.

Rotation is one transaction: a single `UPDATE ... WHERE used_at IS NULL ... RETURNING` marks the
presented token used, so of two concurrent refreshes with one token the row lock lets exactly one
through; the other finds the token already used, which is what a replayed stolen token looks like,
and revokes the whole family (RFC 9700 section 4.14.2). Clients must therefore refresh one at a time.
"""

from __future__ import annotations

import hashlib
import secrets
import uuid
from dataclasses import dataclass
from typing import Literal

from ..db import Cursor, Database

RevokeReason = Literal["logout", "reuse", "admin"]

_INSERT_FAMILY = "INSERT INTO session_families (id, user_id) VALUES (%s, %s)"
_INSERT_REFRESH = (
    "INSERT INTO refresh_tokens (token_hash, family_id, user_id, expires_at)"
    " VALUES (%s, %s, %s, now() + %s * interval '1 second')"
)
_CONSUME = (
    "UPDATE refresh_tokens t SET used_at = now() FROM session_families f"
    " WHERE t.token_hash = %s AND t.used_at IS NULL AND t.expires_at > now()"
    " AND f.id = t.family_id AND f.revoked_at IS NULL"
    " RETURNING t.family_id, t.user_id"
)
_LOOKUP = "SELECT family_id, used_at IS NOT NULL FROM refresh_tokens WHERE token_hash = %s"
_REVOKE = "UPDATE session_families SET revoked_at = now(), revoked_reason = %s WHERE id = %s AND revoked_at IS NULL"
_ACTIVE = "SELECT 1 FROM session_families WHERE id = %s AND user_id = %s AND revoked_at IS NULL"
_REVOKE_USER = (
    "UPDATE session_families SET revoked_at = now(), revoked_reason = %s WHERE user_id = %s AND revoked_at IS NULL"
    " RETURNING id"
)


def new_refresh_token() -> str:
    return secrets.token_urlsafe(32)


def token_hash(token: str) -> bytes:
    return hashlib.sha256(token.encode()).digest()


@dataclass(frozen=True, slots=True)
class Issued:
    family_id: uuid.UUID
    user_id: uuid.UUID
    refresh_token: str


@dataclass(frozen=True, slots=True)
class Rotation:
    """`rotated`: `issued` holds the new token. `reused`: a used token came back and `family_id`
    is now revoked. `invalid`: unknown, expired, or of a family already revoked."""

    outcome: Literal["rotated", "reused", "invalid"]
    issued: Issued | None = None
    family_id: uuid.UUID | None = None


class SessionStore:
    def __init__(self, db: Database, refresh_ttl: int) -> None:
        self.db = db
        self.refresh_ttl = refresh_ttl

    async def _issue(self, cur: Cursor, family_id: uuid.UUID, user_id: uuid.UUID) -> Issued:
        token = new_refresh_token()
        await cur.execute(_INSERT_REFRESH, (token_hash(token), family_id, user_id, self.refresh_ttl))
        return Issued(family_id, user_id, token)

    async def start(self, user_id: uuid.UUID) -> Issued:
        """A new family (one login) and its first refresh token."""
        family_id = uuid.uuid4()
        async with self.db.transaction() as cur:
            await cur.execute(_INSERT_FAMILY, (family_id, user_id))
            return await self._issue(cur, family_id, user_id)

    async def rotate(self, token: str) -> Rotation:
        digest = token_hash(token)
        async with self.db.transaction() as cur:
            await cur.execute(_CONSUME, (digest,))
            row = await cur.fetchone()
            if row is not None:
                return Rotation("rotated", await self._issue(cur, row[0], row[1]))
            await cur.execute(_LOOKUP, (digest,))
            found = await cur.fetchone()
            if found is None or not found[1]:
                return Rotation("invalid")
            await cur.execute(_REVOKE, ("reuse", found[0]))
            return Rotation("reused", family_id=found[0])

    async def revoke(self, token: str, reason: RevokeReason = "logout") -> uuid.UUID | None:
        """Revoke the family `token` belongs to (used or not); its id, or None for an unknown token."""
        async with self.db.transaction() as cur:
            await cur.execute(_LOOKUP, (token_hash(token),))
            found = await cur.fetchone()
            if found is None:
                return None
            await cur.execute(_REVOKE, (reason, found[0]))
            family_id: uuid.UUID = found[0]
            return family_id

    async def revoke_user(self, user_id: uuid.UUID, reason: RevokeReason = "admin") -> list[uuid.UUID]:
        """Revoke every login of the user; the families revoked now."""
        async with self.db.transaction() as cur:
            await cur.execute(_REVOKE_USER, (reason, user_id))
            return [row[0] for row in await cur.fetchall()]

    async def is_active(self, family_id: uuid.UUID, user_id: uuid.UUID) -> bool:
        return bool(await self.db.fetchval(_ACTIVE, (family_id, user_id)))
