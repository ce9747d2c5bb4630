"""Slash commands over HTTP: what a room offers (autocompletion), running one, and bots
registering theirs. WebSocket `command` frames run them too (ws.py) and answer with the same
`command_result` object."""

from __future__ import annotations

from typing import Any
from uuid import UUID

from aiohttp import web
from marshmallow import RAISE, Schema, fields, validate

from ..commands.service import Outcome
from ..events.catalog import MESSAGE_MAX
from ..events.fields import Text
from ..keys import COMMANDS
from . import schemas as sc
from .authn import current_user_id
from .docs import NO_CONTENT, documented
from .limits import limited
from .shapes import message_json
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


def command_result(outcome: Outcome, room_id: UUID, client_msg_id: str | None) -> dict[str, Any]:
    """The answer to a command: shown to the caller alone (`ephemeral`), or `public` (then `message`
    is what it posted, which every subscriber of the room also receives)."""
    body: dict[str, Any] = {"type": "command_result", "command": f"/{outcome.command}", "room_id": str(room_id),
                            "visibility": outcome.visibility, "text": outcome.text}  # fmt: skip
    if outcome.message is not None:
        body["message"] = message_json(outcome.message)
    if client_msg_id is not None:
        body["client_msg_id"] = client_msg_id
    return body


@routes.get("/rooms/{room_id}/commands")
@documented("The room's slash commands", responses={200: sc.AnyObject}, tags=("commands",))
async def available(request: web.Request) -> web.Response:
    found = await request.app[COMMANDS].available(current_user_id(request), path_uuid(request, "room_id"))
    return json({"commands": found})


@routes.post("/rooms/{room_id}/commands")
@documented("Run a slash command", body=RunBody, responses={200: sc.AnyObject}, tags=("commands",))
@limited("post")
async def run(request: web.Request) -> web.Response:
    body = await load_body(request, RunBody())
    room_id = path_uuid(request, "room_id")
    outcome = await request.app[COMMANDS].run(current_user_id(request), room_id, body["command"], body["client_msg_id"])
    return json(command_result(outcome, room_id, body["client_msg_id"]))


@routes.put("/rooms/{room_id}/commands/{name}")
@documented("Register a bot's command", body=RegisterBody, responses={201: sc.AnyObject}, tags=("commands",))
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
