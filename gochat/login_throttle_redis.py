"""Login backoff records in Redis (login_throttle.py has the rules), so every node slows one pair.

One hash per (account, address): failures in a row and when the next attempt may be checked, by
Redis `TIME`, expiring `forget_after` seconds after the last failure. Redis unreachable: fail open
to a per-node MemoryLoginThrottle, as the rate limiter does (ratelimit_redis.py).
"""

from __future__ import annotations

import contextlib
import time
from typing import Any

import structlog
from redis.asyncio import Redis

from .login_throttle import Backoff, MemoryLoginThrottle
from .redis_client import TRANSPORT_ERRORS

log = structlog.get_logger("gochat.login_throttle")

_NOW = "local t = redis.call('TIME') local now = tonumber(t[1]) + tonumber(t[2]) / 1000000 "
WAIT_SCRIPT = (
    _NOW
    + """
local at = tonumber(redis.call('HGET', KEYS[1], 'at'))
if not at then return '0' end
return tostring(math.max(0, at - now))
"""
)
FAILED_SCRIPT = (
    _NOW
    + """
local free, base, max_delay, forget = tonumber(ARGV[1]), tonumber(ARGV[2]), tonumber(ARGV[3]), tonumber(ARGV[4])
local n = redis.call('HINCRBY', KEYS[1], 'n', 1)
local delay = 0
if n > free then delay = math.min(max_delay, base * 2 ^ math.min(n - free - 1, 64)) end
redis.call('HSET', KEYS[1], 'at', tostring(now + delay))
redis.call('PEXPIRE', KEYS[1], math.ceil((forget + delay) * 1000))
return tostring(delay)
"""
)


class RedisLoginThrottle:
    def __init__(
        self, client: Redis, *, prefix: str = "gochat:", backoff: Backoff | None = None, retry_after: float = 1.0
    ) -> None:
        self.backoff = backoff or Backoff()
        self._client = client
        self._prefix = f"{prefix}login:"
        self._wait = client.register_script(WAIT_SCRIPT)
        self._failed = client.register_script(FAILED_SCRIPT)
        self._fallback = MemoryLoginThrottle(self.backoff)
        self._retry_after = retry_after
        self._down_until: float | None = None

    async def _call(self, key: str, script: Any, args: list[Any]) -> float | None:
        """The script's answer, or None while Redis is unreachable (the caller falls back)."""
        if self._down_until is not None and time.monotonic() < self._down_until:
            return None
        try:
            answer = await script(keys=[self._prefix + key], args=args)
        except TRANSPORT_ERRORS as exc:
            if self._down_until is None:
                log.warning("login_throttle_redis_down_failing_open", error=repr(exc))
            self._down_until = time.monotonic() + self._retry_after
            return None
        self._down_until = None
        return float(answer)

    async def wait(self, key: str) -> float:
        found = await self._call(key, self._wait, [])
        return await self._fallback.wait(key) if found is None else found

    async def failed(self, key: str) -> float:
        b = self.backoff
        found = await self._call(key, self._failed, [b.free, b.base, b.max_delay, b.forget_after])
        return await self._fallback.failed(key) if found is None else found

    async def succeeded(self, key: str) -> None:
        await self._fallback.succeeded(key)
        # Unreachable: the record expires on its own, and the fail-open path covers the outage.
        with contextlib.suppress(*TRANSPORT_ERRORS):
            await self._client.delete(self._prefix + key)

    async def close(self) -> None:
        await self._fallback.close()
