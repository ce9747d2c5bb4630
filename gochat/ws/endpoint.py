"""`GET /ws`: authenticate, check the origin and the caller's budgets, open the socket, subscribe
with resume (`?room_id=&since=`), run the read loop, and clean up when it ends."""

from __future__ import annotations

import asyncio
import contextlib
import socket
import uuid
from uuid import UUID

import structlog
from aiohttp import web

from ..api.authn import MissingToken, authenticate
from ..api.docs import Answer, documented
from ..api.limits import client_ip
from ..api.schemas import WebSocketQuery
from ..auth import scopes
from ..errors import BadRequest, Forbidden, RateLimited, Unavailable, ValidationFailed
from ..events.fields import MAX_ID
from ..keys import HUB, NOTIFICATIONS, PRESENCE_SERVICE, RATE_LIMITER, RELAY, ROOMS, SETTINGS, STATE
from ..live.connection import Connection
from ..ratelimit import Limit
from .frames import MAX_FRAME
from .reader import run
from .resume import subscribe
from .session import Session

log = structlog.get_logger("gochat.ws")

CONNECT_LIMIT = Limit(burst=30, per_second=1.0)


@documented(
    "Open the WebSocket (the protocol: /asyncapi.json)",
    query=WebSocketQuery,
    responses={101: Answer(None, "Switching Protocols: frames follow (see /asyncapi.json)")},
    tags=("service",),
)
async def websocket(request: web.Request) -> web.StreamResponse:
    app = request.app
    settings = app[SETTINGS]
    if app[STATE].get("draining"):
        raise Unavailable("server is shutting down: connect to another node", code="draining")
    if not _origin_allowed(request, settings.allowed_origins):
        raise Forbidden("origin not allowed", code="origin_not_allowed")
    token = request.query.get("token") or _bearer(request)
    if not token:
        raise MissingToken("authentication required: pass ?token=<access_token>")
    claims = await authenticate(app, token)
    user = claims.user_id
    room = _query_uuid(request, "room_id")
    since = _query_since(request)
    hub = app[HUB]
    if len(hub.users.get(user, ())) >= settings.ws_max_connections_per_user:
        raise RateLimited("too many open connections for this user", retry_after=5.0)
    wait = await app[RATE_LIMITER].acquire(f"ws-connect:{user}", CONNECT_LIMIT)
    if wait:
        raise RateLimited("connecting too often", retry_after=wait)
    if room is not None:
        if claims.bot is not None:
            scopes.require(claims.bot, write=False, room=room)
        await app[ROOMS].ensure_member(user, room)

    # The hub pings and notices dead peers (live/heartbeat.py); pings and pongs reach the read
    # loop, which stamps every frame as heard.
    ws = web.WebSocketResponse(heartbeat=None, max_msg_size=MAX_FRAME, compress=False, autoping=False)
    await ws.prepare(request)
    assert request.transport is not None
    _cap_kernel_buffer(request.transport, settings.ws_socket_sndbuf)
    conn = Connection(user, str(claims.session_id), ws, request.transport, expires_at=claims.expires_at)  # type: ignore[arg-type]
    session = Session(app, conn, claims.bot)
    structlog.contextvars.bind_contextvars(user_id=str(user), ip=client_ip(request))
    if request.query.get("hide_blocked", "").lower() in ("1", "true"):
        # step 12: room frames of users the caller blocked are not sent to this socket (docs/api.md)
        blocked = await app[NOTIFICATIONS].blocked_ids(user)
        conn.hidden = tuple(f'"user_id":"{u}"'.encode() for u in sorted(blocked, key=str))
    hub.add(conn)  # closes it with 4401 once the token expires
    try:
        await app[PRESENCE_SERVICE].connected(user)
        if room is not None:
            await subscribe(session, [room], since)
        await run(session)
    finally:
        # aiohttp cancels a handler whose peer went away: the cleanup runs on in its own task.
        with contextlib.suppress(asyncio.CancelledError):
            await asyncio.shield(hub.track(_disconnect(app, conn)))
    return ws


async def shutdown_sockets(app: web.Application) -> None:
    """on_shutdown: close every socket with 1001 so clients resume on another node."""
    await app[HUB].shutdown(1001, b"server shutting down")


async def _disconnect(app: web.Application, conn: Connection) -> None:
    rooms = list(conn.rooms)
    app[HUB].remove(conn)
    for room in rooms:
        await app[RELAY].unwatch_if_idle(room)
    try:
        await app[PRESENCE_SERVICE].disconnected(conn.user_id)
    except Unavailable as exc:
        # The database is down: the presence sweep marks the user offline once it is back.
        log.warning("presence_disconnect_deferred", error=exc.message)
    except Exception:
        log.exception("presence_disconnect_failed")


def _origin_allowed(request: web.Request, allowed: tuple[str, ...]) -> bool:
    """Browsers send Origin; non-browser clients usually don't and are allowed. With no allowlist,
    only same-origin browser pages may connect."""
    origin = request.headers.get("Origin")
    if origin is None:
        return True
    origin = origin.rstrip("/")
    if allowed:
        return "*" in allowed or origin in allowed
    return origin.split("://", 1)[-1] == request.host


def _cap_kernel_buffer(transport: asyncio.BaseTransport, size: int) -> None:
    """Bound the kernel's send buffer too (Linux autotunes it up to megabytes per socket), so a
    client that stops reading backs up into the transport buffer the hub watches, and the memory a
    slow client can pin stays small."""
    sock = transport.get_extra_info("socket")
    if size and sock is not None:
        with contextlib.suppress(OSError):
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, size)


def _bearer(request: web.Request) -> str | None:
    header = request.headers.get("Authorization", "")
    scheme, _, token = header.partition(" ")
    return token.strip() or None if scheme.lower() == "bearer" else None


def _query_uuid(request: web.Request, name: str) -> UUID | None:
    raw = request.query.get(name)
    if not raw:
        return None
    try:
        return uuid.UUID(raw)
    except ValueError:
        raise BadRequest(f"{name} is not a valid UUID", code="invalid_id") from None


def _query_since(request: web.Request) -> int | None:
    raw = request.query.get("since")
    if raw is None or raw == "":
        return None
    # isascii(): str.isdigit() also holds for "²" and other digits int() refuses.
    if not (raw.isascii() and raw.isdigit() and len(raw) <= 19 and int(raw) <= MAX_ID):
        raise ValidationFailed("invalid query", details={"since": ["Must be a non-negative integer."]})
    return int(raw)
