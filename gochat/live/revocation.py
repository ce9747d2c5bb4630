"""Session revocation: a login's sockets close on every node (logout, refresh-token reuse) with
4401, so the client knows to authenticate again. The node that revokes closes its own at once and
tells the others on the control channel."""

from __future__ import annotations

from uuid import UUID

from .broker import Broker
from .connection import CLOSE_REVOKED
from .envelope import CONTROL_CHANNEL, Header, encode_control
from .hub import Hub

REASON = b"session revoked"


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
