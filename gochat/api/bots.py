"""Bots over HTTP: a room admin makes a bot in the room, a server administrator one of no room
(server-wide); its maker (and any server administrator) issues (once shown), lists and revokes its
API tokens. Bot tokens never reach these routes (api/authn.py): a bot makes no bots."""

from __future__ import annotations

from uuid import UUID

from aiohttp import web
from marshmallow import RAISE, Schema, fields, validate

from ..auth.bot_tokens import SCOPES
from ..auth.names import Username
from ..events.fields import Text, UUIDStr
from ..keys import BOTS
from . import schemas
from .authn import current_user_id
from .docs import NO_CONTENT, documented
from .limits import limited
from .util import json, load_body, path_uuid, query_int

routes = web.RouteTableDef()


class Strict(Schema):
    class Meta:
        unknown = RAISE


class CreateBotBody(Strict):
    username = Username(required=True)
    display_name = Text(load_default=None, min_len=1, max_len=64, no_bidi=True)


class TokenBody(Strict):
    name = Text(required=True, min_len=1, max_len=100)
    scopes = fields.List(
        fields.String(validate=validate.OneOf(SCOPES)), required=True, validate=validate.Length(min=1, max=2)
    )
    rooms = fields.List(UUIDStr(), load_default=None, allow_none=True, validate=validate.Length(min=1, max=100))


@routes.post("/rooms/{room_id}/bots")
@documented("Make a bot in the room", body=CreateBotBody, responses={201: schemas.NewBot}, tags=("bots",))
@limited("write")
async def create_bot(request: web.Request) -> web.Response:
    body = await load_body(request, CreateBotBody())
    bot = await request.app[BOTS].create(
        current_user_id(request), path_uuid(request, "room_id"), body["username"], body["display_name"]
    )
    return json({"bot": bot.public()}, status=201)


@routes.get("/bots")
@documented("The caller's bots", responses={200: schemas.BotList}, tags=("bots",))
async def my_bots(request: web.Request) -> web.Response:
    return json({"bots": [b.public() for b in await request.app[BOTS].mine(current_user_id(request))]})


@routes.post("/bots/{bot_id}/tokens")
@documented(
    "Issue a bot API token (shown once)", body=TokenBody, responses={201: schemas.IssuedBotToken}, tags=("bots",)
)
@limited("write")
async def issue_token(request: web.Request) -> web.Response:
    body = await load_body(request, TokenBody())
    rooms = None if body["rooms"] is None else [UUID(r) for r in body["rooms"]]
    secret, info = await request.app[BOTS].issue_token(
        current_user_id(request), path_uuid(request, "bot_id"), body["name"], body["scopes"], rooms
    )
    # The secret is in this answer only: it is stored hashed.
    return json({**info.public(), "token": secret}, status=201, headers={"Cache-Control": "no-store"})


@routes.get("/bots/{bot_id}/tokens")
@documented("A bot's tokens", responses={200: schemas.BotTokenList}, tags=("bots",))
async def list_tokens(request: web.Request) -> web.Response:
    tokens = await request.app[BOTS].list_tokens(current_user_id(request), path_uuid(request, "bot_id"))
    return json({"tokens": [t.public() for t in tokens]})


@routes.delete("/bots/{bot_id}/tokens/{token_id}")
@documented("Revoke a bot token", responses={204: NO_CONTENT}, tags=("bots",))
@limited("write")
async def revoke_token(request: web.Request) -> web.Response:
    await request.app[BOTS].revoke_token(
        current_user_id(request), path_uuid(request, "bot_id"), path_uuid(request, "token_id")
    )
    return web.Response(status=204)


@routes.delete("/bots/{bot_id}/tokens")
@documented("Revoke every token of a bot", responses={200: schemas.Revoked}, tags=("bots",))
@limited("write")
async def revoke_all_tokens(request: web.Request) -> web.Response:
    revoked = await request.app[BOTS].revoke_all(current_user_id(request), path_uuid(request, "bot_id"))
    return json({"revoked": revoked})


# --- server administrators ------------------------------------------------------------------------
@routes.post("/admin/bots")
@documented("Make a server-wide bot", body=CreateBotBody, responses={201: schemas.NewBot}, tags=("admin", "bots"))
@limited("write")
async def create_server_bot(request: web.Request) -> web.Response:
    body = await load_body(request, CreateBotBody())
    bot = await request.app[BOTS].create_server_bot(current_user_id(request), body["username"], body["display_name"])
    return json({"bot": bot.public()}, status=201)


@routes.get("/admin/bots")
@documented("Every bot, for server administrators", responses={200: schemas.BotPage}, tags=("admin", "bots"))
async def every_bot(request: web.Request) -> web.Response:
    limit = query_int(request, "limit", 50, 1, 200) or 50
    found = await request.app[BOTS].every(current_user_id(request), request.query.get("after"), limit)
    after = found[-1][1] if len(found) == limit else None
    return json({"bots": [bot.public() for bot, _ in found], "next": after})
