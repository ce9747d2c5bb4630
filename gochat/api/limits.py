"""Rate limits at the HTTP edge: who the client is, the per-user budgets of the write routes, and the
429 when a budget is spent. Budgets live in the app's RateLimiter: Redis when REDIS_URL is set, so
every node spends from one budget per user."""

from __future__ import annotations

import functools
import ipaddress
from collections.abc import Awaitable, Callable

from aiohttp import web

from ..errors import RateLimited
from ..keys import RATE_LIMITER, SETTINGS
from ..ratelimit import Limit
from .authn import current_user_id

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]
LIMIT_ATTR = "__gochat_rate_limit__"  # the budget a handler spends (read by the OpenAPI document too)


def _trusted(address: str, networks: tuple[str, ...]) -> bool:
    try:
        ip = ipaddress.ip_address(address)
    except ValueError:
        return False
    return any(ip in ipaddress.ip_network(n) for n in networks)


def forwarded(request: web.Request) -> tuple[str, str]:
    """(client address, scheme) as the client used them.

    X-Forwarded-* count only when the peer is a trusted proxy (GOCHAT_TRUSTED_PROXIES, or any peer
    with the older GOCHAT_TRUST_PROXY=on). The client is then the rightmost X-Forwarded-For hop
    that is not itself a trusted proxy: hops to its left were written by the client and prove
    nothing. The scheme is the last X-Forwarded-Proto value, the one our proxy appended."""
    peer = request.remote or "unknown"
    settings = request.app[SETTINGS]
    networks = settings.trusted_proxies
    if not (settings.trust_proxy or (networks and _trusted(peer, networks))):
        return peer, request.scheme
    hops = [h.strip() for h in request.headers.get("X-Forwarded-For", "").split(",") if h.strip()]
    client = peer
    while hops:
        client = hops.pop()
        if not networks or not _trusted(client, networks):
            break
    proto = request.headers.get("X-Forwarded-Proto", "").rsplit(",", 1)[-1].strip().lower()
    return client, proto if proto in ("http", "https") else request.scheme


def client_ip(request: web.Request) -> str:
    return forwarded(request)[0]


async def enforce(request: web.Request, key: str, limit: Limit) -> None:
    wait = await request.app[RATE_LIMITER].acquire(key, limit)
    if wait > 0:
        raise RateLimited("too many requests, slow down", retry_after=wait)


def limited(kind: str, *, per: str = "user") -> Callable[[Handler], Handler]:
    """Spend one token of the caller's `kind` budget (settings.write_limits) before the handler runs:
    429 with Retry-After when it is spent. `per="ip"` keys it by client address instead (public
    routes: refresh). Every write route carries one (tests/test_edge.py checks the router)."""

    def wrap(handler: Handler) -> Handler:
        @functools.wraps(handler)
        async def limited_handler(request: web.Request) -> web.StreamResponse:
            who = client_ip(request) if per == "ip" else str(current_user_id(request))
            await enforce(request, f"{kind}:{per}:{who}", request.app[SETTINGS].write_limits[kind])
            return await handler(request)

        setattr(limited_handler, LIMIT_ATTR, kind)
        return limited_handler

    return wrap
