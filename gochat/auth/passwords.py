"""argon2id password hashing, run off the event loop.

Hashing is deliberately slow (~20 ms of one core at the parameters below), so it runs in a small
thread pool (argon2-cffi releases the GIL) behind a semaphore: a burst of logins waits its turn in
asyncio, where waiting is cheap and a cancelled request drops out of the queue, instead of piling
up threads that would starve the event loop and every other request with it. Past `max_waiting`
queued hashes the service sheds load with 503 rather than letting latency grow without bound.
"""

from __future__ import annotations

import asyncio
import os
import secrets
import unicodedata
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import TypeVar

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError

from ..errors import Unavailable

T = TypeVar("T")

# OWASP's floor for argon2id (m=19 MiB, t=2, p=1): ~20 ms per hash on this class of machine.
MEMORY_COST_KIB = 19456
TIME_COST = 2
PARALLELISM = 1


def default_workers() -> int:
    # Leave a core to the event loop on small machines; hashing is CPU-bound, more threads than
    # cores only adds contention.
    return max(1, min(4, (os.cpu_count() or 2) - 1))


def normalize_password(password: str) -> str:
    # NFKC so that one password typed on two keyboards (composed vs decomposed) is one password.
    return unicodedata.normalize("NFKC", password)


class Passwords:
    def __init__(
        self,
        *,
        workers: int | None = None,
        max_waiting: int = 2000,
        memory_cost: int = MEMORY_COST_KIB,
        time_cost: int = TIME_COST,
        parallelism: int = PARALLELISM,
    ) -> None:
        self.workers = workers or default_workers()
        self._hasher = PasswordHasher(time_cost=time_cost, memory_cost=memory_cost, parallelism=parallelism)
        self._executor = ThreadPoolExecutor(max_workers=self.workers, thread_name_prefix="gochat-argon2")
        self._slots = asyncio.Semaphore(self.workers)
        self._max_waiting = max_waiting
        self._waiting = 0
        # Verified for unknown users, so that "no such user" costs what "wrong password" costs.
        self._dummy_hash = self._hasher.hash(secrets.token_urlsafe(16))
        #: argon2 verifications done (metrics; tests use it to see that both login failures do the work)
        self.verifications = 0

    async def _run(self, fn: Callable[[], T]) -> T:
        if self._waiting >= self._max_waiting:
            raise Unavailable("too many logins in progress", retry_after=1.0)
        self._waiting += 1
        try:
            async with self._slots:
                return await asyncio.get_running_loop().run_in_executor(self._executor, fn)
        finally:
            self._waiting -= 1

    async def hash(self, password: str) -> str:
        return await self._run(lambda: self._hasher.hash(normalize_password(password)))

    async def verify(self, password_hash: str | None, password: str) -> bool:
        """True when `password` matches; a missing hash is checked against a dummy (always False)."""
        target = password_hash or self._dummy_hash
        self.verifications += 1

        def check() -> bool:
            try:
                return self._hasher.verify(target, normalize_password(password))
            except (VerificationError, InvalidHashError):
                return False

        matched = await self._run(check)
        return matched and password_hash is not None

    def close(self) -> None:
        self._executor.shutdown(wait=True, cancel_futures=True)
