"""Per-user data keys for crypto-shredding (docs/operations.md, "Erasure" and "Keys").

Each user's personal content in the log is sealed under a 256-bit data key of theirs (sealing.py).
The keys live outside the log, in the table `user_keys` (sql/migrations/190_user_keys.sql), one row
per user and key version; destroying a user's keys (erasure) makes what the log holds of them noise.

Two interfaces, so a KMS can take over either half later:
- `KeyStore`: where data keys live (`TableKeyStore`: the `user_keys` table, the default).
- `KeyWrapper`: how a data key is protected at rest in that store (`LocalKeks`: AES-GCM under
  key-encryption keys from GOCHAT_KEY_ENCRYPTION_KEYS; with none configured, keys are stored as
  they are, and the table alone then reads the log). A KMS wrapper would call its Encrypt/Decrypt.
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import Collection, Sequence
from dataclasses import dataclass
from typing import Protocol
from uuid import UUID

from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from ..db import Cursor, Database

KEY_BYTES = 32
UNWRAPPED = "none"  # `wrapped_by` of a key stored as it is
_WRAP_AAD = b"gochat user data key"


class KeyWrapper(Protocol):
    @property
    def current(self) -> str:
        """The id of the key-encryption key new data keys are wrapped with (`none`: not wrapped)."""

    def wrap(self, key: bytes) -> bytes: ...

    def unwrap(self, material: bytes, wrapped_by: str) -> bytes:
        """The data key; KeyError when `wrapped_by` names a key-encryption key this wrapper lacks."""


class LocalKeks:
    """Key-encryption keys held by the process (GOCHAT_KEY_ENCRYPTION_KEYS): the first wraps new data
    keys, every one unwraps (rotation: put the new one first, run `gochat keys rewrap`, then drop the
    old one). Without any, data keys are stored unwrapped."""

    def __init__(self, keks: Sequence[bytes] = ()) -> None:
        for kek in keks:
            if len(kek) != KEY_BYTES:
                raise ValueError(f"a key-encryption key is {KEY_BYTES} bytes, not {len(kek)}")
        self._keks = {kek_id(k): AESGCM(k) for k in keks}
        self._current = kek_id(keks[0]) if keks else UNWRAPPED

    @property
    def current(self) -> str:
        return self._current

    def wrap(self, key: bytes) -> bytes:
        if self._current == UNWRAPPED:
            return key
        nonce = os.urandom(12)
        return nonce + self._keks[self._current].encrypt(nonce, key, _WRAP_AAD)

    def unwrap(self, material: bytes, wrapped_by: str) -> bytes:
        if wrapped_by == UNWRAPPED:
            return bytes(material)
        kek = self._keks.get(wrapped_by)
        if kek is None:
            raise KeyError(f"no key-encryption key {wrapped_by!r} (GOCHAT_KEY_ENCRYPTION_KEYS)")
        material = bytes(material)
        return kek.decrypt(material[:12], material[12:], _WRAP_AAD)


def kek_id(kek: bytes) -> str:
    """A key-encryption key's name in `user_keys.wrapped_by`: a hash prefix, never the key."""
    return "local:" + hashlib.sha256(b"gochat kek id\0" + kek).hexdigest()[:16]


class MissingKey(LookupError):
    """A sealed event names a key the store never had (a destroyed key keeps its row)."""


@dataclass(frozen=True, slots=True)
class DataKey:
    owner: UUID
    version: int
    key: bytes | None  # None: destroyed (the user was erased)


class KeyStore(Protocol):
    async def current(self, owners: Collection[UUID]) -> dict[UUID, DataKey]:
        """Each owner's newest key, made (version 1) for owners without one; `key` None for an owner
        whose keys were destroyed (nothing new is sealed for them)."""

    async def get(
        self, wanted: Collection[tuple[UUID, int]], cur: Cursor | None = None
    ) -> dict[tuple[UUID, int], DataKey]:
        """The keys asked for (destroyed ones with `key` None), read on `cur` when given (a reader
        already holding a connection); MissingKey if the store never had one: a key table lost or
        restored apart from the log must stop reads, not blank every message."""

    async def destroy(self, owner: UUID) -> int:
        """Destroy every key of `owner`, for good; how many were live."""

    async def rotate(self, owners: Collection[UUID] | None = None) -> int:
        """A new key version for each owner (None: every owner with a live key); old versions keep
        reading what they sealed. How many keys were made."""

    async def rewrap(self) -> int:
        """Wrap every live key with the wrapper's current key-encryption key; how many changed."""


_CURRENT = (
    "SELECT DISTINCT ON (user_id) user_id, version, material, wrapped_by FROM user_keys"
    " WHERE user_id = ANY(%s::uuid[]) ORDER BY user_id, version DESC"
)
_CREATE = (
    "INSERT INTO user_keys (user_id, version, material, wrapped_by)"
    " SELECT u::uuid, 1, decode(m, 'hex'), %s FROM unnest(%s::text[], %s::text[]) AS t(u, m)"
    " ON CONFLICT DO NOTHING"
)


@dataclass(frozen=True, slots=True)
class KeyCounts:
    """What `gochat keys status` reports of the table."""

    live_users: int
    destroyed_users: int
    live_keys: int
    wrapped: list[tuple[str, int]]  # (key-encryption key id or UNWRAPPED, live key versions under it)


