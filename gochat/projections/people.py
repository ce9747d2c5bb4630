"""Projection "people": what a profile has beyond the name (status, the username's skeleton) and
room settings (who may mention @room). Inline, so a status or setting is read back at once; its
rules are sql/functions/gochat_apply_people.sql. Read queries for the user directory live here too
(they read the users projection's table as well).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any
from uuid import UUID

from ..auth.confusables import skeleton
from ..db import Cursor
from ..events.types import EventType
from .base import SqlProjection


class PeopleProjection(SqlProjection):
    name = "people"
    tables = ("user_profiles", "room_settings", "room_link_previews")
    handles = frozenset(
        {
            EventType.USER_REGISTERED,
            EventType.USER_PROFILE_UPDATED,
            EventType.USER_STATUS_SET,
            EventType.USER_ERASED,
            EventType.ROOM_SETTINGS_CHANGED,
            EventType.USER_SKELETON_SET,
        }
    )
    inline = True
    function = "gochat_apply_people"


@dataclass(frozen=True, slots=True)
class Person:
    id: UUID
    username: str
    display_name: str
    created_at: datetime
    status_text: str | None
    status_emoji: str | None
    status_expires_at: datetime | None
    #: the display name's skeleton is another user's username's (impersonation, docs/api.md)
    name_collision: bool = False


_PERSON = (
    "u.user_id AS id, u.username, u.display_name, u.created_at, u.status_text, u.status_emoji, u.status_expires_at"
    " FROM user_profiles u"
)


def _person(row: Sequence[Any]) -> Person:
    return Person(*row)


async def people(cur: Cursor, ids: Sequence[UUID]) -> list[Person]:
    """The users with these ids that exist and are not erased (any order)."""
    if not ids:
        return []
    await cur.execute(f"SELECT {_PERSON} WHERE u.user_id = ANY(%s::uuid[]) AND NOT u.erased", (list(ids),))
    return [_person(r) for r in await cur.fetchall()]


async def skeleton_owners(cur: Cursor, skeletons: Sequence[str]) -> dict[str, set[UUID]]:
    """Who has a username with each of these skeletons."""
    if not skeletons:
        return {}
    await cur.execute(
        "SELECT username_skeleton, user_id FROM user_profiles WHERE username_skeleton = ANY(%s)", (list(skeletons),)
    )
    found: dict[str, set[UUID]] = {}
    for skel, uid in await cur.fetchall():
        found.setdefault(skel, set()).add(uid)
    return found


def _like(prefix: str) -> str:
    return prefix.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "%"


# Ranks: 0 exact username, 1 username prefix, 2 display name prefix, 3 a later word of the display name.
_SEARCH = f"""
SELECT * FROM (
    SELECT CASE WHEN u.username_norm = %(exact)s THEN 0
                WHEN u.username_norm LIKE %(norm)s THEN 1
                WHEN lower(u.display_name) LIKE %(low)s THEN 2 ELSE 3 END AS rank,
           u.username_norm, {_PERSON}
    WHERE NOT u.erased
      AND (u.username_norm LIKE %(norm)s OR lower(u.display_name) LIKE %(low)s
           OR lower(u.display_name) LIKE %(word)s)
      AND (u.user_id = %(me)s
           OR EXISTS (SELECT 1 FROM memberships m JOIN rooms r ON r.id = m.room_id
                      WHERE m.user_id = u.user_id AND m.state = 'joined'
                        AND (r.type = 'public' OR EXISTS (SELECT 1 FROM memberships mine
                             WHERE mine.room_id = m.room_id AND mine.user_id = %(me)s AND mine.state = 'joined'))))
      AND NOT EXISTS (SELECT 1 FROM blocks b WHERE b.user_id = %(me)s AND b.blocked_id = u.user_id)
) x
WHERE (x.rank, x.username_norm, x.id::text) > (%(after_rank)s, %(after_name)s, %(after_id)s)
ORDER BY x.rank, x.username_norm, x.id::text
LIMIT %(limit)s
"""


async def search(
    cur: Cursor, me: UUID, norm: str, lowered: str, limit: int, after: tuple[int, str, str] | None
) -> list[tuple[int, str, Person]]:
    """Users the caller may see (docs/api.md, Users) whose username or display name starts with the
    query, best first: (rank, username_norm, person), keyset-paged after `after`."""
    rank, name, uid = after or (-1, "", "")
    await cur.execute(
        _SEARCH,
        {
            "exact": norm, "norm": _like(norm), "low": _like(lowered), "word": "% " + _like(lowered), "me": me,
            "after_rank": rank, "after_name": name, "after_id": uid, "limit": limit,
        },
    )  # fmt: skip
    return [(r[0], r[1], _person(r[2:])) for r in await cur.fetchall()]


async def room_mentions(cur: Cursor, room_id: UUID) -> str:
    """Who may mention @room: "admins" (the default) or "members"."""
    await cur.execute("SELECT room_mentions FROM room_settings WHERE room_id = %s", (room_id,))
    row = await cur.fetchone()
    return str(row[0]) if row else "admins"


async def link_previews(cur: Cursor, room_id: UUID) -> bool:
    """Whether the room shows link previews (on unless its admins turned them off)."""
    await cur.execute("SELECT enabled FROM room_link_previews WHERE room_id = %s", (room_id,))
    row = await cur.fetchone()
    return bool(row[0]) if row else True


async def usernames(cur: Cursor, norms: Sequence[str]) -> dict[str, UUID]:
    """The users (not erased) with these normalized usernames."""
    if not norms:
        return {}
    await cur.execute(
        "SELECT username_norm, user_id FROM user_profiles WHERE username_norm = ANY(%s) AND NOT erased",
        (list(norms),),
    )
    return dict(await cur.fetchall())


async def with_collisions(cur: Cursor, found: list[Person]) -> list[Person]:
    """Mark the people whose display name looks like another user's username."""
    skels = {p.id: skeleton(p.display_name) for p in found}
    owners = await skeleton_owners(cur, sorted(set(skels.values())))
    return [
        dataclasses.replace(p, name_collision=bool(owners.get(skels[p.id], set()) - {p.id})) if p.id in skels else p
        for p in found
    ]


async def without_skeleton(cur: Cursor, limit: int) -> list[tuple[UUID, str]]:
    """Users (not erased) whose username's skeleton is not on record, (id, username): those
    registered before skeletons were (services/skeletons.py)."""
    await cur.execute(
        "SELECT user_id, username FROM user_profiles WHERE username_skeleton IS NULL AND NOT erased"
        " ORDER BY user_id LIMIT %s",
        (limit,),
    )
    return [(r[0], r[1]) for r in await cur.fetchall()]


async def still_without_skeleton(cur: Cursor, ids: Sequence[UUID]) -> set[UUID]:
    """Which of these users still have no skeleton on record."""
    await cur.execute(
        "SELECT user_id FROM user_profiles"
        " WHERE user_id = ANY(%s::uuid[]) AND username_skeleton IS NULL AND NOT erased",
        (list(ids),),
    )
    return {r[0] for r in await cur.fetchall()}
