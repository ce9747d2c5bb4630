"""Authentication of HTTP requests: aiohttp-jwt's middleware, configured strictly.

The middleware is handed a `token_getter` that reads `Authorization: Bearer ...` and runs gochat's
own `decode_access_token` first (algorithm pinned, every claim required, `typ=access`), so a bad
token is refused with a precise 401 (`missing_token`, `invalid_token`, `token_expired`) in
PROTOCOL.md's shape, instead of aiohttp-jwt's 403s and per-token tracebacks. Its `is_revoked` hook
then refuses tokens of a revoked login (raising 401: returning True would make aiohttp-jwt send 403).
"""

from __future__ import annotations

import re
import uuid
import warnings
from typing import Any

from aiohttp import web
from aiohttp_jwt import JWTMiddleware

from ..auth import scopes
from ..auth.bot_tokens import is_bot_token
from ..auth.tokens import ALGORITHM, AccessClaims, InvalidToken, decode_access_token
from ..errors import Forbidden, Unauthorized
from ..keys import ACCOUNTS, BOTS, SETTINGS

CLAIMS = web.RequestKey("claims", AccessClaims)
# aiohttp-jwt keeps its payload under a plain string key; gochat reads CLAIMS instead.
warnings.filterwarnings("ignore", category=web.NotAppKeyWarning, module=r"aiohttp_jwt\.")

# PROTOCOL.md's public routes, as anchored patterns (aiohttp-jwt uses re.match on the path, so an
# unanchored "/" would whitelist everything). /ws authenticates itself from its query string.
PUBLIC_PATHS = (
    r"^/auth/(signup|login|refresh|logout)$",
    r"^/(healthz|readyz|metrics|openapi\.json|asyncapi\.json|favicon\.ico|ws)?$",
    r"^/docs(/.*)?$",
    r"^/static/",
    r"^/hooks/[A-Za-z0-9_-]+$",  # incoming webhooks: the secret in the path is the credential
)


class MissingToken(Unauthorized):
    code = "missing_token"


def bearer_token(request: web.Request) -> str:
    header = request.headers.get("Authorization")
    if not header:
        raise MissingToken("authentication required: send Authorization: Bearer <access_token>")
    scheme, _, token = header.strip().partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        raise InvalidToken("the Authorization header must be: Bearer <access_token>")
    return token.strip()


async def authenticate(app: web.Application, token: str) -> AccessClaims:
    """A valid access token of a live session, else 401: for HTTP (below) and WebSocket `?token=`.
    A bot's API token is accepted too (its claims carry `bot`: what the token may reach)."""
    if is_bot_token(token):
        return await app[BOTS].authenticate(token)
    claims = decode_access_token(app[SETTINGS], token)
    await app[ACCOUNTS].authenticate(claims)
    return claims


def jwt_middleware(secret: str, issuer: str, audience: str) -> Any:
    async def token_getter(request: web.Request) -> str:
        if request.match_info.http_exception is not None:
            raise request.match_info.http_exception  # no such route: 404/405 whoever asks
        token = bearer_token(request)
        request[CLAIMS] = decode_access_token(request.app[SETTINGS], token)
        return token

    async def is_revoked(request: web.Request, payload: dict[str, Any]) -> bool:
        await request.app[ACCOUNTS].authenticate(request[CLAIMS])
        return False

    people = JWTMiddleware(
        secret,
        request_property="jwt_payload",
        whitelist=PUBLIC_PATHS,
        token_getter=token_getter,
        is_revoked=is_revoked,
        algorithms=[ALGORITHM],
        audience=audience,
        issuer=issuer,
    )

    @web.middleware
    async def middleware(request: web.Request, handler: Any) -> web.StreamResponse:
        # Bot API tokens are not JWTs: checked here, in front of aiohttp-jwt, with their scopes.
        token = _bot_bearer(request)
        if token is None or any(re.match(p, request.path) for p in PUBLIC_PATHS):
            return await people(request, handler)  # type: ignore[no-any-return]
        if request.match_info.http_exception is not None:
            raise request.match_info.http_exception
        claims = await request.app[BOTS].authenticate(token)
        assert claims.bot is not None
        if "/bots" in request.path:
            raise Forbidden("bots do not manage bots", code="insufficient_scope")
        room = request.match_info.get("room_id")
        try:
            room_id = uuid.UUID(room) if room else None
        except ValueError:
            room_id = None
        write = request.method not in ("GET", "HEAD", "OPTIONS")
        scopes.require(claims.bot, write=write, room=room_id, roomless_ok=request.path == "/me")
        request[CLAIMS] = claims
        return await handler(request)  # type: ignore[no-any-return]

    return middleware


def _bot_bearer(request: web.Request) -> str | None:
    scheme, _, token = request.headers.get("Authorization", "").strip().partition(" ")
    token = token.strip()
    return token if scheme.lower() == "bearer" and is_bot_token(token) else None


def current_user_id(request: web.Request) -> uuid.UUID:
    """The authenticated caller; 401 on a route the middleware let through without a token."""
    if CLAIMS not in request:
        raise MissingToken("authentication required")
    return request[CLAIMS].user_id
