"""People over HTTP: the user directory, statuses, DMs, notifications and their settings, blocks
(docs/api.md, People)."""

from __future__ import annotations

from datetime import datetime
from typing import Any
from uuid import UUID

from aiohttp import web
from marshmallow import RAISE, Schema, ValidationError, fields, validate, validates_schema

from ..errors import ValidationFailed
from ..events.fields import Emoji, Text, UUIDStr
from ..keys import DIRECTORY, DMS, NOTIFICATIONS
from ..people_wire import notification_json, user_json, users_map
from . import schemas
from .authn import current_user_id
from .docs import NO_CONTENT, documented
from .limits import limited
from .shapes import room_json
from .util import MAX_ID, json, load_body, path_int, path_uuid, query_int

routes = web.RouteTableDef()


class _Strict(Schema):
    class Meta:
        unknown = RAISE


class StatusBody(_Strict):
    text = Text(load_default="", max_len=100, no_bidi=True)
    emoji = Emoji(load_default=None, allow_none=True)
    expires_at = fields.AwareDateTime(load_default=None, allow_none=True, default_timezone=None)


class DmBody(_Strict):
    user_id = UUIDStr(required=True)


class LevelBody(_Strict):
    level = fields.String(required=True, validate=validate.OneOf(("all", "mentions", "muted")))


class DndBody(_Strict):
    enabled = fields.Boolean(required=True)
    until = fields.AwareDateTime(load_default=None, allow_none=True)


class RoomSettingsBody(_Strict):
    """The settings to change (at least one); the others keep their value."""

    room_mentions = fields.String(validate=validate.OneOf(("admins", "members")))
    link_previews = fields.Boolean()  # link previews in the room (docs/api.md, "Link previews")

    @validates_schema
    def _some_setting(self, data: dict[str, Any], **kw: Any) -> None:
        if not data:
            raise ValidationError("Name at least one setting.", field_name="_schema")


def _limit(request: web.Request, default: int) -> int:
    return query_int(request, "limit", default, 1, 100) or default


# --- users (search and the batch before /users/{user_id}) ------------------------------------------
@routes.get("/users/search")
@documented("Find people by name", responses={200: schemas.PeopleFound}, tags=("people",))
async def search_users(request: web.Request) -> web.Response:
    found, cursor = await request.app[DIRECTORY].search(
        current_user_id(request), request.query.get("q", ""), _limit(request, 20), request.query.get("cursor")
    )
    return json({"results": list(users_map(found).values()), "next_cursor": cursor})


@routes.get("/users")
@documented("Several users by id", responses={200: schemas.People}, tags=("people",))
async def batch_users(request: web.Request) -> web.Response:
    raw = [part for part in request.query.get("ids", "").split(",") if part.strip()]
    try:
        ids = [UUID(part.strip()) for part in raw]
    except ValueError:
        raise ValidationFailed("invalid query", details={"ids": ["Comma-separated user ids."]}) from None
    found = await request.app[DIRECTORY].batch(current_user_id(request), ids)
    return json({"users": users_map(found)})


@routes.get("/users/{user_id}")
@documented("A user's public profile", responses={200: schemas.Person}, tags=("people",))
async def get_user(request: web.Request) -> web.Response:
    return json(user_json(await request.app[DIRECTORY].get(current_user_id(request), path_uuid(request, "user_id"))))


@routes.put("/me/status")
@documented("Set the caller's status", body=StatusBody, responses={200: schemas.Person}, tags=("people",))
@limited("write")
async def set_status(request: web.Request) -> web.Response:
    user = current_user_id(request)
    body = await load_body(request, StatusBody())
    expires: datetime | None = body["expires_at"]
    await request.app[DIRECTORY].set_status(user, body["text"], body["emoji"], expires)
    return json(user_json(await request.app[DIRECTORY].get(user, user)))


@routes.delete("/me/status")
@documented("Clear the caller's status", responses={200: schemas.Person}, tags=("people",))
@limited("write")
async def clear_status(request: web.Request) -> web.Response:
    user = current_user_id(request)
    await request.app[DIRECTORY].set_status(user, "", None, None)
    return json(user_json(await request.app[DIRECTORY].get(user, user)))


# --- direct messages ---------------------------------------------------------------------------------
@routes.post("/dms")
@documented(
    "Open (or find) the direct conversation with a user",
    body=DmBody,
    responses={201: schemas.Dm, 200: schemas.Dm},
    tags=("people",),
)
@limited("room")
async def open_dm(request: web.Request) -> web.Response:
    user = current_user_id(request)
    body = await load_body(request, DmBody())
    other = UUID(body["user_id"])
    room, created = await request.app[DMS].open(user, other)
    people = users_map(await request.app[DIRECTORY].people(user, [other]))
    return json({**room_json(room), "user": people.get(str(other))}, status=201 if created else 200)


@routes.get("/dms")
@documented("The caller's direct conversations", responses={200: schemas.DmList}, tags=("people",))
async def list_dms(request: web.Request) -> web.Response:
    user = current_user_id(request)
    dms = await request.app[DMS].list(user)
    people = users_map(await request.app[DIRECTORY].people(user, [d.other for d in dms]))
    return json({"dms": [{**room_json(d.room), "user": people.get(str(d.other))} for d in dms]})


