"""End-to-end encryption over HTTP: the caller's devices and their keys, other users' devices, key
claims, and device mailboxes (docs/api.md, "End-to-end encryption")."""

from __future__ import annotations

import uuid
from typing import Any

from aiohttp import web
from marshmallow import RAISE, Schema, fields, validate

from ..e2e.store import Device, InboxItem
from ..errors import BadRequest
from ..keys import DEVICES
from ..ratelimit import Limit
from ..services.devices import LOW_KEYS, MAX_KEYS_PER_UPLOAD, MAX_TO_DEVICE
from . import schemas
from .authn import current_user_id
from .docs import NO_CONTENT, documented
from .limits import enforce, limited
from .util import MAX_ID, json, load_body, path_uuid, query_int

routes = web.RouteTableDef()
CLAIM_LIMIT = Limit(burst=60, per_second=1.0)  # claiming drains the targets' one-time keys
DEVICE_PATH = {"device_id": fields.String(validate=validate.Length(min=1, max=64))}


class _Strict(Schema):
    class Meta:
        unknown = RAISE


class _Identity(_Strict):
    curve25519 = fields.String(required=True, validate=validate.Length(max=64))
    ed25519 = fields.String(required=True, validate=validate.Length(max=64))


class _Key(_Strict):
    key = fields.String(required=True, validate=validate.Length(max=64))
    signature = fields.String(required=True, validate=validate.Length(max=128))


class _Fallback(_Key):
    key_id = fields.String(required=True, validate=validate.Length(min=1, max=64))


class _Keys(_Strict):
    one_time_keys = fields.Dict(
        keys=fields.String(validate=validate.Length(min=1, max=64)),
        values=fields.Nested(_Key),
        load_default=dict,
        validate=validate.Length(max=MAX_KEYS_PER_UPLOAD),
    )
    fallback_key = fields.Nested(_Fallback, load_default=None)


class RegisterBody(_Keys):
    identity_keys = fields.Nested(_Identity, required=True)
    display_name = fields.String(load_default="", validate=validate.Length(max=100))


class _DeviceRef(_Strict):
    user_id = fields.UUID(required=True)
    device_id = fields.String(required=True, validate=validate.Length(min=1, max=64))


class ClaimBody(_Strict):
    devices = fields.List(fields.Nested(_DeviceRef), required=True, validate=validate.Length(min=1, max=100))


class _ToDevice(_DeviceRef):
    payload = fields.Dict(required=True)


class SendBody(_Strict):
    messages = fields.List(fields.Nested(_ToDevice), required=True, validate=validate.Length(min=1, max=MAX_TO_DEVICE))


class AckBody(_Strict):
    upto = fields.Integer(required=True, strict=True, validate=validate.Range(min=0, max=MAX_ID))


def device_json(d: Device) -> dict[str, Any]:
    return {
        "user_id": d.user_id,
        "device_id": d.device_id,
        "identity_keys": {"curve25519": d.curve25519, "ed25519": d.ed25519},
        "display_name": d.display_name,
    }


def _inbox_json(item: InboxItem) -> dict[str, Any]:
    return {
        "id": item.id,
        "sender_id": item.sender_id,
        "sender_device": item.sender_device,
        "payload": item.payload,
        "created_at": item.created_at,
    }


def _count(left: int) -> dict[str, Any]:
    return {"one_time_keys_left": left, "low": left < LOW_KEYS}


def _device_id(request: web.Request) -> str:
    device_id = request.match_info["device_id"]
    if not 1 <= len(device_id) <= 64 or "\x00" in device_id:  # PostgreSQL text takes no NUL
        raise BadRequest("device_id is not a valid device id", code="invalid_id")
    return device_id


@routes.put("/devices/{device_id}")
@documented(
    "Register (or re-register) one of the caller's devices with its keys",
    body=RegisterBody,
    path=DEVICE_PATH,
    responses={201: schemas.RegisteredDevice, 200: schemas.RegisteredDevice},
)
@limited("write")
async def register(request: web.Request) -> web.Response:
    user = current_user_id(request)
    body = await load_body(request, RegisterBody())
    service = request.app[DEVICES]
    ids = body["identity_keys"]
    device, created = await service.register(
        user, _device_id(request), ids["curve25519"], ids["ed25519"], body["display_name"]
    )
    left = await service.upload_keys(user, device.device_id, body["one_time_keys"], body["fallback_key"])
    return json({**device_json(device), **_count(left)}, status=201 if created else 200)


