"""Rooms over HTTP: the caller's rooms, create, read, update, the public directory, membership
(join, leave, add/invite, kick, ban, unban, roles)."""

from __future__ import annotations

from uuid import UUID

from aiohttp import web
from marshmallow import RAISE, Schema, ValidationError, fields, validate, validates_schema

from ..errors import ValidationFailed
from ..events.catalog import ROLES, ROOM_TYPES
from ..events.fields import Text, UUIDStr
from ..keys import DIRECTORY, MESSAGES, NOTIFICATIONS, ROOM_VIEWS, ROOMS
from ..people_wire import users_map
from ..services.room_views import directory_cursor
from ..services.rooms import MAX_INITIAL_MEMBERS
from . import schemas
from .authn import current_user_id
from .docs import NO_CONTENT, documented
from .limits import limited
from .shapes import member_json, room_entry_json, room_json
from .util import json, load_body, path_uuid, query_int

routes = web.RouteTableDef()


class Strict(Schema):
    class Meta:
        unknown = RAISE


class CreateRoomBody(Strict):
    name = Text(required=True, min_len=1, max_len=100, no_bidi=True)
    type = fields.String(required=True, validate=validate.OneOf(ROOM_TYPES))
    topic = Text(load_default="", max_len=500)
    members = fields.List(UUIDStr(), load_default=list, validate=validate.Length(max=MAX_INITIAL_MEMBERS))
    encrypted = fields.Boolean(load_default=False)


class UpdateRoomBody(Strict):
    name = Text(min_len=1, max_len=100, no_bidi=True)
    topic = Text(max_len=500)

    @validates_schema
    def _something(self, data: dict[str, str], **kw: object) -> None:
        if not data:
            raise ValidationError("Give a name or a topic.")


class AddMemberBody(Strict):
    user_id = UUIDStr(required=True)
    # Accepted for older clients; adding someone always invites them now (services/rooms.py).
    invite = fields.Boolean(load_default=True)


class BanBody(Strict):
    reason = Text(load_default="", max_len=500)


class RoleBody(Strict):
    role = fields.String(required=True, validate=validate.OneOf(ROLES))


def caller_and_room(request: web.Request) -> tuple[UUID, UUID]:
    """The authenticated caller and the {room_id} of the path (400 if malformed)."""
    return current_user_id(request), path_uuid(request, "room_id")


@routes.get("/rooms")
@documented("The caller's rooms, most recently active first", responses={200: schemas.RoomList})
async def my_rooms(request: web.Request) -> web.Response:
    user = current_user_id(request)
    entries = await request.app[MESSAGES].my_rooms(user)
    # step 12: mention_count beside unread_count, and the users the entries name (docs/api.md)
    counts = await request.app[NOTIFICATIONS].mention_counts(user)
    rooms = [{**room_entry_json(e), "mention_count": counts.get(e.room["id"], 0)} for e in entries]
    authors = {e.last_message.user_id for e in entries if e.last_message and e.last_message.user_id}
    users = users_map(await request.app[DIRECTORY].people(user, sorted(authors, key=str)))
    return json({"rooms": rooms, "users": users})


@routes.post("/rooms")
@documented(
    "Create a room (a group that exists is answered with 200)",
    body=CreateRoomBody,
    responses={201: schemas.Room, 200: schemas.Room},
)
@limited("room")
async def create_room(request: web.Request) -> web.Response:
    user = current_user_id(request)
    body = await load_body(request, CreateRoomBody())
    room, created = await request.app[ROOMS].create(
        user,
        name=body["name"],
        type_=body["type"],
        topic=body["topic"],
        members=map(UUID, body["members"]),
        encrypted=body["encrypted"],
    )
    return json(room_json(room), status=201 if created else 200)


# Before /rooms/{room_id}, which would take "directory" for a (malformed) room id.
@routes.get("/rooms/directory")
@documented("Public rooms by name", query=schemas.DirectoryQuery, responses={200: schemas.Directory})
async def directory(request: web.Request) -> web.Response:
    limit = query_int(request, "limit", 50, 1, 100) or 50
    after = request.query.get("after") or None
    name = (request.query.get("q") or "").strip()[:100] or None
    for key, value in (("after", after), ("q", name)):
        if value is not None and "\x00" in value:  # PostgreSQL takes no NUL in text
            raise ValidationFailed("invalid query", details={key: ["Must not contain NUL characters."]})
    rooms = await request.app[ROOM_VIEWS].directory(current_user_id(request), name, limit, after)
    cursor = directory_cursor(rooms[-1]) if len(rooms) == limit else None
    return json({"rooms": [room_json(r) for r in rooms], "next": cursor})


