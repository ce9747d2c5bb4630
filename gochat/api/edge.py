"""The HTTP edge: CORS for browsers on other origins (aiohttp-cors, preflight included), security
headers on every HTTP answer, HSTS on answers over HTTPS, and the TLS context of `gochat serve`."""

from __future__ import annotations

import ssl

import aiohttp_cors
from aiohttp import web

from ..keys import SETTINGS
from ..settings import Settings, SettingsError
from .limits import forwarded

# The API answers JSON and text: nothing in it may run scripts, load resources or be framed.
API_CSP = "default-src 'none'; frame-ancestors 'none'"
CORS_EXPOSE = ("Retry-After", "X-Request-ID", "X-Gochat-Node")
CORS_ALLOW = ("Authorization", "Content-Type", "X-Request-ID")
# Routes that are not for cross-origin browsers: the WebSocket checks Origin itself (ws/endpoint.py).
NO_CORS = frozenset({"/ws"})


def setup_cors(app: web.Application) -> None:
    """CORS on every route registered so far, for ALLOWED_ORIGINS (`*`: any). Call it after the
    last route is added. Bearer tokens, not cookies, so credentials are not allowed."""
    origins = app[SETTINGS].allowed_origins
    if not origins:
        return  # same-origin browsers only: no CORS headers, preflights answer 405
    options = aiohttp_cors.ResourceOptions(  # type: ignore[no-untyped-call]
        allow_credentials=False, expose_headers=CORS_EXPOSE, allow_headers=CORS_ALLOW, allow_methods="*", max_age=600
    )
    cors = aiohttp_cors.setup(app, defaults=dict.fromkeys(origins, options))
    for route in list(app.router.routes()):
        resource = route.resource
        if resource is not None and resource.canonical not in NO_CORS and route.method != "OPTIONS":
            cors.add(route)


async def security_headers(request: web.Request, response: web.StreamResponse) -> None:
    """on_response_prepare. Not on a WebSocket upgrade (its response lives as long as the socket)."""
    if isinstance(response, web.WebSocketResponse):
        return
    headers = response.headers
    headers.setdefault("X-Content-Type-Options", "nosniff")
    headers.setdefault("X-Frame-Options", "DENY")
    headers.setdefault("Referrer-Policy", "no-referrer")
    headers.setdefault("Content-Security-Policy", API_CSP)  # /docs sets a wider one for its page
    max_age = request.app[SETTINGS].hsts_max_age
    # Only over HTTPS (RFC 6797 section 7.2): ours, or a trusted proxy's, as X-Forwarded-Proto says.
    if max_age and forwarded(request)[1] == "https":
        headers["Strict-Transport-Security"] = f"max-age={max_age}; includeSubDomains"


def tls_context(settings: Settings) -> ssl.SSLContext | None:
    """The server's TLS context when TLS_CERT_FILE and TLS_KEY_FILE are set (wss:// and https://)."""
    if settings.tls_cert_file is None or settings.tls_key_file is None:
        return None
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.minimum_version = ssl.TLSVersion.TLSv1_2
    try:
        context.load_cert_chain(settings.tls_cert_file, settings.tls_key_file)
    except (ssl.SSLError, OSError) as exc:
        raise SettingsError(f"TLS_CERT_FILE/TLS_KEY_FILE cannot be used: {exc}") from None
    return context
