"""Presence across nodes in Redis (contract in presence_store.py).

Layout: one hash per node, `{prefix}presence:node:{node}` (user -> 1), and one sorted set of nodes,
`{prefix}presence:nodes`, scored by when each node expires (Redis `TIME` + ttl). A heartbeat is
O(1): re-score the node and extend its hash's TTL; it rebuilds the hash only when it is missing
(Redis restarted, node's first users) or a write failed since. `online` reads the live nodes'
hashes in one script: O(nodes x users asked), cheap for the handful of nodes a deployment runs.
Per-user keys would make every heartbeat O(users on the node) instead.

The scripts read node hashes they do not declare as KEYS: fine on one Redis (or a primary with
replicas), not on Redis Cluster.

Redis unreachable: connection counts stay exact locally; writes are skipped and replayed whole by
the first heartbeat that succeeds; `online` answers from this node's own users (logged once), so
callers degrade instead of failing.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterable
from itertools import islice

import structlog
from redis.asyncio import Redis

from ..redis_client import TRANSPORT_ERRORS
from .presence_store import DEFAULT_TTL, PresenceBase

log = structlog.get_logger("gochat.presence")

# Users per `online` script call: keeps HMGET's unpack well inside Lua's stack.
BATCH = 1000

HEARTBEAT = """
local t = redis.call('TIME')
local now = tonumber(t[1]) + tonumber(t[2]) / 1000000
local ttl = tonumber(ARGV[2])
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', now)
redis.call('ZADD', KEYS[1], now + ttl, ARGV[1])
return redis.call('PEXPIRE', KEYS[2], math.ceil(ttl * 1000))
"""

ONLINE = """
local t = redis.call('TIME')
local now = tonumber(t[1]) + tonumber(t[2]) / 1000000
local nodes = redis.call('ZRANGEBYSCORE', KEYS[1], '(' .. now, '+inf')
local found = {}
for i = 2, #ARGV do found[i - 1] = 0 end
for _, node in ipairs(nodes) do
  local flags = redis.call('HMGET', ARGV[1] .. node, unpack(ARGV, 2))
  for i = 1, #flags do
    if flags[i] then found[i] = 1 end
  end
end
return found
"""


class RedisPresenceStore(PresenceBase):
    def __init__(self, client: Redis, node_id: str, *, prefix: str = "gochat:", ttl: float = DEFAULT_TTL) -> None:
        super().__init__(node_id, ttl)
        self._client = client
        self._nodes_key = f"{prefix}presence:nodes"
        self._hash_prefix = f"{prefix}presence:node:"
        self._hash = self._hash_prefix + node_id
        self._heartbeat = client.register_script(HEARTBEAT)
        self._online = client.register_script(ONLINE)
        # Set when the shared copy may differ from our counts; the next heartbeat rebuilds it.
        self._stale = False
        self._down_logged = False
        # Writes of one node reach Redis in the order its counts changed.
        self._lock = asyncio.Lock()

    async def heartbeat(self) -> None:
        async with self._lock:
            try:
                extended = await self._heartbeat(keys=[self._nodes_key, self._hash], args=[self.node_id, self.ttl])
                if self._stale or (not extended and self._counts):
                    await self._rebuild()
            except TRANSPORT_ERRORS as exc:
                self._down(exc)
                return
            self._up()

    async def _rebuild(self) -> None:
        async with self._client.pipeline(transaction=True) as pipe:
            pipe.delete(self._hash)
            if self._counts:
                pipe.hset(self._hash, mapping=dict.fromkeys(self._counts, 1))
                pipe.pexpire(self._hash, int(self.ttl * 1000))
            await pipe.execute()
        self._stale = False

    async def _write(self, user_id: str) -> None:
        async with self._lock:
            if self._stale:
                return  # Redis was down: the next heartbeat rebuilds the whole hash
            try:
                async with self._client.pipeline(transaction=True) as pipe:
                    if user_id in self._counts:
                        # Every write re-arms the TTL: a hash must never outlive a crashed node.
                        pipe.hset(self._hash, user_id, 1)
                        pipe.pexpire(self._hash, int(self.ttl * 1000))
                    else:
                        pipe.hdel(self._hash, user_id)
                    await pipe.execute()
            except TRANSPORT_ERRORS as exc:
                self._down(exc)

    async def online(self, user_ids: Iterable[str]) -> set[str]:
        found: set[str] = set()
        users = iter(dict.fromkeys(user_ids))
        while batch := list(islice(users, BATCH)):
            try:
                flags = await self._online(keys=[self._nodes_key], args=[self._hash_prefix, *batch])
            except TRANSPORT_ERRORS as exc:
                self._down(exc)
                found.update(u for u in batch if u in self._counts)
                continue
            found.update(u for u, flag in zip(batch, flags, strict=True) if flag)
        return found

    async def _withdraw(self) -> None:
        try:
            async with self._client.pipeline(transaction=True) as pipe:
                pipe.zrem(self._nodes_key, self.node_id)
                pipe.delete(self._hash)
                await pipe.execute()
        except TRANSPORT_ERRORS as exc:
            log.warning("presence_withdraw_failed", node=self.node_id, error=repr(exc))

    def _down(self, exc: BaseException) -> None:
        self._stale = True
        if not self._down_logged:
            self._down_logged = True
            log.warning("presence_redis_down", node=self.node_id, error=repr(exc))

    def _up(self) -> None:
        if self._down_logged:
            self._down_logged = False
            log.info("presence_redis_back", node=self.node_id)
