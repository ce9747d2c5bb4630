"""Failed logins slow down, per (account, client address), instead of locking the account.

Keyed on the pair, so wrong guesses from one address never hold back the owner at another; only
failures count, and a success clears the pair. The first `free` failures cost nothing; each one
after that makes the pair wait before its next attempt is even checked, twice as long as the last
time, up to `max_delay`. A pair forgotten for `forget_after` seconds starts afresh.

In-process here; `login_throttle_redis.py` shares the records between nodes when REDIS_URL is set.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Protocol


@dataclass(frozen=True, slots=True)
class Backoff:
    free: int = 5
    base: float = 1.0
    max_delay: float = 300.0
    forget_after: float = 900.0

    def delay(self, failures: int) -> float:
        """The wait after the `failures`-th failure in a row."""
        if failures <= self.free:
            return 0.0
        return float(min(self.max_delay, self.base * 2.0 ** min(failures - self.free - 1, 64)))


class LoginThrottle(Protocol):
    async def wait(self, key: str) -> float:
        """Seconds before an attempt for this key may be checked (0.0: now)."""
        ...

    async def failed(self, key: str) -> float:
        """Count a failure; the wait it imposes on the next attempt."""
        ...

    async def succeeded(self, key: str) -> None: ...

    async def close(self) -> None: ...


class NoThrottle:
    """GOCHAT_RATE_LIMITS=off."""

    async def wait(self, key: str) -> float:
        return 0.0

    async def failed(self, key: str) -> float:
        return 0.0

    async def succeeded(self, key: str) -> None:
        return None

    async def close(self) -> None:
        return None


class MemoryLoginThrottle:
    def __init__(
        self, backoff: Backoff | None = None, clock: Callable[[], float] = time.monotonic, max_keys: int = 100_000
    ) -> None:
        self.backoff = backoff or Backoff()
        self._clock = clock
        self._max_keys = max_keys
        # key -> (failures in a row, the time the next attempt may be checked, the last failure)
        self._records: dict[str, tuple[int, float, float]] = {}

    def _current(self, key: str, now: float) -> tuple[int, float, float] | None:
        record = self._records.get(key)
        if record is not None and now - record[2] > self.backoff.forget_after:
            del self._records[key]
            return None
        return record

    async def wait(self, key: str) -> float:
        now = self._clock()
        record = self._current(key, now)
        return max(0.0, record[1] - now) if record else 0.0

    async def failed(self, key: str) -> float:
        now = self._clock()
        record = self._current(key, now)
        failures = (record[0] if record else 0) + 1
        delay = self.backoff.delay(failures)
        self._records[key] = (failures, now + delay, now)
        if len(self._records) > self._max_keys:
            self._records = {k: r for k, r in self._records.items() if now - r[2] <= self.backoff.forget_after}
        return delay

    async def succeeded(self, key: str) -> None:
        self._records.pop(key, None)

    async def close(self) -> None:
        self._records.clear()
