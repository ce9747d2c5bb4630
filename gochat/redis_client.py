"""Redis clients that fail fast, and what an unreachable Redis raises: shared by every Redis
backend (broker, presence, rate limits, login throttle) and the tests."""

from __future__ import annotations

from redis.asyncio import Redis
from redis.asyncio.retry import Retry
from redis.backoff import NoBackoff
from redis.exceptions import RedisError

# What an unreachable or failing Redis raises through redis-py.
TRANSPORT_ERRORS = (RedisError, OSError, TimeoutError)


def connect_redis(url: str, *, timeout: float = 1.0, retries: int = 1) -> Redis:
    """A client that fails fast: short timeouts, at most `retries` immediate reconnects per command
    (one absorbs a pooled connection left stale by a Redis restart)."""
    return Redis.from_url(
        url,
        socket_timeout=timeout,
        socket_connect_timeout=timeout,
        retry=Retry(NoBackoff(), retries),
        health_check_interval=0,
        decode_responses=False,
    )
