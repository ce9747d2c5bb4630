"""Users and notifications as JSON (HTTP answers and WebSocket frames alike; docs/api.md, People).

Pure functions; ids and times stay objects for orjson (see api/shapes.py), except in frames built
with `frame_safe`, which the hub encodes itself.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import UTC, datetime
from typing import Any
from uuid import UUID

from .projections.notifications import Notification
from .projections.people import Person


def user_json(p: Person, now: datetime | None = None) -> dict[str, Any]:
    """A user: id, names, `display` (what to render, docs/api.md Impersonation) and `status`
    (null once expired)."""
    now = now or datetime.now(UTC)
    status = None
    expires = p.status_expires_at
    if (p.status_text or p.status_emoji) and (expires is None or expires > now):
        status = {"text": p.status_text or "", "emoji": p.status_emoji, "expires_at": expires}
    return {
        "id": p.id,
        "username": p.username,
        "display_name": p.display_name,
        "created_at": p.created_at,
        "display": f"{p.display_name} (@{p.username})" if p.name_collision else p.display_name,
        "name_collision": p.name_collision,
        "status": status,
    }


def users_map(people: Iterable[Person]) -> dict[str, dict[str, Any]]:
    """`users`: user objects keyed by id, beside lists that name users by id."""
    now = datetime.now(UTC)
    return {str(p.id): user_json(p, now) for p in people}


def notification_json(n: Notification) -> dict[str, Any]:
    return {
        "id": n.message_id,
        "message_id": n.message_id,
        "room_id": n.room_id,
        "reason": n.reason,
        "read": n.read,
        "created_at": n.created_at,
        "actor_id": n.actor_id,
        "message": {
            "id": n.message_id,
            "message_id": n.message_id,
            "room_id": n.room_id,
            "user_id": n.actor_id,
            "content": n.content,
            "timestamp": n.created_at,
        },
        "room": {"id": n.room_id, "name": n.room_name, "type": n.room_type},
    }


def jsonable(value: Any) -> Any:
    """UUIDs and times as text, for frames (orjson writes both, but times with `Z` only via util)."""
    if isinstance(value, dict):
        return {k: jsonable(v) for k, v in value.items()}
    if isinstance(value, list):
        return [jsonable(v) for v in value]
    if isinstance(value, UUID):
        return str(value)
    if isinstance(value, datetime):
        return value.astimezone(UTC).isoformat().replace("+00:00", "Z")
    return value
