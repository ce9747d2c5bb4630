"""`GET /rooms/:id/state?at=<position or RFC 3339 time>`: the room as it was then (room admins)."""

from __future__ import annotations

from datetime import UTC, datetime

from aiohttp import web

from ..errors import ValidationFailed
from ..keys import TIME_TRAVEL
from . import schemas
from .docs import documented
from .rooms import caller_and_room
from .shapes import member_json, message_json, utc_time
from .util import MAX_ID, json, query_int

routes = web.RouteTableDef()


def _at(request: web.Request) -> int | datetime:
    """A log position (a positive integer) or an RFC 3339 time; one without an offset is UTC."""
    raw = request.query.get("at", "").strip()
    if raw.isascii() and raw.isdigit():
        if not 0 < int(raw) <= MAX_ID:
            raise ValidationFailed("invalid query", details={"at": [f"Must be between 1 and {MAX_ID}."]})
        return int(raw)
    try:
        at = datetime.fromisoformat(raw)
        # In UTC now: an offset can carry a time past the calendar's ends (0001-01-01 at -20:00).
        return (at if at.tzinfo is not None else at.replace(tzinfo=UTC)).astimezone(UTC)
    except (ValueError, OverflowError):
        reason = "Missing." if not raw else "Neither a log position nor an RFC 3339 time."
        raise ValidationFailed("invalid query", details={"at": [reason]}) from None


@routes.get("/rooms/{room_id}/state")
@documented(
    "A room as it was at a log position or time (room admins)",
    query=schemas.StateQuery,
    responses={200: schemas.RoomState},
)
async def room_state(request: web.Request) -> web.Response:
    user, room_id = caller_and_room(request)
    at = _at(request)
    before = query_int(request, "before", None, 1, MAX_ID)
    limit = query_int(request, "limit", 100, 1, 100) or 100
    then = await request.app[TIME_TRAVEL].room(user, room_id, at, before=before, limit=limit)
    room = then.room
    return json(
        {
            "room": {"id": str(room.id), "name": room.name, "topic": room.topic, "type": room.type},
            "members": [member_json(m) for m in then.members],
            "messages": [message_json(m) for m in then.messages],
            "has_more": then.has_more,
            "at": {"id": then.at.id, "timestamp": utc_time(then.at.recorded_at)},
        }
    )
