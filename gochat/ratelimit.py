"""Token-bucket rate limits behind one interface: in-process here, shared through Redis in
`ratelimit_redis.py` when REDIS_URL is set, so every node enforces one budget per key."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Protocol


@dataclass(frozen=True, slots=True)
class Limit:
    """`burst` requests at once, refilled at `per_second`."""

    burst: int
    per_second: float


class RateLimiter(Protocol):
    async def acquire(self, key: str, limit: Limit, cost: float = 1.0) -> float:
        """0.0 when allowed (and the cost is taken), else the seconds until it would be."""
        ...

    async def close(self) -> None: ...


class NoLimits:
    """GOCHAT_RATE_LIMITS=off: load tests and benchmarks."""

    async def acquire(self, key: str, limit: Limit, cost: float = 1.0) -> float:
        return 0.0

    async def close(self) -> None:
        return None


class MemoryRateLimiter:
    """Buckets in a dict; idle full buckets are swept so memory follows active keys only."""

    def __init__(self, clock: Callable[[], float] = time.monotonic, max_keys: int = 100_000) -> None:
        self._clock = clock
        self._buckets: dict[str, tuple[float, float]] = {}
        self._max_keys = max_keys

    async def acquire(self, key: str, limit: Limit, cost: float = 1.0) -> float:
        now = self._clock()
        tokens, stamp = self._buckets.get(key, (float(limit.burst), now))
        tokens = min(float(limit.burst), tokens + (now - stamp) * limit.per_second)
        if tokens >= cost:
            self._buckets[key] = (tokens - cost, now)
            if len(self._buckets) > self._max_keys:
                self._sweep(now, limit)
            return 0.0
        self._buckets[key] = (tokens, now)
        return (cost - tokens) / limit.per_second

    def _sweep(self, now: float, limit: Limit) -> None:
        horizon = limit.burst / limit.per_second
        self._buckets = {k: v for k, v in self._buckets.items() if now - v[1] < horizon}

    async def close(self) -> None:
        self._buckets.clear()
