"""What the log tools never print: password hashes, and what erased users wrote.

The log itself keeps both (it is append-only; docs/operations.md, "Erasure"), so every tool that
writes events out passes them through a `Redactor` first. Rows are checked as they come, by type
and by id; only the few that match are decoded, changed and encoded again.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any
from uuid import UUID

import orjson

from ..events.scan import RawEvent
from ..events.sealing import ERASED_NAME, ERASED_USERNAME_PREFIX
from ..events.types import EventType
from .formats import EventWriter

_REGISTERED: str = EventType.USER_REGISTERED.value  # plain str: compared once per exported row
# type -> the fields an erased user's event loses, and what they become
_ERASED_FIELDS: dict[str, dict[str, Any]] = {
    EventType.USER_REGISTERED: {"display_name": ERASED_NAME},  # username: the anonymous one, below
    EventType.USER_PROFILE_UPDATED: {"display_name": ERASED_NAME},
    EventType.MESSAGE_POSTED: {"content": "", "attachments": None},
    EventType.MESSAGE_EDITED: {"content": ""},
    EventType.FILE_UPLOADED: {"name": "", "attachment": None},  # the bytes themselves are deleted (files projection)
    EventType.USER_SKELETON_SET: {},  # the skeleton goes, below
    EventType.MESSAGE_LINK_PREVIEW: {"previews": []},  # the links an erased user posted
}


class Redactor:
    def __init__(self, erased: Iterable[UUID] = ()) -> None:
        self.erased = {str(u) for u in erased}

    def __call__(self, rows: Sequence[RawEvent]) -> list[RawEvent]:
        erased = self.erased
        if not erased:
            return [self._redact(r, False) if r[3] == _REGISTERED else r for r in rows]
        # r[1]: the stream (a user's own events), r[7]: the actor (what they wrote in rooms)
        return [
            self._redact(r, r[1] in erased or r[7] in erased)
            if r[3] == _REGISTERED or (r[3] in _ERASED_FIELDS and (r[1] in erased or r[7] in erased))
            else r
            for r in rows
        ]

    @staticmethod
    def _redact(row: RawEvent, erased: bool) -> RawEvent:
        data = orjson.loads(row[5])
        data.pop("password_hash", None)
        if erased:
            data.update(_ERASED_FIELDS[row[3]])
            if row[3] == _REGISTERED:
                data["username"] = data["username_norm"] = ERASED_USERNAME_PREFIX + UUID(row[1]).hex
            data.pop("username_skeleton", None)  # auth/confusables.py: it spells the name too
        return (*row[:5], orjson.dumps(data).decode(), *row[6:])  # type: ignore[return-value]


class RedactingWriter:
    """An EventWriter that redacts rows before handing them on."""

    def __init__(self, writer: EventWriter, redactor: Redactor) -> None:
        self.writer = writer
        self.redactor = redactor

    def write(self, rows: Sequence[RawEvent]) -> None:
        self.writer.write(self.redactor(rows))

    def close(self) -> None:
        self.writer.close()
