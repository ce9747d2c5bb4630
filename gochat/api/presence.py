"""`GET /users/:id/presence`: online/offline and last_seen, for users who share a room."""

from __future__ import annotations

from aiohttp import web

from ..keys import PRESENCE_SERVICE
from . import schemas
from .authn import current_user_id
from .docs import documented
from .util import json, path_uuid

routes = web.RouteTableDef()


@routes.get("/users/{user_id}/presence")
@documented("A user's presence (oneself, or someone sharing a room)", responses={200: schemas.Presence})
async def get_presence(request: web.Request) -> web.Response:
    viewer = current_user_id(request)
    user_id = path_uuid(request, "user_id")
    return json(await request.app[PRESENCE_SERVICE].status(viewer, user_id))
