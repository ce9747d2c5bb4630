"""Webhooks over HTTP: a room's outgoing webhooks (create, list, delete, deliveries and dead
letters, redeliver) and incoming ones (create, list, revoke), and `POST /hooks/{secret}`, the
public URL an incoming webhook posts through."""

from __future__ import annotations

from aiohttp import web
from marshmallow import RAISE, Schema, fields, validate

from ..errors import ValidationFailed
from ..events.catalog import MESSAGE_MAX
from ..events.fields import Text
from ..keys import WEBHOOKS
from ..webhooks.outbox import EVENT_TYPES
from . import schemas
from .authn import current_user_id
from .docs import NO_CONTENT, documented
from .limits import limited
from .shapes import message_json
from .util import json, load_body, path_int, path_uuid, query_int

routes = web.RouteTableDef()
STATES = ("pending", "delivered", "dead")


class Strict(Schema):
    class Meta:
        unknown = RAISE


class WebhookBody(Strict):
    url = fields.String(required=True, validate=validate.Length(min=8, max=2000))
    events = fields.List(
        fields.String(validate=validate.OneOf(EVENT_TYPES)),
        required=True,
        validate=validate.Length(min=1, max=len(EVENT_TYPES)),
    )


class IncomingBody(Strict):
    name = Text(required=True, min_len=1, max_len=64, no_bidi=True)


class HookPostBody(Strict):
    content = Text(required=True, min_len=1, max_len=MESSAGE_MAX)
    client_msg_id = fields.String(validate=validate.Length(min=1, max=64), load_default=None)


@routes.post("/rooms/{room_id}/webhooks")
@documented("Add an outgoing webhook", body=WebhookBody, responses={201: schemas.NewWebhook}, tags=("webhooks",))
@limited("write")
async def create_webhook(request: web.Request) -> web.Response:
    body = await load_body(request, WebhookBody())
    hook, secret = await request.app[WEBHOOKS].create(
        current_user_id(request), path_uuid(request, "room_id"), body["url"], body["events"]
    )
    return json({**hook.public(), "secret": secret}, status=201, headers={"Cache-Control": "no-store"})


@routes.get("/rooms/{room_id}/webhooks")
@documented("The room's outgoing webhooks", responses={200: schemas.WebhookList}, tags=("webhooks",))
async def list_webhooks(request: web.Request) -> web.Response:
    hooks = await request.app[WEBHOOKS].list_outgoing(current_user_id(request), path_uuid(request, "room_id"))
    return json({"webhooks": [h.public() for h in hooks]})


@routes.delete("/rooms/{room_id}/webhooks/{webhook_id}")
@documented("Delete an outgoing webhook", responses={204: NO_CONTENT}, tags=("webhooks",))
@limited("write")
async def delete_webhook(request: web.Request) -> web.Response:
    await request.app[WEBHOOKS].delete(
        current_user_id(request), path_uuid(request, "room_id"), path_uuid(request, "webhook_id")
    )
    return web.Response(status=204)


@routes.get("/rooms/{room_id}/webhooks/{webhook_id}/deliveries")
@documented("A webhook's deliveries", responses={200: schemas.DeliveryList}, tags=("webhooks",))
async def deliveries(request: web.Request) -> web.Response:
    state = request.query.get("state") or None
    if state is not None and state not in STATES:
        raise ValidationFailed("invalid query", details={"state": [f"One of: {', '.join(STATES)}."]})
    found = await request.app[WEBHOOKS].deliveries(
        current_user_id(request),
        path_uuid(request, "room_id"),
        path_uuid(request, "webhook_id"),
        state,
        query_int(request, "limit", 50, 1, 500) or 50,
    )
    return json({"deliveries": [d.public() for d in found]})


@routes.post("/rooms/{room_id}/webhooks/{webhook_id}/deliveries/{event_id}/retry")
@documented("Retry a delivery", body=Strict, responses={204: NO_CONTENT}, tags=("webhooks",))
@limited("write")
async def retry_delivery(request: web.Request) -> web.Response:
    await load_body(request, Strict())
    await request.app[WEBHOOKS].retry(
        current_user_id(request),
        path_uuid(request, "room_id"),
        path_uuid(request, "webhook_id"),
        path_int(request, "event_id"),
    )
    return web.Response(status=204)


@routes.post("/rooms/{room_id}/incoming_webhooks")
@documented(
    "Make an incoming webhook", body=IncomingBody, responses={201: schemas.NewIncomingWebhook}, tags=("webhooks",)
)
@limited("write")
async def create_incoming(request: web.Request) -> web.Response:
    body = await load_body(request, IncomingBody())
    hook, secret = await request.app[WEBHOOKS].create_incoming(
        current_user_id(request), path_uuid(request, "room_id"), body["name"]
    )
    return json({**hook.public(), "url": f"/hooks/{secret}"}, status=201, headers={"Cache-Control": "no-store"})


@routes.get("/rooms/{room_id}/incoming_webhooks")
@documented("The room's incoming webhooks", responses={200: schemas.IncomingWebhookList}, tags=("webhooks",))
async def list_incoming(request: web.Request) -> web.Response:
    hooks = await request.app[WEBHOOKS].list_incoming(current_user_id(request), path_uuid(request, "room_id"))
    return json({"incoming_webhooks": [h.public() for h in hooks]})


@routes.delete("/rooms/{room_id}/incoming_webhooks/{hook_id}")
@documented("Revoke an incoming webhook", responses={204: NO_CONTENT}, tags=("webhooks",))
@limited("write")
async def revoke_incoming(request: web.Request) -> web.Response:
    await request.app[WEBHOOKS].revoke_incoming(
        current_user_id(request), path_uuid(request, "room_id"), path_uuid(request, "hook_id")
    )
    return web.Response(status=204)


@routes.post("/hooks/{secret}")
@documented(
    "Post through an incoming webhook",
    body=HookPostBody,
    responses={201: schemas.Message, 200: schemas.Message},
    tags=("webhooks",),
)
@limited("post", per="ip")
async def post_via_hook(request: web.Request) -> web.Response:
    """Public: the secret in the path is the credential."""
    body = await load_body(request, HookPostBody())
    posted = await request.app[WEBHOOKS].post_incoming(
        request.match_info["secret"], body["content"], body["client_msg_id"]
    )
    return json(message_json(posted.message), status=200 if posted.duplicate else 201)
