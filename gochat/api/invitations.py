"""Invitations over HTTP: the caller's pending invitations, and accepting or declining one.

Naming others at `POST /rooms`, or `POST /rooms/:id/members`, invites them to a public or private
room; the room is in their `GET /rooms` only once they accept (services/rooms.py).
"""

from __future__ import annotations

from typing import Any

from aiohttp import web

from ..keys import ROOMS
from . import schemas
from .authn import current_user_id
from .docs import NO_CONTENT, documented
from .limits import limited
from .rooms import Strict, caller_and_room
from .shapes import room_json, utc_time
from .util import json, load_body

routes = web.RouteTableDef()


def invitation_json(invitation: dict[str, Any]) -> dict[str, Any]:
    return {
        "room": room_json(invitation["room"]),
        "invited_by": invitation["invited_by"],
        "invited_at": utc_time(invitation["invited_at"]),
    }


@routes.get("/invitations")
@documented("The caller's pending invitations", responses={200: schemas.InvitationList})
async def my_invitations(request: web.Request) -> web.Response:
    found = await request.app[ROOMS].invitations(current_user_id(request))
    return json({"invitations": [invitation_json(i) for i in found]})


@routes.post("/invitations/{room_id}/accept")
@documented("Accept an invitation: join the room", body=Strict, responses={200: schemas.Room})
@limited("write")
async def accept(request: web.Request) -> web.Response:
    user, room_id = caller_and_room(request)
    await load_body(request, Strict())
    return json(room_json(await request.app[ROOMS].accept(user, room_id)))


@routes.post("/invitations/{room_id}/decline")
@documented("Decline an invitation", body=Strict, responses={204: NO_CONTENT})
@limited("write")
async def decline(request: web.Request) -> web.Response:
    user, room_id = caller_and_room(request)
    await load_body(request, Strict())
    await request.app[ROOMS].decline(user, room_id)
    return web.Response(status=204)
