"""`GET /metrics`: this app's Prometheus registry in the text exposition format (public route)."""

from __future__ import annotations

from aiohttp import web

from ..keys import METRICS, METRICS_SAMPLER
from ..metrics import CONTENT_TYPE
from .docs import Answer, documented

routes = web.RouteTableDef()


@routes.get("/metrics")
@documented(
    "Prometheus metrics of this node (docs/metrics.md)",
    responses={200: Answer("text/plain", "Prometheus text")},
    tags=("service",),
)
async def metrics(request: web.Request) -> web.Response:
    sampler = request.app.get(METRICS_SAMPLER)
    if sampler is not None:
        await sampler.sample()  # this worker's figures as of now; the others' are at most a second old
    resp = web.Response(body=request.app[METRICS].render())
    resp.headers["Content-Type"] = CONTENT_TYPE
    return resp
