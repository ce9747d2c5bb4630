"""Login backoff: one contract for the in-process and the Redis records, then the rules over time
(a fake clock) and what only the shared one does. Waits are compared with the delays the throttle
itself reported, never with a clock."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest
from redis.asyncio import Redis

from gochat.login_throttle import Backoff, LoginThrottle, MemoryLoginThrottle
from gochat.login_throttle_redis import RedisLoginThrottle
from gochat.redis_client import connect_redis

BACKOFF = Backoff(free=3, base=1.0, max_delay=8.0, forget_after=900.0)


@pytest.fixture(params=["memory", "redis"])
async def throttle(
    request: pytest.FixtureRequest, redis_client: Redis, redis_prefix: str
) -> AsyncIterator[LoginThrottle]:
    made: LoginThrottle = (
        MemoryLoginThrottle(BACKOFF)
        if request.param == "memory"
        else RedisLoginThrottle(redis_client, prefix=redis_prefix, backoff=BACKOFF)
    )
    yield made
    await made.close()


async def test_the_first_failures_are_free_then_each_doubles_the_wait_up_to_the_max(throttle: LoginThrottle) -> None:
    delays = [await throttle.failed("alice|10.0.0.1") for _ in range(8)]
    assert delays == [0.0, 0.0, 0.0, 1.0, 2.0, 4.0, 8.0, 8.0]
    assert 0.0 < await throttle.wait("alice|10.0.0.1") <= 8.0


async def test_a_success_clears_the_pair_and_other_pairs_are_untouched(throttle: LoginThrottle) -> None:
    for _ in range(4):
        await throttle.failed("alice|10.0.0.66")
    assert await throttle.wait("alice|10.0.0.66") > 0
    assert await throttle.wait("alice|10.0.0.1") == 0.0  # the owner elsewhere
    assert await throttle.wait("bob|10.0.0.66") == 0.0  # another account from there
    await throttle.succeeded("alice|10.0.0.66")
    assert await throttle.wait("alice|10.0.0.66") == 0.0
    assert await throttle.failed("alice|10.0.0.66") == 0.0  # counting starts afresh


async def test_a_pair_is_forgotten_after_a_quiet_spell() -> None:
    now = [0.0]
    throttle = MemoryLoginThrottle(BACKOFF, clock=lambda: now[0])
    assert [await throttle.failed("k") for _ in range(4)] == [0.0, 0.0, 0.0, 1.0]
    now[0] += 0.5
    assert await throttle.wait("k") == 0.5
    now[0] += 1.0
    assert await throttle.wait("k") == 0.0  # waited long enough: the next attempt is checked
    assert await throttle.failed("k") == 2.0  # and failing again doubles
    now[0] += BACKOFF.forget_after + 1
    assert await throttle.failed("k") == 0.0


async def test_the_shared_records_slow_one_pair_on_every_node(
    redis_client: Redis, redis_url: str, redis_prefix: str
) -> None:
    other = connect_redis(redis_url)
    a = RedisLoginThrottle(redis_client, prefix=redis_prefix, backoff=BACKOFF)
    b = RedisLoginThrottle(other, prefix=redis_prefix, backoff=BACKOFF)
    try:
        for _ in range(4):
            await a.failed("carol|10.0.0.9")
        assert await b.wait("carol|10.0.0.9") > 0
        await b.succeeded("carol|10.0.0.9")
        assert await a.wait("carol|10.0.0.9") == 0.0
    finally:
        await other.aclose()


async def test_an_unreachable_redis_fails_open_to_a_local_record() -> None:
    client = connect_redis("redis://127.0.0.1:1")
    throttle = RedisLoginThrottle(client, backoff=BACKOFF)
    try:
        assert [await throttle.failed("k") for _ in range(4)] == [0.0, 0.0, 0.0, 1.0]
        assert await throttle.wait("k") > 0
    finally:
        await client.aclose()