# --- notifications ------------------------------------------------------------------------------------
@routes.get("/notifications")
@documented("The caller's notifications, newest first", responses={200: schemas.NotificationPage}, tags=("people",))
async def notifications(request: web.Request) -> web.Response:
    user = current_user_id(request)
    before = query_int(request, "cursor", None, 1, MAX_ID)
    unread = request.query.get("unread", "").lower() in ("1", "true")
    found, cursor = await request.app[NOTIFICATIONS].page(user, before=before, limit=_limit(request, 50), unread=unread)
    actors = {n.actor_id for n in found if n.actor_id is not None}
    people = users_map(await request.app[DIRECTORY].people(user, sorted(actors, key=str)))
    return json(
        {
            "notifications": [notification_json(n) for n in found],
            "users": people,
            "next_cursor": str(cursor) if cursor else None,
        }
    )


@routes.post("/notifications/read")
@documented("Mark every notification read", responses={204: NO_CONTENT}, tags=("people",))
@limited("write")
async def read_all(request: web.Request) -> web.Response:
    await request.app[NOTIFICATIONS].mark_all_read(current_user_id(request))
    return web.Response(status=204)


@routes.post("/notifications/{message_id}/read")
@documented("Mark one notification read", responses={204: NO_CONTENT}, tags=("people",))
@limited("write")
async def read_one(request: web.Request) -> web.Response:
    await request.app[NOTIFICATIONS].mark_read(current_user_id(request), path_int(request, "message_id"))
    return web.Response(status=204)


@routes.get("/rooms/{room_id}/notifications")
@documented("The caller's notification level in a room", responses={200: schemas.NotificationLevel}, tags=("people",))
async def get_level(request: web.Request) -> web.Response:
    level = await request.app[NOTIFICATIONS].level(current_user_id(request), path_uuid(request, "room_id"))
    return json({"level": level})


@routes.put("/rooms/{room_id}/notifications")
@documented(
    "Set the caller's notification level in a room",
    body=LevelBody,
    responses={200: schemas.NotificationLevel},
    tags=("people",),
)
@limited("write")
async def set_level(request: web.Request) -> web.Response:
    user, room = current_user_id(request), path_uuid(request, "room_id")
    body = await load_body(request, LevelBody())
    await request.app[NOTIFICATIONS].set_level(user, room, body["level"])
    return json({"level": body["level"]})


@routes.get("/me/dnd")
@documented("The caller's do-not-disturb", responses={200: schemas.Dnd}, tags=("people",))
async def get_dnd(request: web.Request) -> web.Response:
    return json(await request.app[NOTIFICATIONS].dnd(current_user_id(request)))


@routes.put("/me/dnd")
@documented("Set do-not-disturb", body=DndBody, responses={200: schemas.Dnd}, tags=("people",))
@limited("write")
async def set_dnd(request: web.Request) -> web.Response:
    user = current_user_id(request)
    body = await load_body(request, DndBody())
    await request.app[NOTIFICATIONS].set_dnd(user, body["enabled"], body["until"])
    return json(await request.app[NOTIFICATIONS].dnd(user))


# --- room settings -----------------------------------------------------------------------------------
@routes.get("/rooms/{room_id}/settings")
@documented("A room's settings", responses={200: schemas.RoomSettings}, tags=("people",))
async def get_settings(request: web.Request) -> web.Response:
    settings = await request.app[DIRECTORY].room_settings(current_user_id(request), path_uuid(request, "room_id"))
    return json(settings)


@routes.patch("/rooms/{room_id}/settings")
@documented(
    "Change a room's settings (admins)", body=RoomSettingsBody, responses={200: schemas.RoomSettings}, tags=("people",)
)
@limited("write")
async def set_settings(request: web.Request) -> web.Response:
    user, room = current_user_id(request), path_uuid(request, "room_id")
    body = await load_body(request, RoomSettingsBody())
    await request.app[DIRECTORY].set_room_settings(user, room, dict(body))
    return json(await request.app[DIRECTORY].room_settings(user, room))


# --- blocking ----------------------------------------------------------------------------------------
@routes.put("/users/{user_id}/block")
@documented("Block a user", responses={204: NO_CONTENT}, tags=("people",))
@limited("write")
async def block(request: web.Request) -> web.Response:
    await request.app[NOTIFICATIONS].block(current_user_id(request), path_uuid(request, "user_id"))
    return web.Response(status=204)


@routes.delete("/users/{user_id}/block")
@documented("Unblock a user", responses={204: NO_CONTENT}, tags=("people",))
@limited("write")
async def unblock(request: web.Request) -> web.Response:
    await request.app[NOTIFICATIONS].unblock(current_user_id(request), path_uuid(request, "user_id"))
    return web.Response(status=204)


@routes.get("/me/blocks")
@documented("The users the caller blocked", responses={200: schemas.BlockList}, tags=("people",))
async def blocks(request: web.Request) -> web.Response:
    user = current_user_id(request)
    found = await request.app[NOTIFICATIONS].blocked(user)
    people = users_map(await request.app[DIRECTORY].people(user, [u for u, _ in found]))
    blocks: list[dict[str, Any]] = [{"user_id": u, "since": at, "user": people.get(str(u))} for u, at in found]
    return json({"blocks": blocks})
