"""Crypto-shredding: each user's personal content in the log is sealed under a data key of theirs.

Which fields are personal is `PERSONAL` below (message text and attachments, edits, file names,
names and their skeletons, status text, password hashes, the links of a message's previews, the
reasons of reports and bans).
Before an event is stored those fields are taken out of its data and replaced by one `sealed`
string: `<owner hex>.<key version>.<base64 of nonce + AES-GCM ciphertext of the fields' JSON>`,
with the event's type and stream as associated data, so a sealed value cannot be moved to another
event. Every read of the log opens it again (`Sealer.open`), so projections, frames, exports and
time travel see the event as written; once the owner's keys are destroyed (`gochat users erase`),
it opens to `erased()`: the same fields, blank.

Why in Python and not in PL/pgSQL with pgcrypto: the embedded PostgreSQL wheel used without
DATABASE_URL ships no pgcrypto, and pgcrypto has no AES-GCM. So the projections' SQL never reads a
personal field from the `events` table: the append sends the plain fields along with the sealed row
for its posted functions (gochat_append.sql), and the SQL projections get opened data from Python
(gochat_apply_opened.sql). A path that did read them from the table would find them missing (NULL),
which fails loudly rather than storing ciphertext.

Cost on the append path: one AES-GCM seal and one small JSON encoding per personal event, with keys
cached per process (a user's first event after start-up reads or makes their key: one query per
batch for all such users).
"""

from __future__ import annotations

import base64
import os
import time
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any, Final
from uuid import UUID

import orjson
from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from ..db import Cursor, Database
from ..settings import Settings
from .keystore import DataKey, KeyStore, LocalKeks, TableKeyStore
from .model import uuid_text
from .types import EventType

ERASED_NAME: Final = "deleted user"
ERASED_USERNAME_PREFIX: Final = "deleted-"  # + the id's hex
SEALED: Final = "sealed"


@dataclass(frozen=True, slots=True)
class Personal:
    fields: frozenset[str]
    by_actor: bool  # the owner is the event's actor (what they wrote in a room), else its stream (a user's own)


# keyed by plain str: looked up once per appended and per read event
PERSONAL: Final[dict[str, Personal]] = {
    EventType.MESSAGE_POSTED.value: Personal(frozenset({"content", "attachments"}), True),
    EventType.MESSAGE_EDITED.value: Personal(frozenset({"content"}), True),
    EventType.FILE_UPLOADED.value: Personal(frozenset({"name", "attachment"}), True),
    EventType.USER_REGISTERED.value: Personal(
        frozenset({"username", "username_norm", "display_name", "password_hash", "username_skeleton"}), False
    ),
    EventType.USER_PROFILE_UPDATED.value: Personal(frozenset({"display_name"}), False),
    EventType.USER_STATUS_SET.value: Personal(frozenset({"text", "emoji"}), False),
    # the skeleton spells the username (auth/confusables.py), and a preview names the links the
    # author posted (the previewer appends it as the message's author: gochat/previews/worker.py)
    EventType.USER_SKELETON_SET.value: Personal(frozenset({"username_skeleton"}), False),
    EventType.MESSAGE_LINK_PREVIEW.value: Personal(frozenset({"previews"}), True),
    # the words of whoever wrote them: a report's reason is the reporter's, a ban's the moderator's
    EventType.MESSAGE_REPORTED.value: Personal(frozenset({"reason"}), True),
    EventType.MEMBER_BANNED.value: Personal(frozenset({"reason"}), True),
}
PERSONAL_TYPES: Final = frozenset(str(t) for t in PERSONAL)


def erased(type_: str, stream: str) -> dict[str, Any]:
    """What an event's personal fields read as once their owner's keys are destroyed."""
    if type_ == EventType.USER_REGISTERED:
        anonymous = ERASED_USERNAME_PREFIX + stream.replace("-", "")
        return {"username": anonymous, "username_norm": anonymous, "display_name": ERASED_NAME, "password_hash": None}
    if type_ == EventType.USER_PROFILE_UPDATED:
        return {"display_name": ERASED_NAME}
    if type_ == EventType.USER_STATUS_SET:
        return {"text": "", "emoji": None}
    if type_ == EventType.MESSAGE_POSTED:
        return {"content": "", "attachments": None}
    if type_ == EventType.FILE_UPLOADED:
        return {"name": "", "attachment": {}}  # the files table's columns are NOT NULL
    if type_ == EventType.USER_SKELETON_SET:
        return {}  # no skeleton: the people projection stores NULL, as it does at erasure
    if type_ == EventType.MESSAGE_LINK_PREVIEW:
        return {"previews": []}  # as the export redacts it (tools/redact.py)
    if type_ in (EventType.MESSAGE_REPORTED, EventType.MEMBER_BANNED):
        return {"reason": ""}  # reports.reason is NOT NULL
    return {"content": ""}  # message.edited


def owner_of(type_: str, stream: UUID, actor: UUID | None) -> UUID | None:
    personal = PERSONAL.get(type_)
    if personal is None:
        return None
    return actor if personal.by_actor else stream


class KeyNotLoaded(RuntimeError):
    """`open` met a key that `prepare` did not load (a reader forgot to prepare its rows)."""


_Cipher = AESGCM | None  # None: the key is destroyed