class TableKeyStore:
    """Data keys in the `user_keys` table (owner-only: the `gochat_app` role has no grant on it)."""

    def __init__(self, db: Database, wrapper: KeyWrapper | None = None) -> None:
        self.db = db
        self.wrapper: KeyWrapper = wrapper if wrapper is not None else LocalKeks()

    async def counts(self) -> KeyCounts:
        async with self.db.cursor() as cur:
            await cur.execute(
                "SELECT count(DISTINCT user_id) FILTER (WHERE material IS NOT NULL),"
                " count(DISTINCT user_id) FILTER (WHERE material IS NULL), count(*) FILTER (WHERE material IS NOT NULL)"
                " FROM user_keys"
            )
            live_users, destroyed_users, live_keys = await cur.fetchone()
            await cur.execute(
                "SELECT wrapped_by, count(*) FROM user_keys WHERE material IS NOT NULL GROUP BY 1 ORDER BY 1"
            )
            wrapped = [(str(kek), int(n)) for kek, n in await cur.fetchall()]
        return KeyCounts(int(live_users), int(destroyed_users), int(live_keys), wrapped)

    def _key(self, owner: UUID, version: int, material: bytes | None, wrapped_by: str) -> DataKey:
        return DataKey(owner, version, None if material is None else self.wrapper.unwrap(material, wrapped_by))

    async def current(self, owners: Collection[UUID]) -> dict[UUID, DataKey]:
        wanted = [str(o) for o in owners]
        async with self.db.cursor() as cur:
            await cur.execute(_CURRENT, (wanted,))
            rows = await cur.fetchall()
            missing = set(wanted) - {str(r[0]) for r in rows}
            if missing:
                made = sorted(missing)
                materials = [self.wrapper.wrap(os.urandom(KEY_BYTES)).hex() for _ in made]
                # two nodes making a user's first key at once: one wins, both read the winner
                await cur.execute(_CREATE, (self.wrapper.current, made, materials))
                await cur.execute(_CURRENT, (made,))
                rows = [*rows, *await cur.fetchall()]
        return {r[0]: self._key(*r) for r in rows}

    async def get(
        self, wanted: Collection[tuple[UUID, int]], cur: Cursor | None = None
    ) -> dict[tuple[UUID, int], DataKey]:
        if cur is None:
            async with self.db.cursor() as own:
                return await self.get(wanted, own)
        owners = [str(o) for o, _ in wanted]
        versions = [v for _, v in wanted]
        await cur.execute(
            "SELECT k.user_id, k.version, k.material, k.wrapped_by FROM user_keys k"
            " JOIN unnest(%s::uuid[], %s::int[]) AS w(u, v) ON k.user_id = w.u AND k.version = w.v",
            (owners, versions),
        )
        found = {(r[0], r[1]): self._key(*r) for r in await cur.fetchall()}
        missing = [f"{o} v{v}" for o, v in wanted if (o, v) not in found]
        if missing:
            raise MissingKey(f"user_keys has no row for {', '.join(missing[:3])}: restore it with the log")
        return found

    async def destroy(self, owner: UUID) -> int:
        async with self.db.transaction() as cur:
            await cur.execute(
                "UPDATE user_keys SET material = NULL, destroyed_at = now()"
                " WHERE user_id = %s AND material IS NOT NULL",
                (owner,),
            )
            live = int(cur.rowcount)
            # a user who never sealed anything gets a destroyed key too: nothing is sealed for them later
            await cur.execute(
                "INSERT INTO user_keys (user_id, version, material, wrapped_by, destroyed_at)"
                " VALUES (%s, 1, NULL, %s, now()) ON CONFLICT DO NOTHING",
                (owner, UNWRAPPED),
            )
        # The table is tiny: rewrite its file, so no dead row version keeps the key's bytes on disk.
        async with self.db.cursor() as cur:
            await cur.execute("VACUUM FULL user_keys")
        return live

    async def rotate(self, owners: Collection[UUID] | None = None) -> int:
        async with self.db.transaction() as cur:
            where = "material IS NOT NULL" if owners is None else "user_id = ANY(%s::uuid[])"
            params = () if owners is None else ([str(o) for o in owners],)
            await cur.execute(
                "SELECT user_id, max(version) FROM user_keys GROUP BY user_id"
                f" HAVING bool_and(material IS NOT NULL) AND bool_or({where})",
                params,
            )
            live = await cur.fetchall()
            if not live:
                return 0
            await cur.execute(
                "INSERT INTO user_keys (user_id, version, material, wrapped_by)"
                " SELECT u, v + 1, decode(m, 'hex'), %s FROM unnest(%s::uuid[], %s::int[], %s::text[]) AS t(u, v, m)",
                (
                    self.wrapper.current,
                    [str(u) for u, _ in live],
                    [v for _, v in live],
                    [self.wrapper.wrap(os.urandom(KEY_BYTES)).hex() for _ in live],
                ),
            )
            return len(live)

    async def rewrap(self) -> int:
        current = self.wrapper.current
        changed = 0
        async with self.db.transaction() as cur:
            await cur.execute(
                "SELECT user_id, version, material, wrapped_by FROM user_keys"
                " WHERE material IS NOT NULL AND wrapped_by <> %s FOR UPDATE",
                (current,),
            )
            for owner, version, material, wrapped_by in await cur.fetchall():
                key = self.wrapper.unwrap(material, wrapped_by)
                await cur.execute(
                    "UPDATE user_keys SET material = decode(%s, 'hex'), wrapped_by = %s"
                    " WHERE user_id = %s AND version = %s",
                    (self.wrapper.wrap(key).hex(), current, owner, version),
                )
                changed += 1
        if changed:
            async with self.db.cursor() as cur:
                await cur.execute("VACUUM FULL user_keys")  # the old wrappings' row versions go
        return changed
