"""The node's live fan-out: rooms -> connections, frames encoded once, one write per connection per
loop iteration, and a bounded outbound buffer per connection.

Why write to the transport ourselves: a broadcast must never await one client, and on this kind of
machine the per-delivery `send()` system call dominates. So a frame is serialized and framed once
(frames.py), the same bytes are queued on every subscriber, and one callback per loop
iteration writes each connection's queue in a single `transport.write`. The transport's own write
buffer is the per-connection queue: when it passes `max_buffer` (the client stopped reading), the
connection is closed with 4008 and resumes later with `since`. No task per connection.

aiohttp writes uncompressed frames synchronously in one call, so its control frames (pong, close)
never interleave with ours inside a frame.

The heartbeat (pings, dead peers, expired tokens) is heartbeat.py's, run from one timer here.
"""

from __future__ import annotations

import asyncio
import random
import time
from collections.abc import Coroutine, Iterable
from typing import Any
from uuid import UUID

import structlog

from .connection import CLOSE_SLOW_CONSUMER, Connection, HeldFrame
from .heartbeat import sweep

log = structlog.get_logger("gochat.hub")


class Hub:
    def __init__(self, *, max_buffer: int = 1 << 20, expiry_sweep: float = 1.0, heartbeat: float | None = 25.0) -> None:
        self.max_buffer = max_buffer
        self.expiry_sweep = expiry_sweep
        self.heartbeat = heartbeat
        self._sweeper: asyncio.TimerHandle | None = None
        # room -> its subscribers, each with its high-water mark: the id of the newest event of the
        # room this connection was sent (see publish).
        self.rooms: dict[UUID, dict[Connection, int]] = {}
        self.users: dict[UUID, set[Connection]] = {}
        self._dirty: set[Connection] = set()
        self._scheduled = False
        self._tasks: set[asyncio.Task[Any]] = set()
        # Plain counters the metrics sampler reads (metrics_sources.py): no metric object per delivery.
        self.deliveries = 0
        self.slow_closed = 0
        self.dead_closed = 0
        self.opened = 0
        self.frames_in: dict[str, int] = {}
        self.frames_out: dict[str, int] = {}
        self.draining = False
        self.handling = 0  # client frames being handled now (ws/)

    # --- membership of the fan-out ------------------------------------------------------------
    def add(self, conn: Connection) -> bool:
        """Register a connection; True when it is the user's first on this node."""
        conns = self.users.setdefault(conn.user_id, set())
        conns.add(conn)
        self.opened += 1
        loop = asyncio.get_running_loop()
        conn.heard = loop.time()
        conn.jitter = random.uniform(0.5, 1.0)
        if self._sweeper is None:
            self._sweeper = loop.call_later(self.expiry_sweep, self._sweep)
        return len(conns) == 1

    def remove(self, conn: Connection) -> bool:
        """Forget a connection; True when it was the user's last on this node."""
        for room in list(conn.rooms):
            self.unsubscribe(conn, room)
        self._dirty.discard(conn)
        conns = self.users.get(conn.user_id)
        if conns is None:
            return False
        conns.discard(conn)
        if not conns:
            del self.users[conn.user_id]
            return True
        return False

    def subscribe(self, conn: Connection, room: UUID) -> None:
        conn.rooms.add(room)
        self.rooms.setdefault(room, {}).setdefault(conn, 0)

    def unsubscribe(self, conn: Connection, room: UUID) -> None:
        conn.rooms.discard(room)
        subs = self.rooms.get(room)
        if subs is not None:
            subs.pop(conn, None)
            if not subs:
                del self.rooms[room]

    def local_rooms(self) -> Iterable[UUID]:
        return self.rooms.keys()

    def is_online(self, user_id: UUID) -> bool:
        return user_id in self.users

    # --- delivery --------------------------------------------------------------------------------
    def publish(self, room: UUID, event_id: int, data: bytes, kind: str = "event") -> None:
        """Queue one framed event on every subscriber of `room` (never awaits).

        A frame at or below a connection's high-water mark for the room was sent to it already and
        is dropped, whatever path brought it twice: a resume's replay reads the log, which holds
        events committed but not yet published (the writer tells its listeners after it sent the
        next batch; another node's frame comes later still over the broker), so the same event can
        reach a socket once replayed and once live. One int compare per socket; the frame is still
        encoded once for all."""
        subs = self.rooms.get(room)
        if not subs:
            return
        out = self.frames_out  # per frame, not per socket (metrics_sources.py)
        out[kind] = out.get(kind, 0) + len(subs)
        for conn, mark in subs.items():
            if event_id <= mark or (conn.hidden and conn.hides(data)):
                continue
            if conn.held is not None:
                conn.held.append(HeldFrame(room, event_id, data))
            else:
                subs[conn] = event_id  # a value replaced, not a key added: safe while iterating
                self._queue(conn, data)

    def send_event(self, conn: Connection, room: UUID, event_id: int, data: bytes, kind: str | None = None) -> bool:
        """Queue one framed event of `room` on one connection (a resume's replay), unless the
        connection no longer subscribes to the room or was sent that event already."""
        subs = self.rooms.get(room)
        if subs is None:
            return False
        mark = subs.get(conn)
        if mark is None or event_id <= mark:
            return False
        subs[conn] = event_id
        if kind is None:  # a held frame, counted when it was published
            self._queue(conn, data)
        else:
            self.send(conn, data, kind)
        return True

    def send(self, conn: Connection, data: bytes, kind: str = "other") -> None:
        out = self.frames_out
        out[kind] = out.get(kind, 0) + 1
        self._queue(conn, data)

    def send_to_user(self, user_id: UUID, data: bytes, kind: str = "other") -> None:
        for conn in self.users.get(user_id, ()):
            self.send(conn, data, kind)

    def count_in(self, kind: str) -> None:
        """A client frame of `kind` arrived (ws/)."""
        self.frames_in[kind] = self.frames_in.get(kind, 0) + 1

    @property
    def connections(self) -> int:
        return sum(len(conns) for conns in self.users.values())

    def _queue(self, conn: Connection, data: bytes) -> None:
        if conn.closing:
            return
        conn.pending.append(data)
        self._dirty.add(conn)
        if not self._scheduled:
            self._scheduled = True
            asyncio.get_running_loop().call_soon(self._flush)

    def _flush(self) -> None:
        self._scheduled = False
        dirty, self._dirty = self._dirty, set()
        for conn in dirty:
            pending = conn.pending
            if conn.closing or not pending:
                pending.clear()
                continue
            transport = conn.transport
            if transport.is_closing():
                pending.clear()
                continue
            transport.write(pending[0] if len(pending) == 1 else b"".join(pending))
            conn.delivered += len(pending)
            self.deliveries += len(pending)
            pending.clear()
            if transport.get_write_buffer_size() > self.max_buffer:
                self.slow_closed += 1
                self.close(conn, CLOSE_SLOW_CONSUMER, b"too far behind: resume with since")

    def hold(self, conn: Connection) -> None:
        """Start a resume: live frames for the connection wait until the matching release."""
        conn.holds += 1
        if conn.held is None:
            conn.held = []

    def release(self, conn: Connection, after: int = 0, rooms: Iterable[UUID] = ()) -> None:
        """End a resume: every event of `rooms` up to `after` counts as sent (the replay read the
        log that far); once no other resume is in progress, the held live frames above each
        room's mark go, in order, and the connection is live again."""
        for room in rooms:
            subs = self.rooms.get(room)
            if subs is not None and conn in subs and subs[conn] < after:
                subs[conn] = after
        conn.holds = max(0, conn.holds - 1)
        if conn.holds:
            return
        held, conn.held = conn.held or [], None
        for waiting in held:
            self.send_event(conn, waiting.room, waiting.event_id, waiting.data)

    # --- closing ---------------------------------------------------------------------------------
    def _sweep(self) -> None:
        """One timer for the node, not one per socket: a TimerHandle per connection cost ~0.5 KiB
        (bench/ws_idle.py)."""
        loop = asyncio.get_running_loop()
        conns = (conn for conns in self.users.values() for conn in conns)
        self.dead_closed += sweep(conns, self.close, now=time.time(), tick=loop.time(), heartbeat=self.heartbeat)
        self._sweeper = loop.call_later(self.expiry_sweep, self._sweep) if self.users else None

    def close(self, conn: Connection, code: int, reason: bytes = b"") -> None:
        if conn.closing:
            return
        conn.closing = True
        conn.pending.clear()
        task = asyncio.get_running_loop().create_task(conn.socket.close(code=code, message=reason))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    def close_where(
        self, code: int, reason: bytes, *, user_id: UUID | None = None, session_id: str | None = None
    ) -> int:
        """Close a user's connections, or one login's (session) wherever it is: logout, revocation."""
        pool = self.users.get(user_id, ()) if user_id is not None else (c for cs in self.users.values() for c in cs)
        doomed = [c for c in pool if session_id is None or c.session_id == session_id]
        for conn in doomed:
            self.close(conn, code, reason)
        return len(doomed)

    def drop_room_for(self, user_id: UUID, room: UUID, notice: bytes | None = None) -> None:
        """Stop a user's connections receiving a room (kick, ban, leave): the notice goes first."""
        for conn in self.users.get(user_id, ()):
            if room in conn.rooms:
                if notice is not None:
                    self._queue(conn, notice)
                self.unsubscribe(conn, room)

    def track(self, coro: Coroutine[Any, Any, None]) -> asyncio.Task[None]:
        """Run work that must outlive a cancelled handler (disconnect cleanup); shutdown awaits it."""
        task = asyncio.get_running_loop().create_task(coro)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
        return task

    async def shutdown(self, code: int = 1001, reason: bytes = b"server shutting down", drain: float = 5.0) -> None:
        """Stop taking frames, let those being handled finish (their acks are written), then close
        every socket with `code` (see the module doc)."""
        if self._sweeper is not None:
            self._sweeper.cancel()
            self._sweeper = None
        self.draining = True
        loop = asyncio.get_running_loop()
        deadline = loop.time() + drain
        while self.handling and loop.time() < deadline:
            await asyncio.sleep(0.005)
        self._flush()  # what they queued, before close() drops what is pending
        for conns in list(self.users.values()):
            for conn in list(conns):
                self.close(conn, code, reason)
        if self._tasks:
            await asyncio.wait(list(self._tasks), timeout=5)
