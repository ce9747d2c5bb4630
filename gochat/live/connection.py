"""One WebSocket as the live side sees it: what the hub needs of the socket and its transport,
the per-connection state of the fan-out, and the close codes the live side sends."""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Protocol
from uuid import UUID

CLOSE_SLOW_CONSUMER = 4008  # too far behind: resume with `since`
CLOSE_TOKEN_EXPIRED = 4401  # the access token expired: authenticate again
CLOSE_REVOKED = 4401  # the login was revoked (logout, refresh-token reuse), on every node


class Transport(Protocol):
    def write(self, data: bytes) -> None: ...
    def get_write_buffer_size(self) -> int: ...
    def is_closing(self) -> bool: ...
    def abort(self) -> None: ...


class Socket(Protocol):
    """What the hub needs of a WebSocket (aiohttp's WebSocketResponse in production)."""

    async def close(self, *, code: int = ..., message: bytes = ...) -> bool: ...


@dataclass(frozen=True, slots=True)
class HeldFrame:
    """A live frame that waits while a resume replays the log (see Hub.hold)."""

    room: UUID
    event_id: int
    data: bytes


@dataclass(eq=False, slots=True)
class Connection:
    user_id: UUID
    session_id: str | None
    socket: Socket
    transport: Transport
    rooms: set[UUID] = field(default_factory=set)
    pending: list[bytes] = field(default_factory=list)
    closing: bool = False
    # While a resume replays the log, live frames wait here (see ws/resume.py): no gap. `holds`
    # counts the resumes in progress on the connection (join frames may overlap); the last release
    # delivers.
    held: list[HeldFrame] | None = None
    holds: int = 0
    delivered: int = 0
    expires_at: float = math.inf  # wall clock: the access token's expiry, when the socket closes (4401)
    heard: float = 0.0  # loop clock: the last frame from the client (set by Hub.add, then by ws/)
    pinged: float = 0.0  # loop clock: our last ping
    jitter: float = 1.0
    # `"user_id":"<id>"` of users whose room frames this socket does not get (blocked, on request)
    hidden: tuple[bytes, ...] = ()

    def hides(self, data: bytes) -> bool:
        return any(pattern in data for pattern in self.hidden)
