"""Slash commands over HTTP: what a room offers (autocompletion), running one, and bots
registering theirs. WebSocket `command` frames run them too (ws/handlers.py) and answer with the same
`command_result` object (shapes.py)."""

from __future__ import annotations

from aiohttp import web
from marshmallow import RAISE, Schema, fields, validate

from ..events.catalog import MESSAGE_MAX
from ..events.fields import Text
from ..keys import COMMANDS
from . import schemas
from .authn import current_user_id
from .docs import NO_CONTENT, documented
from .limits import limited
from .shapes import command_result
from .util import json, load_body, path_uuid

routes = web.RouteTableDef()


class Strict(Schema):
    class Meta:
        unknown = RAISE


class RunBody(Strict):
    command = Text(required=True, min_len=2, max_len=MESSAGE_MAX)
    client_msg_id = fields.String(validate=validate.Length(min=1, max=64), load_default=None)


class RegisterBody(Strict):
    description = Text(required=True, min_len=1, max_len=200)
    usage = Text(load_default="", max_len=200)
    url = fields.String(required=True, validate=validate.Length(min=8, max=2000))


@routes.get("/rooms/{room_id}/commands")
@documented("The room's slash commands", responses={200: schemas.CommandList}, tags=("commands",))
async def available(request: web.Request) -> web.Response:
    found = await request.app[COMMANDS].available(current_user_id(request), path_uuid(request, "room_id"))
    return json({"commands": found})


@routes.post("/rooms/{room_id}/commands")
@documented("Run a slash command", body=RunBody, responses={200: schemas.CommandResult}, tags=("commands",))
@limited("post")
async def run(request: web.Request) -> web.Response:
    body = await load_body(request, RunBody())
    room_id = path_uuid(request, "room_id")
    outcome = await request.app[COMMANDS].run(current_user_id(request), room_id, body["command"], body["client_msg_id"])
    return json(command_result(outcome, room_id, body["client_msg_id"]))


@routes.put("/rooms/{room_id}/commands/{name}")
@documented("Register a bot's command", body=RegisterBody, responses={201: schemas.CommandSecret}, tags=("commands",))
@limited("write")
async def register(request: web.Request) -> web.Response:
    body = await load_body(request, RegisterBody())
    name = request.match_info["name"]
    secret = await request.app[COMMANDS].register(
        current_user_id(request), path_uuid(request, "room_id"), name, body["description"], body["usage"], body["url"]
    )
    return json({"name": name, "secret": secret}, status=201, headers={"Cache-Control": "no-store"})


@routes.delete("/rooms/{room_id}/commands/{name}")
@documented("Unregister a command", responses={204: NO_CONTENT}, tags=("commands",))
@limited("write")
async def unregister(request: web.Request) -> web.Response:
    await request.app[COMMANDS].unregister(
        current_user_id(request), path_uuid(request, "room_id"), request.match_info["name"]
    )
    return web.Response(status=204)
