"""Who is online across nodes: the `PresenceStore` protocol and its in-process backend.

Each node counts its own connections per user and reports only the users with at least one; a
user is online while any live node reports them. A node is live while it heartbeats: `start()`
heartbeats every ttl/3, and a node that stops (crash, partition) drops out within `ttl` with all
its users. A clean `close()` withdraws the node at once.

The node's counts are the truth for that node; the shared store is a copy that a heartbeat can
rebuild whole (after a Redis restart or failed writes), so a lost write heals within ttl/3.
"""

from __future__ import annotations

import asyncio
import time
from abc import ABC, abstractmethod
from collections.abc import Callable, Iterable
from typing import Protocol

import structlog

from ..aio import cancel_and_wait

log = structlog.get_logger("gochat.presence")

DEFAULT_TTL = 30.0


class PresenceStore(Protocol):
    node_id: str

    async def start(self) -> None:
        """Heartbeat now, then every ttl/3 in the background."""
        ...

    async def close(self) -> None:
        """Stop heartbeating and withdraw this node's users."""
        ...

    async def connected(self, user_id: str) -> bool:
        """Count one connection; True when it is the user's first on this node."""
        ...

    async def disconnected(self, user_id: str) -> bool:
        """Count one connection less; True when it was the user's last on this node."""
        ...

    @abstractmethod
    async def online(self, user_ids: Iterable[str]) -> set[str]:
        """The given users that have a connection on any live node."""
        ...

    @abstractmethod
    async def heartbeat(self) -> None: ...


class PresenceBase(ABC):
    """Per-node connection counts and the heartbeat loop; backends write the shared copy."""

    def __init__(self, node_id: str, ttl: float) -> None:
        self.node_id = node_id
        self.ttl = ttl
        self._counts: dict[str, int] = {}
        self._task: asyncio.Task[None] | None = None
        self._closing = False

    @property
    def local_users(self) -> frozenset[str]:
        return frozenset(self._counts)

    async def start(self) -> None:
        await self.heartbeat()
        if self._task is None:
            self._closing = False
            self._task = asyncio.get_running_loop().create_task(self._beat(), name="gochat-presence-heartbeat")

    async def close(self) -> None:
        if self._task is not None:
            # The flag as well as the cancel: a cancel landing inside a Redis command can come back
            # as a connection error, which the heartbeat swallows (seen: close() then waited forever).
            self._closing = True
            await cancel_and_wait(self._task)
            self._task = None
        await self._withdraw()
        self._counts.clear()

    async def _beat(self) -> None:
        while not self._closing:
            await asyncio.sleep(self.ttl / 3)
            try:
                await self.heartbeat()
            except Exception:
                log.exception("presence_heartbeat_failed", node=self.node_id)

    async def connected(self, user_id: str) -> bool:
        count = self._counts.get(user_id, 0)
        self._counts[user_id] = count + 1
        if count == 0:
            await self._write(user_id)
        return count == 0

    async def disconnected(self, user_id: str) -> bool:
        count = self._counts.get(user_id, 0)
        if count == 0:
            log.warning("presence_disconnect_unknown", user_id=user_id)
            return False
        if count > 1:
            self._counts[user_id] = count - 1
            return False
        del self._counts[user_id]
        await self._write(user_id)
        return True

    @abstractmethod
    async def heartbeat(self) -> None: ...

    @abstractmethod
    async def online(self, user_ids: Iterable[str]) -> set[str]: ...

    @abstractmethod
    async def _write(self, user_id: str) -> None:
        """Copy this node's current state for `user_id` to the shared store."""
        ...

    @abstractmethod
    async def _withdraw(self) -> None: ...


class MemoryPresenceCluster:
    """In-process stand-in for Redis: stores on one cluster behave as nodes of one deployment."""

    def __init__(self, clock: Callable[[], float] = time.monotonic) -> None:
        self.clock = clock
        # node id -> (the node's users, when the node expires)
        self.nodes: dict[str, tuple[frozenset[str], float]] = {}


class MemoryPresenceStore(PresenceBase):
    def __init__(self, node_id: str, *, ttl: float = DEFAULT_TTL, cluster: MemoryPresenceCluster | None = None) -> None:
        super().__init__(node_id, ttl)
        self._cluster = cluster if cluster is not None else MemoryPresenceCluster()

    async def heartbeat(self) -> None:
        self._cluster.nodes[self.node_id] = (self.local_users, self._cluster.clock() + self.ttl)

    async def online(self, user_ids: Iterable[str]) -> set[str]:
        now = self._cluster.clock()
        live = [users for users, expires in self._cluster.nodes.values() if expires > now]
        return {u for u in user_ids if any(u in users for users in live)}

    async def _write(self, user_id: str) -> None:
        entry = self._cluster.nodes.get(self.node_id)
        if entry is not None:
            self._cluster.nodes[self.node_id] = (self.local_users, entry[1])

    async def _withdraw(self) -> None:
        self._cluster.nodes.pop(self.node_id, None)
