"""Liveness and readiness probes."""

from __future__ import annotations

from aiohttp import web

from .. import migrations
from ..keys import DB, STATE
from . import schemas
from .docs import documented

routes = web.RouteTableDef()


@routes.get("/healthz")
@documented("Liveness: the process answers", responses={200: schemas.Health}, tags=("service",))
async def healthz(request: web.Request) -> web.Response:
    return web.json_response({"status": "ok"})


@routes.get("/readyz")
@documented(
    "Readiness: database, migrations, broker; 503 while draining or down",
    responses={200: schemas.Ready, 503: schemas.Ready},
    tags=("service",),
)
async def readyz(request: web.Request) -> web.Response:
    state = request.app[STATE]
    checks: dict[str, str] = {}
    db = request.app[DB]
    if await db.ping():
        try:
            checks["migrations"] = "current" if not await migrations.pending(db) else "pending"
        except Exception:
            checks["migrations"] = "unknown"
        checks["database"] = "ok"
    else:
        checks["database"] = "down"
    for name, probe in state.get("probes", {}).items():
        checks[name] = await probe()
    draining = bool(state.get("draining"))
    ok = not draining and checks["database"] == "ok" and checks.get("migrations") == "current"
    ok = ok and all(v in ("ok", "degraded") for k, v in checks.items() if k not in ("database", "migrations"))
    status = "draining" if draining else "ok" if ok else "unavailable"
    if ok and any(v == "degraded" for v in checks.values()):
        status = "degraded"
    resp = web.json_response({"status": status, "checks": checks}, status=200 if ok else 503)
    if not ok:
        resp.headers["Retry-After"] = "1"
    return resp
