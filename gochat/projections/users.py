"""The users projection: who exists, their names and credentials, for lookups by id and by name.

Inline, so a signup can log in at once. `password_hash` comes from `user.registered` (so the table
is rebuildable from the log). Erasure keeps the id and replaces the name, username and hash; the
other projections ask `erased` (through ERASED_AUTHORS) so that a rebuild never brings back what
an erased user wrote.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from ..db import Database, Executor
from ..events.model import RecordedEvent
from ..events.sealing import ERASED_NAME, ERASED_USERNAME_PREFIX
from ..events.types import EventType
from .base import Projection

# ERASED_USERNAME_PREFIX + the id's hex: unique, and the old name stays claimed in the log. The same
# names are what an erased user's sealed registration opens to (events/sealing.py).
#: SQL: the erased users, for `x IN (...)` (a hashed subplan over the partial index users_erased)
ERASED_AUTHORS = "(SELECT id FROM users WHERE erased)"
_COLUMNS = "id, username, username_norm, display_name, password_hash, created_at, erased"


@dataclass(frozen=True, slots=True)
class User:
    id: uuid.UUID
    username: str
    username_norm: str
    display_name: str
    password_hash: str | None
    created_at: datetime
    erased: bool

    def public(self) -> dict[str, Any]:
        """The user as PROTOCOL.md shows it (never the hash)."""
        return {"id": self.id, "username": self.username, "display_name": self.display_name,
                "created_at": self.created_at}  # fmt: skip


class UsersProjection(Projection):
    name = "users"
    tables = ("users",)
    handles = frozenset({EventType.USER_REGISTERED, EventType.USER_PROFILE_UPDATED, EventType.USER_ERASED})

    async def apply(self, cur: Executor, event: RecordedEvent) -> None:
        d, at, user = event.data, event.recorded_at, event.stream_id
        if event.type == EventType.USER_REGISTERED:
            await cur.execute(
                "INSERT INTO users (id, username, username_norm, display_name, password_hash, created_at, updated_at)"
                " VALUES (%s, %s, %s, %s, %s, %s, %s) ON CONFLICT (id) DO NOTHING",
                (user, d["username"], d["username_norm"], d["display_name"], d.get("password_hash"), at, at),
            )
        elif event.type == EventType.USER_PROFILE_UPDATED:
            await cur.execute(
                "UPDATE users SET display_name = %s, updated_at = %s WHERE id = %s AND NOT erased",
                (d["display_name"], at, user),
            )
        elif event.type == EventType.USER_ERASED:
            anonymous = ERASED_USERNAME_PREFIX + user.hex
            await cur.execute(
                "UPDATE users SET username = %s, username_norm = %s, display_name = %s, password_hash = NULL,"
                " erased = true, updated_at = %s WHERE id = %s",
                (anonymous, anonymous, ERASED_NAME, at, user),
            )


class UserQueries:
    def __init__(self, db: Database) -> None:
        self.db = db

    async def _one(self, where: str, value: Any) -> User | None:
        async with self.db.cursor() as cur:
            await cur.execute(f"SELECT {_COLUMNS} FROM users WHERE {where}", (value,))
            row = await cur.fetchone()
        return None if row is None else User(*row)

    async def get(self, user_id: uuid.UUID) -> User | None:
        return await self._one("id = %s", user_id)

    async def by_name(self, username_norm: str) -> User | None:
        return await self._one("username_norm = %s", username_norm)

    async def erased_ids(self) -> set[uuid.UUID]:
        async with self.db.cursor() as cur:
            await cur.execute("SELECT id FROM users WHERE erased")
            return {row[0] for row in await cur.fetchall()}

    async def existing(self, user_ids: Iterable[uuid.UUID]) -> set[uuid.UUID]:
        ids = list(set(user_ids))
        if not ids:
            return set()
        async with self.db.cursor() as cur:
            await cur.execute("SELECT id FROM users WHERE id = ANY(%s::uuid[]) AND NOT erased", (ids,))
            return {row[0] for row in await cur.fetchall()}

    async def skeleton_taken(self, skel: str) -> bool:
        """Whether a user's name has this skeleton (auth/confusables.py; projections/people.py)."""
        async with self.db.cursor() as cur:
            await cur.execute("SELECT 1 FROM user_profiles WHERE username_skeleton = %s LIMIT 1", (skel,))
            return await cur.fetchone() is not None
