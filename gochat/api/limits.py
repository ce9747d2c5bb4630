"""Rate limits at the HTTP edge: who the client is, and the 429 when a budget is spent."""

from __future__ import annotations

from aiohttp import web

from ..errors import RateLimited
from ..keys import RATE_LIMITER, SETTINGS
from ..ratelimit import Limit


def client_ip(request: web.Request) -> str:
    """The peer address, or behind a trusted proxy (GOCHAT_TRUST_PROXY) the last X-Forwarded-For
    hop: the one our proxy appended, which the client cannot forge (earlier hops it can)."""
    if request.app[SETTINGS].trust_proxy:
        forwarded = request.headers.get("X-Forwarded-For", "")
        last = forwarded.rsplit(",", 1)[-1].strip()
        if last:
            return last
    return request.remote or "unknown"


async def enforce(request: web.Request, key: str, limit: Limit) -> None:
    wait = await request.app[RATE_LIMITER].acquire(key, limit)
    if wait > 0:
        raise RateLimited("too many requests, slow down", retry_after=wait)
