"""Token buckets in Redis, so every node spends from one budget per key.

One Lua script refills, takes and stores a bucket atomically. Time comes from Redis `TIME` inside
the script, so nodes with skewed clocks agree; each bucket expires once it would be full again, so
idle keys cost nothing. Scripts that only read TIME before writing are fine since Redis 5 (effects
replication).

Redis unreachable: fail open to a local MemoryRateLimiter. Each node then enforces the limit on its
own (a client spread over N nodes gets up to N budgets) instead of the whole service refusing
traffic because a rate-limit store is down. Logged once per outage and once on recovery (both as
warnings: an operator wants to see the stretch where budgets were per node); Redis is tried again
after `retry_after` seconds, so an outage costs one timeout per interval, not one per request.
Readiness reports `rate_limits: degraded` meanwhile.
"""

from __future__ import annotations

import time

import structlog
from redis.asyncio import Redis

from .broker_redis import TRANSPORT_ERRORS
from .ratelimit import Limit, MemoryRateLimiter

log = structlog.get_logger("gochat.ratelimit")

BUCKET_SCRIPT = """
local burst = tonumber(ARGV[1])
local rate = tonumber(ARGV[2])
local cost = tonumber(ARGV[3])
local t = redis.call('TIME')
local now = tonumber(t[1]) + tonumber(t[2]) / 1000000
local stored = redis.call('HMGET', KEYS[1], 'tokens', 'stamp')
local tokens = tonumber(stored[1]) or burst
local stamp = tonumber(stored[2]) or now
tokens = math.min(burst, tokens + math.max(0, now - stamp) * rate)
local wait = 0
if tokens >= cost then
  tokens = tokens - cost
else
  wait = (cost - tokens) / rate
end
redis.call('HSET', KEYS[1], 'tokens', tostring(tokens), 'stamp', tostring(now))
redis.call('PEXPIRE', KEYS[1], math.ceil((burst - tokens) / rate * 1000) + 1000)
return tostring(wait)
"""


class RedisRateLimiter:
    def __init__(
        self,
        client: Redis,
        *,
        prefix: str = "gochat:",
        fallback: MemoryRateLimiter | None = None,
        retry_after: float = 1.0,
    ) -> None:
        self._prefix = f"{prefix}rl:"
        self._client = client
        self._script = client.register_script(BUCKET_SCRIPT)
        self._fallback = fallback if fallback is not None else MemoryRateLimiter()
        self._retry_after = retry_after
        self._down_until: float | None = None

    @property
    def degraded(self) -> bool:
        """True while limits are enforced per node because Redis is unreachable."""
        return self._down_until is not None

    async def healthy(self) -> bool:
        """For readiness: True when limits are shared again. While degraded, one PING decides
        (instead of waiting for the next request to find out)."""
        if self._down_until is None:
            return True
        try:
            await self._client.ping()
        except TRANSPORT_ERRORS:
            self._down_until = time.monotonic() + self._retry_after
            return False
        self._back()
        return True

    def _back(self) -> None:
        log.warning("ratelimit_redis_back")
        self._down_until = None

    async def acquire(self, key: str, limit: Limit, cost: float = 1.0) -> float:
        if self._down_until is not None and time.monotonic() < self._down_until:
            return await self._fallback.acquire(key, limit, cost)
        try:
            wait = await self._script(keys=[self._prefix + key], args=[limit.burst, limit.per_second, cost])
        except TRANSPORT_ERRORS as exc:
            if self._down_until is None:
                log.warning("ratelimit_redis_down_failing_open", error=repr(exc))
            self._down_until = time.monotonic() + self._retry_after
            return await self._fallback.acquire(key, limit, cost)
        if self._down_until is not None:
            self._back()
        return float(wait)

    async def close(self) -> None:
        await self._fallback.close()
