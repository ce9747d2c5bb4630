"""Projection "rooms": rooms and their membership (joined / invited / banned, with roles).

An erased user leaves every room (every membership row, bans included, goes); rooms they created
keep `created_by`, an id that no longer names anyone.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import orjson

from ..db import Cursor, Database, Executor
from ..events.model import RecordedEvent
from ..events.types import EventType
from .base import Projection


class RoomsProjection(Projection):
    name = "rooms"
    posted_function = "gochat_rooms_posted"  # rooms.last_message_id (sql/migrations/082)
    tables = ("rooms", "memberships")
    handles = frozenset(
        {
            EventType.ROOM_CREATED,
            EventType.ROOM_UPDATED,
            EventType.MEMBER_JOINED,
            EventType.MEMBER_LEFT,
            EventType.MEMBER_KICKED,
            EventType.MEMBER_INVITED,
            EventType.MEMBER_DECLINED,
            EventType.MEMBER_BANNED,
            EventType.MEMBER_UNBANNED,
            EventType.MEMBER_ROLE_CHANGED,
            EventType.MESSAGE_POSTED,
            EventType.USER_ERASED,
        }
    )

    async def apply_batch(self, cur: Executor, events: Sequence[RecordedEvent]) -> None:
        # message.posted only raises rooms.last_message_id (a max), so it is order-free: one
        # statement for the batch instead of one per message.
        latest: dict[Any, int] = {}
        for e in events:
            if e.type == EventType.MESSAGE_POSTED:
                latest[e.stream_id] = e.id
            elif e.type in self.handles:
                await self.apply(cur, e)
        if latest:
            posts = [{"room_id": room, "id": last} for room, last in latest.items()]
            await cur.execute("SELECT gochat_rooms_posted(%s::jsonb)", (orjson.dumps(posts).decode(),))

    async def apply(self, cur: Executor, e: RecordedEvent) -> None:
        d = e.data
        room = e.stream_id
        match e.type:
            case EventType.ROOM_CREATED:
                members = d.get("members")
                await cur.execute(
                    "INSERT INTO rooms (id, name, type, topic, created_by, created_at, group_key, encrypted)"
                    " VALUES (%s, %s, %s, %s, %s, %s, %s, %s) ON CONFLICT (id) DO NOTHING",
                    (room, d["name"], d["type"], d["topic"], e.actor_id, e.recorded_at,
                     ",".join(sorted(members)) if d["type"] == "group" and members else None,
                     bool(d.get("encrypted"))),
                )  # fmt: skip
            case EventType.ROOM_UPDATED:
                await cur.execute(
                    "UPDATE rooms SET name = coalesce(%s, name), topic = coalesce(%s, topic) WHERE id = %s",
                    (d.get("name"), d.get("topic"), room),
                )
            case EventType.MEMBER_JOINED:
                await cur.execute(
                    "INSERT INTO memberships (room_id, user_id, state, role, joined_at, since_id)"
                    " VALUES (%s, %s, 'joined', %s, %s, %s)"
                    " ON CONFLICT (room_id, user_id) DO UPDATE SET state = 'joined', role = EXCLUDED.role,"
                    " joined_at = EXCLUDED.joined_at, since_id = EXCLUDED.since_id"
                    " WHERE memberships.state <> 'joined'",
                    (room, d["user_id"], d["role"], e.recorded_at, e.id),
                )
                await self._count(cur, room)
            case EventType.MEMBER_LEFT | EventType.MEMBER_KICKED | EventType.MEMBER_UNBANNED:
                state = "banned" if e.type == EventType.MEMBER_UNBANNED else "joined"
                await cur.execute(
                    "DELETE FROM memberships WHERE room_id = %s AND user_id = %s AND state IN (%s, 'invited')",
                    (room, d["user_id"], state),
                )
                await self._count(cur, room)
            case EventType.MEMBER_INVITED:
                await cur.execute(
                    "INSERT INTO memberships (room_id, user_id, state, since_id, invited_by, invited_at)"
                    " VALUES (%s, %s, 'invited', %s, %s, %s) ON CONFLICT (room_id, user_id) DO NOTHING",
                    (room, d["user_id"], e.id, e.actor_id, e.recorded_at),
                )
            case EventType.MEMBER_DECLINED:
                await cur.execute(
                    "DELETE FROM memberships WHERE room_id = %s AND user_id = %s AND state = 'invited'",
                    (room, d["user_id"]),
                )
            case EventType.MEMBER_BANNED:
                await cur.execute(
                    "INSERT INTO memberships (room_id, user_id, state, role, since_id)"
                    " VALUES (%s, %s, 'banned', 'member', %s) ON CONFLICT (room_id, user_id)"
                    " DO UPDATE SET state = 'banned', role = 'member', joined_at = NULL, since_id = EXCLUDED.since_id",
                    (room, d["user_id"], e.id),
                )
                await self._count(cur, room)
            case EventType.USER_ERASED:
                await cur.execute(
                    "WITH gone AS (DELETE FROM memberships WHERE user_id = %s RETURNING room_id, state)"
                    " UPDATE rooms r SET member_count = r.member_count - g.n"
                    " FROM (SELECT room_id, count(*) FILTER (WHERE state = 'joined') AS n FROM gone GROUP BY 1) g"
                    " WHERE r.id = g.room_id",
                    (e.stream_id,),
                )
            case EventType.MEMBER_ROLE_CHANGED:
                await cur.execute(
                    "UPDATE memberships SET role = %s WHERE room_id = %s AND user_id = %s AND state = 'joined'",
                    (d["role"], room, d["user_id"]),
                )

    @staticmethod
    async def _count(cur: Executor, room: Any) -> None:
        # Membership changes are rare next to messages; recounting keeps the count exact.
        await cur.execute(
            "UPDATE rooms SET member_count ="
            " (SELECT count(*) FROM memberships WHERE room_id = %s AND state = 'joined') WHERE id = %s",
            (room, room),
        )


# --- read queries (run inside Database.read(user), so row-level security applies) ---------------
ROOM_COLUMNS = (
    "r.id, r.name, r.type, r.topic, r.created_by, r.created_at, r.member_count, r.last_message_id, r.encrypted"
)


def room_row(row: Sequence[Any]) -> dict[str, Any]:
    keys = ("id", "name", "type", "topic", "created_by", "created_at", "member_count", "last_message_id", "encrypted")
    return dict(zip(keys, row, strict=True))


async def get_room(cur: Cursor, room_id: Any) -> dict[str, Any] | None:
    await cur.execute(f"SELECT {ROOM_COLUMNS} FROM rooms r WHERE r.id = %s", (room_id,))
    row = await cur.fetchone()
    return room_row(row) if row else None


async def get_membership(cur: Cursor, room_id: Any, user_id: Any) -> dict[str, Any] | None:
    await cur.execute(
        "SELECT state, role, joined_at, since_id FROM memberships WHERE room_id = %s AND user_id = %s",
        (room_id, user_id),
    )
    row = await cur.fetchone()
    return dict(zip(("state", "role", "joined_at", "since_id"), row, strict=True)) if row else None


async def list_members(cur: Cursor, room_id: Any, state: str = "joined") -> list[dict[str, Any]]:
    await cur.execute(
        "SELECT user_id, role, joined_at FROM memberships WHERE room_id = %s AND state = %s"
        " ORDER BY joined_at, user_id",
        (room_id, state),
    )
    return [dict(zip(("user_id", "role", "joined_at"), r, strict=True)) for r in await cur.fetchall()]


async def member_ids(cur: Cursor, room_id: Any) -> list[Any]:
    await cur.execute("SELECT user_id FROM memberships WHERE room_id = %s AND state = 'joined'", (room_id,))
    return [r[0] for r in await cur.fetchall()]


async def joined_room_ids(cur: Cursor, user_id: Any) -> list[Any]:
    await cur.execute("SELECT room_id FROM memberships WHERE user_id = %s AND state = 'joined'", (user_id,))
    return [r[0] for r in await cur.fetchall()]


async def invitations(cur: Cursor, user_id: Any) -> list[dict[str, Any]]:
    """The rooms a user is invited to (and has neither accepted nor declined), newest first."""
    await cur.execute(
        f"SELECT {ROOM_COLUMNS}, m.invited_by, m.invited_at FROM memberships m JOIN rooms r ON r.id = m.room_id"
        " WHERE m.user_id = %s AND m.state = 'invited' ORDER BY m.since_id DESC",
        (user_id,),
    )
    return [{"room": room_row(row[:-2]), "invited_by": row[-2], "invited_at": row[-1]} for row in await cur.fetchall()]


async def find_group(cur: Cursor, group_key: str) -> dict[str, Any] | None:
    await cur.execute(f"SELECT {ROOM_COLUMNS} FROM rooms r WHERE r.group_key = %s", (group_key,))
    row = await cur.fetchone()
    return room_row(row) if row else None


async def public_directory(cur: Cursor, name: str | None, limit: int, after: str | None) -> list[dict[str, Any]]:
    """Public rooms by name (case-insensitive substring), keyset-paginated by (lower(name), id)."""
    where, params = ["r.type = 'public'"], []
    if name:
        where.append("lower(r.name) LIKE %s")
        params.append("%" + name.lower().replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "%")
    if after:
        where.append("(lower(r.name), r.id::text) > (%s, %s)")
        low, _, rid = after.rpartition("|")
        params += [low, rid]
    await cur.execute(
        f"SELECT {ROOM_COLUMNS} FROM rooms r WHERE {' AND '.join(where)} ORDER BY lower(r.name), r.id LIMIT %s",
        (*params, limit),
    )
    return [room_row(r) for r in await cur.fetchall()]


async def is_encrypted(db: Database, room_id: Any) -> bool | None:
    """Whether the room was created encrypted (None: no such room). Never changes once set, so
    callers may keep the answer."""
    value = await db.fetchval("SELECT encrypted FROM rooms WHERE id = %s", (room_id,))
    return None if value is None else bool(value)