class Sealer:
    """Seals events for the log and opens them back, with the data keys cached per process.

    Keys for sealing are kept as long as the process lives: one destroyed meanwhile (an erasure on
    another node) only makes what is sealed with it unreadable, which is what erasure wants. Keys
    for opening are re-read after `ttl` seconds, so every process stops opening an erased user's
    content within that time; the process that appends `user.erased` drops them at once (`forget`).
    """

    def __init__(self, keys: KeyStore, *, ttl: float = 60.0) -> None:
        self.keys = keys
        self.ttl = ttl
        self._sealing: dict[UUID, tuple[str, _Cipher]] = {}  # owner -> ("<owner hex>.<version>.", cipher)
        self._opening: dict[tuple[str, int], tuple[float, _Cipher]] = {}

    # --- sealing (the append path) ------------------------------------------------------------------
    async def seal_all(
        self, events: Iterable[tuple[str, UUID, UUID | None, Mapping[str, Any]]]
    ) -> list[Mapping[str, Any]]:
        """The stored form of each (type, stream, actor, data): personal fields sealed."""
        events = list(events)
        missing = {
            owner
            for type_, stream, actor, _ in events
            if (owner := owner_of(type_, stream, actor)) is not None and owner not in self._sealing
        }
        if missing:
            await self._load_sealing(missing)
        return [self.seal(*e) for e in events]

    async def _load_sealing(self, owners: Iterable[UUID]) -> None:
        for owner, key in (await self.keys.current(list(owners))).items():
            self._sealing[owner] = (f"{owner.hex}.{key.version}.", None if key.key is None else AESGCM(key.key))

    def seal(self, type_: str, stream: UUID, actor: UUID | None, data: Mapping[str, Any]) -> Mapping[str, Any]:
        personal = PERSONAL.get(type_)
        if personal is None:
            return data
        owner = actor if personal.by_actor else stream
        if owner is None:
            return data  # nobody's (a system message): nothing to shred
        prefix, cipher = self._sealing[owner]
        fields = personal.fields
        stored = {k: v for k, v in data.items() if k not in fields}
        if cipher is None:  # the owner was erased: store nothing of theirs
            stored.update(erased(type_, uuid_text(stream)))
            return stored
        plain = orjson.dumps({k: v for k, v in data.items() if k in fields})
        nonce = os.urandom(12)
        box = cipher.encrypt(nonce, plain, _aad(type_, uuid_text(stream)))
        stored[SEALED] = prefix + base64.b64encode(nonce + box).decode("ascii")
        return stored

    # --- opening (every read) ------------------------------------------------------------------------
    async def prepare(self, datas: Iterable[Any], cur: Cursor | None = None) -> None:
        """Load the keys that opening these event datas needs (dicts, or JSON text), on `cur` if
        given: a reader holding a connection must not wait for a second one (a pool of one)."""
        now = time.monotonic()
        wanted: set[tuple[str, int]] = set()
        for data in datas:
            envelope = _envelope(data)
            if envelope is None:
                continue
            ref = _ref(envelope)
            cached = self._opening.get(ref)
            if cached is None or now - cached[0] > self.ttl:
                wanted.add(ref)
        if wanted:
            found = await self.keys.get([(UUID(hex=o), v) for o, v in wanted], cur)
            for (owner, version), key in found.items():
                self._remember(owner, version, key, now)

    def _remember(self, owner: UUID, version: int, key: DataKey, now: float) -> None:
        self._opening[(owner.hex, version)] = (now, None if key.key is None else AESGCM(key.key))

    def open(self, type_: str, stream: str | UUID, data: dict[str, Any]) -> dict[str, Any]:
        """The event's data with its personal fields back (or blank, their keys destroyed). Fields
        present in `data` itself win over sealed ones: a reader may have put the message's current
        state there (projections/current.py)."""
        envelope = data.get(SEALED)
        if not isinstance(envelope, str):
            return data
        ref = _ref(envelope)
        cached = self._opening.get(ref)
        if cached is None:
            raise KeyNotLoaded(f"key {ref} was not prepared")
        stream_text = stream if isinstance(stream, str) else uuid_text(stream)
        cipher = cached[1]
        fields: dict[str, Any]
        if cipher is None:
            fields = erased(type_, stream_text)
        else:
            raw = base64.b64decode(envelope[envelope.index(".", 33) + 1 :])
            try:
                fields = orjson.loads(cipher.decrypt(raw[:12], raw[12:], _aad(type_, stream_text)))
            except InvalidTag:
                fields = erased(type_, stream_text)  # not this event's: never show another's content
        for k, v in data.items():
            if k != SEALED:
                fields[k] = v
        return fields

    def open_text(self, type_: str, stream: str, data: str) -> str:
        """`open` for JSON text (the log tools' rows)."""
        if '"sealed"' not in data:
            return data
        return orjson.dumps(self.open(type_, stream, orjson.loads(data))).decode()

    def forget(self, owner: UUID) -> None:
        """Drop an owner's keys (their erasure committed here): re-read before the next use."""
        self._sealing.pop(owner, None)
        hex_ = owner.hex
        for ref in [r for r in self._opening if r[0] == hex_]:
            del self._opening[ref]


def _aad(type_: str, stream: str) -> bytes:
    return f"{type_}\n{stream}".encode()


def _envelope(data: Any) -> str | None:
    if isinstance(data, str):
        if '"sealed"' not in data:
            return None
        data = orjson.loads(data)
    if not isinstance(data, Mapping):
        return None
    envelope = data.get(SEALED)
    return envelope if isinstance(envelope, str) else None


def _ref(envelope: str) -> tuple[str, int]:
    """(owner hex, key version) of a sealed value."""
    return envelope[:32], int(envelope[33 : envelope.index(".", 33)])


def configured_sealer(db: Database, settings: Settings) -> Sealer:
    """The sealer every process builds from its settings (the app, the tools)."""
    return Sealer(TableKeyStore(db, LocalKeks(settings.key_encryption_keys)), ttl=settings.key_cache_seconds)
