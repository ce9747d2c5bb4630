"""Session revocation: a login's sockets close on every node (logout, refresh-token reuse) with
4401, so the client knows to authenticate again. The node that revokes closes its own at once and
tells the others on the control channel.

The channel is the fast path, not the promise: a revocation made by the CLI (`gochat bots revoke`,
`gochat users erase`) reaches no broker, and one made while the broker is down is never heard.
So each node also reads what was revoked lately (`RevocationSweep`, every few seconds) and closes
what it still holds of it."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Collection
from uuid import UUID

import structlog

from ..aio import cancel_and_wait
from .broker import Broker
from .connection import CLOSE_REVOKED
from .envelope import CONTROL_CHANNEL, Header, encode_control
from .hub import Hub

REASON = b"session revoked"

log = structlog.get_logger("gochat.live")


class Revocation:
    def __init__(self, hub: Hub, broker: Broker, node_id: str) -> None:
        self.hub = hub
        self.broker = broker
        self.node_id = node_id

    async def close_session(self, session_id: UUID) -> None:
        self.hub.close_where(CLOSE_REVOKED, REASON, session_id=str(session_id))
        if self.broker.healthy:
            await self.broker.publish(CONTROL_CHANNEL, encode_control(self.node_id, session_id))

    def announced(self, header: Header) -> None:
        """Another node revoked a session: end that login's sockets here too."""
        self.hub.close_where(CLOSE_REVOKED, REASON, session_id=header.id)


class RevocationSweep:
    """Every `interval` seconds, close this node's sockets of logins revoked within the last
    `lookback` seconds (`revoked_within(lookback)`: ids, as sockets hold them in `session_id`).
    The lookback spans several sweeps, so a sweep that failed or a revoking transaction that
    committed late is caught by the next; closing twice closes nothing."""

    def __init__(
        self, hub: Hub, revoked_within: Callable[[float], Awaitable[Collection[str]]], interval: float
    ) -> None:
        self.hub = hub
        self.revoked_within = revoked_within
        self.interval = interval
        self.lookback = 3 * interval + 30.0
        self._task: asyncio.Task[None] | None = None

    def start(self) -> None:
        if self._task is None:
            self._task = asyncio.get_running_loop().create_task(self._run(), name="gochat-revocation-sweep")

    async def close(self) -> None:
        await cancel_and_wait(self._task)
        self._task = None

    async def sweep(self) -> int:
        """One sweep; the sockets it closed."""
        if not self.hub.users:
            return 0
        revoked = await self.revoked_within(self.lookback)
        if not revoked:
            return 0
        held = {c.session_id for conns in self.hub.users.values() for c in conns if not c.closing}
        return sum(self.hub.close_where(CLOSE_REVOKED, REASON, session_id=s) for s in held.intersection(revoked))

    async def _run(self) -> None:
        while True:
            await asyncio.sleep(self.interval)
            try:
                if closed := await self.sweep():
                    log.info("revoked_sockets_closed", sockets=closed)
            except Exception as exc:  # the database is away: the lookback covers the next sweep
                log.warning("revocation_sweep_failed", error=repr(exc))
