"""Middlewares: request id + one log line per request, and errors in PROTOCOL.md's shape."""

from __future__ import annotations

import re
import time
import uuid
from collections.abc import Awaitable, Callable
from typing import Any

import structlog
from aiohttp import web

from ..errors import GochatError, RateLimited, Unavailable
from ..keys import METRICS, TELEMETRY
from ..log import redact_text
from ..metrics import UNMATCHED
from ..telemetry import Telemetry

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]
log = structlog.get_logger("gochat.http")
_SAFE_REQUEST_ID = re.compile(r"^[A-Za-z0-9._-]{1,64}$")

REQUEST_ID_HEADER = "X-Request-ID"


def error_response(status: int, code: str, message: str, details: dict[str, Any] | None = None) -> web.Response:
    body: dict[str, Any] = {"code": code, "message": message}
    if details:
        body["details"] = details
    return web.json_response({"error": body}, status=status)


def response_for(exc: GochatError) -> web.Response:
    resp = error_response(exc.status, exc.code, exc.message, exc.details)
    if isinstance(exc, RateLimited | Unavailable):
        resp.headers["Retry-After"] = str(max(1, int(exc.retry_after + 0.999)))
    return resp


_HTTP_CODES = {
    400: "bad_request",
    401: "unauthorized",
    403: "forbidden",
    404: "not_found",
    405: "method_not_allowed",
    409: "conflict",
    413: "payload_too_large",
    415: "unsupported_media_type",
    422: "validation_failed",
    429: "rate_limited",
}


@web.middleware
async def request_context(request: web.Request, handler: Handler) -> web.StreamResponse:
    """Request id, errors in PROTOCOL.md's shape, and one log line per request.

    One middleware rather than two: a WebSocket handler stays suspended inside every middleware for
    the socket's whole life, and each suspended frame costs every idle socket ~370 bytes.
    """
    incoming = request.headers.get(REQUEST_ID_HEADER, "")
    request_id = incoming if _SAFE_REQUEST_ID.match(incoming) else uuid.uuid4().hex
    structlog.contextvars.clear_contextvars()
    structlog.contextvars.bind_contextvars(request_id=request_id)
    started = time.perf_counter()
    status = 500
    tracing = request.app.get(TELEMETRY)
    try:
        try:
            if tracing is None:
                response = await handler(request)
            else:
                response = await traced(tracing, request, handler)
        except (GochatError, web.HTTPException) as exc:
            status = exc.status
            response = render_error(exc)
        except ConnectionResetError:
            # The client went away before its answer could start (a WebSocket handshake whose
            # peer hung up): nobody to answer, nothing broken. aiohttp drops it quietly.
            status = 499
            raise
        except Exception:
            log.exception("unhandled_error")
            response = error_response(500, "internal_error", "internal server error")
        status = response.status
        if not response.prepared:
            response.headers[REQUEST_ID_HEADER] = request_id
        return response
    finally:
        elapsed = time.perf_counter() - started
        request.app[METRICS].observe_request(request.method, route_of(request), status, elapsed)
        log.info(
            "request",
            method=request.method,
            path=redact_text(request.path_qs),
            status=status,
            ms=round(elapsed * 1000, 2),
            remote=request.remote,
        )


def render_error(exc: GochatError | web.HTTPException) -> web.Response:
    """A gochat error or an aiohttp HTTP error (4xx/5xx) as PROTOCOL.md's body; redirects re-raise."""
    if isinstance(exc, GochatError):
        if exc.status >= 500:
            log.warning("dependency_error", code=exc.code, error=exc.message)
        return response_for(exc)
    if exc.status < 400:
        raise exc
    code = _HTTP_CODES.get(exc.status, "error")
    message = exc.reason or code
    if exc.status == 413:
        message = "request body too large"
    resp = error_response(exc.status, code, message)
    for name in ("Allow", "Retry-After", "WWW-Authenticate"):
        if name in exc.headers:
            resp.headers[name] = exc.headers[name]
    return resp


def route_of(request: web.Request) -> str:
    """The route pattern (`/rooms/{room_id}`), never the raw path: labels and span names stay few."""
    resource = request.match_info.route.resource
    return resource.canonical if resource is not None else UNMATCHED


async def traced(tracing: Telemetry, request: web.Request, handler: Handler) -> web.StreamResponse:
    """The request as a server span continuing the caller's `traceparent`. Not the WebSocket upgrade:
    its handler lasts as long as the socket; each of its frames is a trace of its own (ws/handlers.py)."""
    route = route_of(request)
    if route == "/ws":
        return await handler(request)
    span = tracing.start(
        f"{request.method} {route}",
        parent=tracing.extract(request.headers),
        attributes={"http.request.method": request.method, "http.route": route},
        kind="server",
    )
    status = 500
    try:
        with tracing.current(span):
            response = await handler(request)
        status = response.status
        return response
    except (GochatError, web.HTTPException) as exc:
        status = exc.status
        raise
    finally:
        span.set_attribute("http.response.status_code", status)
        span.end()
