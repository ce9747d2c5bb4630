"""Mentions, parsed when a message is sent or edited into entities stored on the message.

`@name` names a user by username (the longest existing name the text starts with, so `@bob,` and
`@bob.` find bob); `@room` everyone in the room (its admins, or everyone when the room allows it,
and everyone in group rooms and DMs); `@here` the members online at that moment. An entity is
`{"kind": "user"|"room"|"here", "offset", "length", "user_id"?}`, offsets in code points of the
stored (NFC, trimmed) content. `@here` also records who was online (`here`), for notifications.
"""

from __future__ import annotations

import re
from collections.abc import Awaitable, Callable
from typing import Any
from uuid import UUID

from marshmallow import ValidationError

from ..auth.names import USERNAME_MAX, USERNAME_MIN, normalize_username
from ..db import Database
from ..events.catalog import MESSAGE_MAX
from ..events.fields import clean_text
from ..projections import people as people_queries
from ..projections import rooms as room_queries
from .access import ROLE_RANK, access_in

# `@` at the start or after something that is not part of a word (so `me@example.com` is no mention)
_MENTION = re.compile(r"(?<![\w@])@([^\s@]+)")
_TRAILING = ".,;:!?)]}'\"…"
MAX_MENTIONS = 50

#: Which of these user ids are online now (the presence store).
Online = Callable[[list[str]], Awaitable[set[str]]]


def scan(text: str) -> list[tuple[int, str]]:
    """(offset of the `@`, the word after it) for every mention-like token."""
    return [(m.start(), m.group(1)) for m in _MENTION.finditer(text)][:MAX_MENTIONS]


def _special(word: str) -> str | None:
    bare = word.rstrip(_TRAILING).casefold()
    return bare if bare in ("room", "here") else None


def _candidates(word: str) -> list[str]:
    """The word's prefixes that could be usernames, longest first."""
    word = word[:USERNAME_MAX]
    return [word[:n] for n in range(len(word), USERNAME_MIN - 1, -1)]


class Mentions:
    def __init__(self, db: Database, online: Online) -> None:
        self.db = db
        self.online = online

    async def annotate(self, user_id: UUID, room_id: UUID, content: str) -> dict[str, Any]:
        """The `mentions` (and `here`) to store with a message, or {} when it mentions nobody."""
        if "@" not in content:
            return {}
        try:
            text = clean_text(content, min_len=1, max_len=MESSAGE_MAX)
        except ValidationError:
            return {}  # the append refuses it with the schema's own message
        tokens = scan(text)
        if not tokens:
            return {}
        wanted = {normalize_username(c) for _, w in tokens if not _special(w) for c in _candidates(w)}
        async with self.db.read(user_id) as cur:
            names = await people_queries.usernames(cur, sorted(wanted))
            specials = {_special(w) for _, w in tokens} - {None}
            may_room = here_ids = None
            if specials:
                acc = await access_in(cur, user_id, room_id)
                may_room = (
                    acc.room["type"] == "group"
                    or ROLE_RANK.get(acc.role or "", -1) >= ROLE_RANK["admin"]
                    or await people_queries.room_mentions(cur, room_id) == "members"
                )
                if "here" in specials:
                    members = [str(m) for m in await room_queries.member_ids(cur, room_id) if m != user_id]
                    here_ids = sorted(await self.online(members)) if members else []
        entities: list[dict[str, Any]] = []
        for offset, word in tokens:
            kind = _special(word)
            if kind == "room" and may_room:
                entities.append({"kind": "room", "offset": offset, "length": 5})
            elif kind == "here":
                entities.append({"kind": "here", "offset": offset, "length": 5})
            elif kind is None:
                for candidate in _candidates(word):
                    found = names.get(normalize_username(candidate))
                    if found is not None:
                        entities.append(
                            {"kind": "user", "offset": offset, "length": 1 + len(candidate), "user_id": str(found)}
                        )
                        break
        if not entities:
            return {}
        out: dict[str, Any] = {"mentions": entities}
        if here_ids is not None and any(e["kind"] == "here" for e in entities):
            out["here"] = here_ids
        return out
