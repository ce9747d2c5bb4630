"""Rate limits: one contract for the in-process and the Redis token bucket, then what only the
shared one does (one budget across nodes, fail open when Redis is gone).

Timings are never asserted tightly: refill rates are small, and waits are generous multiples.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator

import pytest
from conftest import RedisServer, _free_port
from redis.asyncio import Redis

from gochat.broker_redis import connect_redis
from gochat.ratelimit import Limit, MemoryRateLimiter, RateLimiter
from gochat.ratelimit_redis import RedisRateLimiter


@pytest.fixture(params=["memory", "redis"])
async def limiter(request: pytest.FixtureRequest, redis_client: Redis, redis_prefix: str) -> AsyncIterator[RateLimiter]:
    made: RateLimiter = (
        MemoryRateLimiter() if request.param == "memory" else RedisRateLimiter(redis_client, prefix=redis_prefix)
    )
    yield made
    await made.close()


async def spend(limiter: RateLimiter, key: str, limit: Limit, times: int) -> list[float]:
    return [await limiter.acquire(key, limit) for _ in range(times)]


# --- the contract ---------------------------------------------------------------------------------
async def test_a_burst_is_allowed_then_refused_with_the_refill_time(limiter: RateLimiter) -> None:
    limit = Limit(burst=5, per_second=0.5)  # one token every 2 s
    assert await spend(limiter, "user:1", limit, 5) == [0.0] * 5
    retry_after = await limiter.acquire("user:1", limit)
    assert 1.0 < retry_after <= 2.0


async def test_refused_requests_cost_nothing(limiter: RateLimiter) -> None:
    limit = Limit(burst=1, per_second=0.5)
    await limiter.acquire("user:1", limit)
    first = await limiter.acquire("user:1", limit)
    second = await limiter.acquire("user:1", limit)
    assert 0.0 < second <= first <= 2.0


async def test_tokens_come_back_over_time(limiter: RateLimiter) -> None:
    limit = Limit(burst=2, per_second=10.0)  # one token every 0.1 s
    await spend(limiter, "user:1", limit, 2)
    assert await limiter.acquire("user:1", limit) > 0.0
    await asyncio.sleep(0.5)
    assert await spend(limiter, "user:1", limit, 2) == [0.0, 0.0]


async def test_a_bucket_never_holds_more_than_its_burst(limiter: RateLimiter) -> None:
    limit = Limit(burst=3, per_second=3.0)  # a token per 0.33 s: four spends take far less
    await asyncio.sleep(1.2)  # long enough to refill far past the burst, were it not capped
    results = await spend(limiter, "user:1", limit, 4)
    assert results[:3] == [0.0] * 3
    assert results[3] > 0.0


async def test_keys_have_separate_budgets(limiter: RateLimiter) -> None:
    limit = Limit(burst=1, per_second=0.1)
    assert await limiter.acquire("user:1", limit) == 0.0
    assert await limiter.acquire("user:1", limit) > 0.0
    assert await limiter.acquire("user:2", limit) == 0.0


async def test_a_cost_spends_several_tokens(limiter: RateLimiter) -> None:
    limit = Limit(burst=10, per_second=1.0)
    started = time.monotonic()
    assert await limiter.acquire("upload:1", limit, cost=8) == 0.0
    retry_after = await limiter.acquire("upload:1", limit, cost=8)
    # 6 tokens short at one a second, less what refilled meanwhile (however slow the machine)
    assert 6.0 - (time.monotonic() - started) - 0.05 <= retry_after <= 6.0


# --- Redis only -----------------------------------------------------------------------------------
async def test_two_nodes_share_one_budget(redis_client: Redis, redis_url: str, redis_prefix: str) -> None:
    other_client = connect_redis(redis_url)
    node_a = RedisRateLimiter(redis_client, prefix=redis_prefix)
    node_b = RedisRateLimiter(other_client, prefix=redis_prefix)
    limit = Limit(burst=4, per_second=0.5)
    try:
        assert await spend(node_a, "user:1", limit, 2) == [0.0, 0.0]
        assert await spend(node_b, "user:1", limit, 2) == [0.0, 0.0]
        assert await node_a.acquire("user:1", limit) > 0.0
        assert await node_b.acquire("user:1", limit) > 0.0
    finally:
        await other_client.aclose()


async def test_idle_buckets_expire(redis_client: Redis, redis_prefix: str) -> None:
    limiter = RedisRateLimiter(redis_client, prefix=redis_prefix)
    await limiter.acquire("user:1", Limit(burst=2, per_second=1.0))
    ttl_ms = await redis_client.pttl(f"{redis_prefix}rl:user:1")
    # One token spent at one per second refills in 1 s; the key outlives that by a margin only.
    assert 0 < ttl_ms <= 2000


async def test_an_unreachable_redis_fails_open_to_a_local_limit() -> None:
    dead = connect_redis(f"redis://127.0.0.1:{_free_port()}/0", timeout=0.5)
    limiter = RedisRateLimiter(dead, prefix="unused:")
    limit = Limit(burst=2, per_second=0.1)
    try:
        assert await spend(limiter, "user:1", limit, 2) == [0.0, 0.0]
        assert limiter.degraded
        # Still a limit, kept per node while Redis is away.
        assert await limiter.acquire("user:1", limit) > 0.0
    finally:
        await limiter.close()
        await dead.aclose()


async def test_limits_fail_open_during_an_outage_and_are_shared_again_after(own_redis: RedisServer) -> None:
    client = connect_redis(own_redis.url, timeout=0.5)
    limiter = RedisRateLimiter(client, retry_after=0.0)
    limit = Limit(burst=1, per_second=0.1)
    try:
        own_redis.stop()
        assert await limiter.acquire("user:1", limit) == 0.0
        assert limiter.degraded
        own_redis.start()
        assert await limiter.acquire("user:2", limit) == 0.0
        assert not limiter.degraded
        assert await client.exists("gochat:rl:user:2") == 1
    finally:
        await limiter.close()
        await client.aclose()


async def test_readiness_learns_the_limits_are_shared_again_without_waiting_for_a_request(
    own_redis: RedisServer,
) -> None:
    client = connect_redis(own_redis.url, timeout=0.5)
    limiter = RedisRateLimiter(client, retry_after=60.0)  # no request would try Redis again for a minute
    limit = Limit(burst=1, per_second=0.1)
    try:
        assert await limiter.healthy()
        own_redis.stop()
        assert await limiter.acquire("user:1", limit) == 0.0
        assert not await limiter.healthy()
        assert limiter.degraded
        own_redis.start()
        assert await limiter.healthy()  # one PING, not the next request after retry_after
        assert not limiter.degraded
        assert await limiter.acquire("user:3", limit) == 0.0
        assert await client.exists("gochat:rl:user:3") == 1
    finally:
        await limiter.close()
        await client.aclose()
