"""The SQL of the key directory and device mailboxes (sql/migrations/180_e2e_key_directory.sql).

Neither is an event: a one-time key is consumed when claimed and a mailbox is emptied as its device
reads it, so they live in tables of their own, like login sessions. The server never holds a secret
key nor a plaintext: identity keys, one-time keys and mailbox payloads are public or encrypted.

A claim is one `DELETE ... RETURNING` over a row locked with SKIP LOCKED, so two concurrent claims
for one device get two different keys, and a key is handed out once. When a device's one-time keys
are gone its fallback key is returned (and kept), as Matrix does, so a session can still be made.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from typing import Any

from ..db import Cursor, Database, json_text

_UPSERT_DEVICE = (
    "INSERT INTO devices (user_id, device_id, curve25519, ed25519, display_name) VALUES (%s, %s, %s, %s, %s)"
    " ON CONFLICT (user_id, device_id) DO NOTHING RETURNING created_at"
)
_DEVICE = "SELECT curve25519, ed25519, display_name FROM devices WHERE user_id = %s AND device_id = %s"
_DEVICES = "SELECT device_id, curve25519, ed25519, display_name FROM devices WHERE user_id = %s ORDER BY device_id"
_ADD_KEY = (
    "INSERT INTO one_time_keys (user_id, device_id, key_id, key, signature, fallback)"
    " VALUES (%s, %s, %s, %s, %s, %s) ON CONFLICT (user_id, device_id, key_id) DO NOTHING"
)
_DROP_FALLBACKS = "DELETE FROM one_time_keys WHERE user_id = %s AND device_id = %s AND fallback"
_COUNT = "SELECT count(*) FROM one_time_keys WHERE user_id = %s AND device_id = %s AND NOT fallback"
_CLAIM = (
    "DELETE FROM one_time_keys WHERE ctid = (SELECT ctid FROM one_time_keys"
    " WHERE user_id = %s AND device_id = %s AND NOT fallback ORDER BY key_id LIMIT 1 FOR UPDATE SKIP LOCKED)"
    " RETURNING key_id, key, signature"
)
_FALLBACK = (
    "SELECT key_id, key, signature FROM one_time_keys WHERE user_id = %s AND device_id = %s AND fallback"
    " ORDER BY uploaded_at DESC LIMIT 1"
)
_SEND = (
    "INSERT INTO device_inbox (user_id, device_id, sender_id, sender_device, payload)"
    " SELECT %s, %s, %s, %s, %s::jsonb WHERE EXISTS (SELECT 1 FROM devices WHERE user_id = %s AND device_id = %s)"
)
_INBOX = (
    "SELECT id, sender_id, sender_device, payload, created_at FROM device_inbox"
    " WHERE user_id = %s AND device_id = %s AND id > %s ORDER BY id LIMIT %s"
)
_ACK = "DELETE FROM device_inbox WHERE user_id = %s AND device_id = %s AND id <= %s"
_DELETE_DEVICE = "DELETE FROM devices WHERE user_id = %s AND device_id = %s"
_DELETE_USER = "DELETE FROM devices WHERE user_id = %s"  # their keys and mailboxes go with them (cascade)


@dataclass(frozen=True, slots=True)
class Device:
    user_id: uuid.UUID
    device_id: str
    curve25519: str
    ed25519: str
    display_name: str


@dataclass(frozen=True, slots=True)
class OneTimeKey:
    key_id: str
    key: str
    signature: str
    fallback: bool = False


@dataclass(frozen=True, slots=True)
class InboxItem:
    id: int
    sender_id: uuid.UUID
    sender_device: str
    payload: dict[str, Any]
    created_at: Any


class KeyStore:
    def __init__(self, db: Database) -> None:
        self.db = db

    async def register(self, device: Device) -> Device:
        """Add the device, or return the one already registered under that id (whose identity keys
        never change: a new identity is a new device)."""
        async with self.db.transaction() as cur:
            await cur.execute(
                _UPSERT_DEVICE,
                (device.user_id, device.device_id, device.curve25519, device.ed25519, device.display_name),
            )
            if await cur.fetchone() is not None:
                return device
            existing = await self._device(cur, device.user_id, device.device_id)
        assert existing is not None
        return existing

    @staticmethod
    async def _device(cur: Cursor, user_id: uuid.UUID, device_id: str) -> Device | None:
        await cur.execute(_DEVICE, (user_id, device_id))
        row = await cur.fetchone()
        return None if row is None else Device(user_id, device_id, *row)

    async def device(self, user_id: uuid.UUID, device_id: str) -> Device | None:
        async with self.db.cursor() as cur:
            return await self._device(cur, user_id, device_id)

    async def devices(self, user_id: uuid.UUID) -> list[Device]:
        async with self.db.cursor() as cur:
            await cur.execute(_DEVICES, (user_id,))
            return [Device(user_id, *row) for row in await cur.fetchall()]

    async def add_keys(self, user_id: uuid.UUID, device_id: str, keys: list[OneTimeKey]) -> int:
        """Store keys (a key id already stored is kept as it was; a new fallback key replaces the
        old one); returns how many unclaimed one-time keys the device has now."""
        async with self.db.transaction() as cur:
            if any(k.fallback for k in keys):
                await cur.execute(_DROP_FALLBACKS, (user_id, device_id))
            for k in keys:
                await cur.execute(_ADD_KEY, (user_id, device_id, k.key_id, k.key, k.signature, k.fallback))
            return await self._count(cur, user_id, device_id)

    @staticmethod
    async def _count(cur: Cursor, user_id: uuid.UUID, device_id: str) -> int:
        await cur.execute(_COUNT, (user_id, device_id))
        row = await cur.fetchone()
        return int(row[0]) if row else 0

    async def count(self, user_id: uuid.UUID, device_id: str) -> int:
        async with self.db.cursor() as cur:
            return await self._count(cur, user_id, device_id)

    async def claim(self, user_id: uuid.UUID, device_id: str) -> tuple[OneTimeKey | None, int]:
        """One key for a session with this device, never handed out before (or its fallback key);
        and how many one-time keys it has left."""
        async with self.db.transaction() as cur:
            await cur.execute(_CLAIM, (user_id, device_id))
            row = await cur.fetchone()
            key = OneTimeKey(*row) if row else None
            if key is None:
                await cur.execute(_FALLBACK, (user_id, device_id))
                row = await cur.fetchone()
                key = OneTimeKey(row[0], row[1], row[2], fallback=True) if row else None
            return key, await self._count(cur, user_id, device_id)

    async def send(self, sender: uuid.UUID, sender_device: str, messages: list[tuple[uuid.UUID, str, Any]]) -> int:
        """Queue payloads for devices, all or none; returns how many reached an existing device."""
        delivered = 0
        async with self.db.transaction() as cur:
            for user_id, device_id, payload in messages:
                await cur.execute(
                    _SEND, (user_id, device_id, sender, sender_device, json_text(payload), user_id, device_id)
                )
                delivered += cur.rowcount
        return delivered

    async def inbox(self, user_id: uuid.UUID, device_id: str, after: int, limit: int) -> list[InboxItem]:
        async with self.db.cursor() as cur:
            await cur.execute(_INBOX, (user_id, device_id, after, limit))
            return [InboxItem(*row) for row in await cur.fetchall()]

    async def ack(self, user_id: uuid.UUID, device_id: str, upto: int) -> None:
        async with self.db.transaction() as cur:
            await cur.execute(_ACK, (user_id, device_id, upto))

    async def remove(self, user_id: uuid.UUID, device_id: str) -> bool:
        async with self.db.transaction() as cur:
            await cur.execute(_DELETE_DEVICE, (user_id, device_id))
            return bool(cur.rowcount)

    async def remove_user(self, user_id: uuid.UUID) -> int:
        """Every device of the user (their erasure: the names they gave them are theirs); how many."""
        async with self.db.transaction() as cur:
            await cur.execute(_DELETE_USER, (user_id,))
            return int(cur.rowcount)
