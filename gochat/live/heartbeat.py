"""Liveness of a node's sockets: expired access tokens are closed, idle sockets pinged, dead peers
aborted. The hub runs `sweep` from one timer for the whole node.

Why not aiohttp's heartbeat: that is a timer per socket, a task and a timer per ping in flight
(~2 KiB a socket while it waits for the pong), and sockets opened together ping together (1,000 in
one loop turn stalled it 10-35 ms every 25 s under load). A connection silent for `heartbeat` x its
jitter (0.5-1, fixed per connection, so pings spread out) gets a ping; one silent for twice
`heartbeat` is a dead peer and its transport is aborted. Any frame counts as hearing from it
(ws/reader.py stamps `heard`; the client's pong to our ping is one).
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterable

from .connection import CLOSE_TOKEN_EXPIRED, Connection
from .frames import PING_FRAME

Close = Callable[[Connection, int, bytes], None]


def sweep(conns: Iterable[Connection], close: Close, *, now: float, tick: float, heartbeat: float | None) -> int:
    """One pass over `conns` at wall clock `now` and loop clock `tick`; returns how many dead peers
    it aborted."""
    dead = 0
    for conn in conns:
        if conn.expires_at <= now:
            close(conn, CLOSE_TOKEN_EXPIRED, b"token expired")
        elif heartbeat is not None and not conn.closing:
            silent = tick - conn.heard
            if silent > 2 * heartbeat:
                dead += 1
                conn.closing = True
                conn.transport.abort()
            elif silent > heartbeat * conn.jitter and tick - conn.pinged > heartbeat / 2:
                conn.pinged = tick
                if not conn.transport.is_closing():
                    # uvloop raises on a write to a transport closed under us; an escape here
                    # would end the hub's timer, and with it every ping and expiry check
                    with contextlib.suppress(RuntimeError, OSError):
                        conn.transport.write(PING_FRAME)
    return dead
