"""Moderation over HTTP: mutes, slow mode, reports, pins (room admins; reports by any member), and
the server administrators' routes under /admin."""

from __future__ import annotations

from typing import Any

from aiohttp import web
from marshmallow import RAISE, Schema, fields, validate

from ..errors import ValidationFailed
from ..events.catalog import MUTE_MAX_MINUTES, REPORT_ACTIONS, SLOW_MODE_MAX_SECONDS
from ..events.fields import Text
from ..keys import ADMIN, MODERATION
from ..live.wire import render, timestamp
from . import schemas
from .authn import current_user_id
from .docs import NO_CONTENT, documented
from .limits import limited
from .shapes import message_json
from .util import MAX_ID, json, load_body, path_int, path_uuid, query_int

routes = web.RouteTableDef()


class Strict(Schema):
    class Meta:
        unknown = RAISE


class MuteBody(Strict):
    minutes = fields.Integer(strict=True, required=True, validate=validate.Range(min=1, max=MUTE_MAX_MINUTES))


class SlowModeBody(Strict):
    seconds = fields.Integer(strict=True, required=True, validate=validate.Range(min=0, max=SLOW_MODE_MAX_SECONDS))


class ReportBody(Strict):
    reason = Text(required=True, min_len=1, max_len=500)


class ResolveBody(Strict):
    action = fields.String(required=True, validate=validate.OneOf(REPORT_ACTIONS))
    minutes = fields.Integer(strict=True, load_default=None, validate=validate.Range(min=1, max=MUTE_MAX_MINUTES))


def _room(request: web.Request) -> tuple[Any, Any]:
    return current_user_id(request), path_uuid(request, "room_id")


def _state(request: web.Request, allowed: tuple[str, ...]) -> str | None:
    state = request.query.get("state") or None
    if state is not None and state not in allowed:
        raise ValidationFailed("invalid query", details={"state": [f"One of: {', '.join(allowed)}."]})
    return state


@routes.put("/rooms/{room_id}/mutes/{user_id}")
@documented("Mute a member", body=MuteBody, responses={200: schemas.Mute}, tags=("moderation",))
@limited("write")
async def mute(request: web.Request) -> web.Response:
    body = await load_body(request, MuteBody())
    target = path_uuid(request, "user_id")
    until = await request.app[MODERATION].mute(*_room(request), target, body["minutes"])
    return json({"user_id": target, "until": until})


@routes.delete("/rooms/{room_id}/mutes/{user_id}")
@documented("Unmute a member", responses={204: NO_CONTENT}, tags=("moderation",))
@limited("write")
async def unmute(request: web.Request) -> web.Response:
    await request.app[MODERATION].unmute(*_room(request), path_uuid(request, "user_id"))
    return web.Response(status=204)


@routes.get("/rooms/{room_id}/mutes")
@documented("The room's mutes", responses={200: schemas.MuteList}, tags=("moderation",))
async def mutes(request: web.Request) -> web.Response:
    found = await request.app[MODERATION].mutes(*_room(request))
    return json({"mutes": [{"user_id": u, "until": t} for u, t in sorted(found.items(), key=lambda kv: kv[1])]})


@routes.put("/rooms/{room_id}/slow_mode")
@documented("Set slow mode", body=SlowModeBody, responses={200: schemas.SlowMode}, tags=("moderation",))
@limited("write")
async def slow_mode(request: web.Request) -> web.Response:
    body = await load_body(request, SlowModeBody())
    await request.app[MODERATION].set_slow_mode(*_room(request), body["seconds"])
    return json({"seconds": body["seconds"]})


@routes.post("/rooms/{room_id}/messages/{message_id}/reports")
@documented("Report a message", body=ReportBody, responses={201: schemas.Report}, tags=("moderation",))
@limited("write")
async def report(request: web.Request) -> web.Response:
    body = await load_body(request, ReportBody())
    found = await request.app[MODERATION].report(*_room(request), path_int(request, "message_id"), body["reason"])
    return json(found.public(), status=201)