@routes.get("/rooms/{room_id}")
@documented("A room with its members and the caller's membership", responses={200: schemas.RoomDetail})
async def get_room(request: web.Request) -> web.Response:
    detail = await request.app[ROOM_VIEWS].detail(*caller_and_room(request))
    acc = detail.access
    membership = {"state": acc.state, "role": acc.role} if acc.state else None
    users = users_map(await request.app[DIRECTORY].people(acc.user_id, [m["user_id"] for m in detail.members]))
    return json(
        {
            **room_json(acc.room),
            "members": [member_json(m) for m in detail.members],
            "membership": membership,
            "users": users,
        }
    )


@routes.patch("/rooms/{room_id}")
@documented("Rename a room or change its topic (admins)", body=UpdateRoomBody, responses={200: schemas.Room})
@limited("write")
async def update_room(request: web.Request) -> web.Response:
    user, room_id = caller_and_room(request)
    body = await load_body(request, UpdateRoomBody())
    return json(room_json(await request.app[ROOMS].update(user, room_id, body)))


@routes.post("/rooms/{room_id}/join")
@documented("Join a room", body=Strict, responses={200: schemas.Room})
@limited("write")
async def join(request: web.Request) -> web.Response:
    user, room_id = caller_and_room(request)
    await load_body(request, Strict())
    return json(room_json(await request.app[ROOMS].join(user, room_id)))


@routes.post("/rooms/{room_id}/leave")
@documented("Leave a room", body=Strict, responses={204: NO_CONTENT})
@limited("write")
async def leave(request: web.Request) -> web.Response:
    user, room_id = caller_and_room(request)
    await load_body(request, Strict())
    await request.app[ROOMS].leave(user, room_id)
    return web.Response(status=204)


@routes.post("/rooms/{room_id}/members")
@documented("Add or invite a member", body=AddMemberBody, responses={200: schemas.MemberState})
@limited("invite")
async def add_member(request: web.Request) -> web.Response:
    user, room_id = caller_and_room(request)
    body = await load_body(request, AddMemberBody())
    state = await request.app[ROOMS].add_member(user, room_id, UUID(body["user_id"]))
    return json({"user_id": body["user_id"], "state": state})


@routes.delete("/rooms/{room_id}/members/{user_id}")
@documented("Remove a member (moderators)", responses={204: NO_CONTENT})
@limited("write")
async def kick(request: web.Request) -> web.Response:
    (user, room_id), target = caller_and_room(request), path_uuid(request, "user_id")
    await request.app[ROOMS].kick(user, room_id, target)
    return web.Response(status=204)


@routes.put("/rooms/{room_id}/members/{user_id}/role")
@documented("Change a member's role (the owner)", body=RoleBody, responses={200: schemas.MemberRole})
@limited("write")
async def set_role(request: web.Request) -> web.Response:
    (user, room_id), target = caller_and_room(request), path_uuid(request, "user_id")
    body = await load_body(request, RoleBody())
    await request.app[ROOMS].set_role(user, room_id, target, body["role"])
    return json({"user_id": str(target), "role": body["role"]})


@routes.post("/rooms/{room_id}/bans/{user_id}")
@documented("Ban a user from the room (moderators)", body=BanBody, responses={204: NO_CONTENT})
@limited("write")
async def ban(request: web.Request) -> web.Response:
    (user, room_id), target = caller_and_room(request), path_uuid(request, "user_id")
    body = await load_body(request, BanBody())
    await request.app[ROOMS].ban(user, room_id, target, body["reason"])
    return web.Response(status=204)


@routes.delete("/rooms/{room_id}/bans/{user_id}")
@documented("Lift a ban (moderators)", responses={204: NO_CONTENT})
@limited("write")
async def unban(request: web.Request) -> web.Response:
    (user, room_id), target = caller_and_room(request), path_uuid(request, "user_id")
    await request.app[ROOMS].unban(user, room_id, target)
    return web.Response(status=204)
