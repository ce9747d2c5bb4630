"""Access tokens: short-lived HS256 JWTs. Refresh tokens: opaque random strings (see store.py).

Decoding pins the algorithm (no `alg=none`, no key confusion), requires every claim gochat
issues, and checks issuer, audience and `typ`, so that no other kind of token signed with the same
secret passes for an access token.

Leeway is 0 s. aiohttp-jwt, which checks every HTTP request, decodes once more on its own and takes
no leeway parameter, so HTTP cannot be more lenient than that; the WebSocket endpoint uses this
module too, and one policy for both means a token is valid on both or on neither. Issuing and
checking nodes must therefore keep their clocks in sync (NTP), as `iat` in the future is refused.
"""

from __future__ import annotations

import time
import uuid
from dataclasses import dataclass

import jwt

from ..errors import Unauthorized
from ..settings import Settings

ALGORITHM = "HS256"
LEEWAY_SECONDS = 0
REQUIRED_CLAIMS = ("sub", "iat", "exp", "iss", "aud", "typ", "sid")
ACCESS = "access"


class InvalidToken(Unauthorized):
    code = "invalid_token"


class TokenExpired(Unauthorized):
    code = "token_expired"


@dataclass(frozen=True, slots=True)
class BotGrant:
    """What a bot's API token allows (auth/bot_tokens.py): actions, and rooms (None: all of the bot's)."""

    token_id: uuid.UUID
    scopes: frozenset[str]
    rooms: frozenset[uuid.UUID] | None


@dataclass(frozen=True, slots=True)
class AccessClaims:
    user_id: uuid.UUID
    #: the refresh-token family (one login): revoking it ends every token and socket of that login
    #: (for a bot: its API token's id)
    session_id: uuid.UUID
    expires_at: int
    #: set when the caller is a bot authenticated by an API token
    bot: BotGrant | None = None


def _secret(settings: Settings) -> str:
    if not settings.jwt_secret:
        raise RuntimeError("jwt_secret is not set (create_app runs ensure_dev_secret)")
    return settings.jwt_secret


def issue_access_token(settings: Settings, user_id: uuid.UUID, session_id: uuid.UUID, now: int | None = None) -> str:
    iat = int(time.time()) if now is None else now
    claims = {
        "sub": str(user_id),
        "sid": str(session_id),
        "iat": iat,
        "exp": iat + settings.access_token_ttl,
        "iss": settings.jwt_issuer,
        "aud": settings.jwt_audience,
        "typ": ACCESS,
    }
    return jwt.encode(claims, _secret(settings), algorithm=ALGORITHM)


def decode_access_token(settings: Settings, token: str) -> AccessClaims:
    """The claims of a valid access token, else TokenExpired or InvalidToken (both 401)."""
    try:
        claims = jwt.decode(
            token,
            _secret(settings),
            algorithms=[ALGORITHM],
            audience=settings.jwt_audience,
            issuer=settings.jwt_issuer,
            leeway=LEEWAY_SECONDS,
            options={"require": list(REQUIRED_CLAIMS)},
        )
    except jwt.ExpiredSignatureError:
        raise TokenExpired("access token expired") from None
    except jwt.InvalidTokenError:
        raise InvalidToken("invalid access token") from None
    if claims.get("typ") != ACCESS:
        raise InvalidToken("not an access token")
    try:
        return AccessClaims(uuid.UUID(claims["sub"]), uuid.UUID(claims["sid"]), int(claims["exp"]))
    except (TypeError, ValueError, AttributeError):
        raise InvalidToken("invalid access token") from None