@routes.get("/rooms/{room_id}/reports")
@documented("The room's reports", responses={200: schemas.ReportList}, tags=("moderation",))
async def reports(request: web.Request) -> web.Response:
    state = _state(request, ("open", "resolved"))
    limit = query_int(request, "limit", 50, 1, 100) or 50
    found = await request.app[MODERATION].reports(*_room(request), state, limit)
    return json({"reports": [r.public() for r in found]})


@routes.post("/rooms/{room_id}/reports/{report_id}/resolve")
@documented("Resolve a report", body=ResolveBody, responses={200: schemas.Report}, tags=("moderation",))
@limited("write")
async def resolve(request: web.Request) -> web.Response:
    body = await load_body(request, ResolveBody())
    found = await request.app[MODERATION].resolve(
        *_room(request), path_int(request, "report_id"), body["action"], body["minutes"]
    )
    return json(found.public())


@routes.put("/rooms/{room_id}/pins/{message_id}")
@documented("Pin a message", responses={204: NO_CONTENT}, tags=("moderation",))
@limited("write")
async def pin(request: web.Request) -> web.Response:
    await request.app[MODERATION].pin(*_room(request), path_int(request, "message_id"))
    return web.Response(status=204)


@routes.delete("/rooms/{room_id}/pins/{message_id}")
@documented("Unpin a message", responses={204: NO_CONTENT}, tags=("moderation",))
@limited("write")
async def unpin(request: web.Request) -> web.Response:
    await request.app[MODERATION].unpin(*_room(request), path_int(request, "message_id"))
    return web.Response(status=204)


@routes.get("/rooms/{room_id}/pins")
@documented("The room's pinned messages", responses={200: schemas.Pins}, tags=("moderation",))
async def pins(request: web.Request) -> web.Response:
    found = await request.app[MODERATION].pins(*_room(request))
    return json({"messages": [message_json(m) for m in found]})


# --- server administrators ------------------------------------------------------------------------
@routes.get("/admin/users")
@documented("Users, for server administrators", responses={200: schemas.AdminUsers}, tags=("admin",))
async def admin_users(request: web.Request) -> web.Response:
    limit = query_int(request, "limit", 50, 1, 200) or 50
    query = (request.query.get("q") or "").strip().casefold()[:64] or None
    found = await request.app[ADMIN].search(current_user_id(request), query, request.query.get("after"), limit)
    after = found[-1].username_norm if len(found) == limit else None
    return json({"users": [u.public() for u in found], "next": after})


@routes.post("/admin/users/{user_id}/deactivate")
@documented("Deactivate a user", responses={204: NO_CONTENT}, tags=("admin",))
@limited("write")
async def deactivate(request: web.Request) -> web.Response:
    await request.app[ADMIN].deactivate(current_user_id(request), path_uuid(request, "user_id"))
    return web.Response(status=204)


@routes.post("/admin/users/{user_id}/reactivate")
@documented("Reactivate a user", responses={204: NO_CONTENT}, tags=("admin",))
@limited("write")
async def reactivate(request: web.Request) -> web.Response:
    await request.app[ADMIN].reactivate(current_user_id(request), path_uuid(request, "user_id"))
    return web.Response(status=204)


@routes.get("/admin/rooms/{room_id}/moderation")
@documented("A room's moderation history", responses={200: schemas.ModerationHistory}, tags=("admin",))
async def moderation_history(request: web.Request) -> web.Response:
    before = query_int(request, "before", None, 1, MAX_ID)
    limit = query_int(request, "limit", 50, 1, 200) or 50
    events = await request.app[ADMIN].history(current_user_id(request), path_uuid(request, "room_id"), before, limit)
    entries = [
        {"id": e.id, "type": e.type, "actor_id": e.actor_id, "timestamp": timestamp(e.recorded_at),
         "data": e.data, "frame": render(e)}
        for e in events
    ]  # fmt: skip
    return json({"events": entries, "next_before": events[-1].id if len(events) == limit else None})
