"""`GET /metrics`: this app's Prometheus registry in the text exposition format (public route)."""

from __future__ import annotations

from aiohttp import web

from ..keys import METRICS
from ..metrics import CONTENT_TYPE

routes = web.RouteTableDef()


@routes.get("/metrics")
async def metrics(request: web.Request) -> web.Response:
    resp = web.Response(body=request.app[METRICS].render())
    resp.headers["Content-Type"] = CONTENT_TYPE
    return resp