@routes.post("/devices/{device_id}/keys")
@documented("Upload one-time and fallback keys", body=_Keys, path=DEVICE_PATH, responses={200: schemas.KeyCount})
@limited("write")
async def upload(request: web.Request) -> web.Response:
    body = await load_body(request, _Keys())
    left = await request.app[DEVICES].upload_keys(
        current_user_id(request), _device_id(request), body["one_time_keys"], body["fallback_key"]
    )
    return json(_count(left))


@routes.get("/devices")
@documented("The caller's devices", responses={200: schemas.DeviceList})
async def mine(request: web.Request) -> web.Response:
    devices = await request.app[DEVICES].devices(current_user_id(request))
    return json({"devices": [device_json(d) for d in devices]})


@routes.delete("/devices/{device_id}")
@documented("Remove one of the caller's devices", path=DEVICE_PATH, responses={204: NO_CONTENT})
@limited("write")
async def remove(request: web.Request) -> web.Response:
    await request.app[DEVICES].remove(current_user_id(request), _device_id(request))
    return web.Response(status=204)


@routes.get("/users/{user_id}/devices")
@documented("A user's devices and identity keys", responses={200: schemas.DeviceList})
async def user_devices(request: web.Request) -> web.Response:
    current_user_id(request)
    devices = await request.app[DEVICES].devices(path_uuid(request, "user_id"))
    return json({"devices": [device_json(d) for d in devices]})


@routes.post("/keys/claim")
@documented(
    "Claim one one-time key per device (each handed out once)", body=ClaimBody, responses={200: schemas.Claimed}
)
async def claim(request: web.Request) -> web.Response:
    user = current_user_id(request)
    body = await load_body(request, ClaimBody())
    await enforce(request, f"e2e_claim:{user}", CLAIM_LIMIT)
    wanted = [(d["user_id"], d["device_id"]) for d in body["devices"]]
    claimed = await request.app[DEVICES].claim(wanted)
    keys = []
    for c in claimed:
        otk = c.key
        one_time_key = None
        if otk is not None:
            one_time_key = {"key_id": otk.key_id, "key": otk.key, "signature": otk.signature, "fallback": otk.fallback}
        keys.append({**device_json(c.device), "one_time_key": one_time_key})
    return json({"keys": keys})


@routes.post("/devices/{device_id}/send")
@documented(
    "Send to-device messages (Olm-encrypted room keys) to other devices",
    body=SendBody,
    path=DEVICE_PATH,
    responses={200: schemas.Queued},
)
@limited("write")
async def send(request: web.Request) -> web.Response:
    body = await load_body(request, SendBody())
    messages: list[tuple[uuid.UUID, str, Any]] = [
        (m["user_id"], m["device_id"], m["payload"]) for m in body["messages"]
    ]
    queued = await request.app[DEVICES].send(current_user_id(request), _device_id(request), messages)
    return json({"queued": queued})


@routes.get("/devices/{device_id}/inbox")
@documented(
    "A device's mailbox after a position", query=schemas.InboxQuery, path=DEVICE_PATH, responses={200: schemas.Inbox}
)
async def inbox(request: web.Request) -> web.Response:
    after = query_int(request, "after", 0, 0, MAX_ID) or 0
    limit = query_int(request, "limit", 100, 1, 500) or 100
    items = await request.app[DEVICES].inbox(current_user_id(request), _device_id(request), after, limit)
    return json({"messages": [_inbox_json(i) for i in items]})


@routes.post("/devices/{device_id}/inbox/ack")
@documented("Drop the mailbox up to a position", body=AckBody, path=DEVICE_PATH, responses={204: NO_CONTENT})
@limited("write")
async def ack(request: web.Request) -> web.Response:
    body = await load_body(request, AckBody())
    await request.app[DEVICES].ack(current_user_id(request), _device_id(request), body["upto"])
    return web.Response(status=204)
