"""What the concurrency and fault tests share: clients that record every frame each of their sockets
received, writers that record every acknowledged message, and one checker comparing both with the
log (the `events` table, read directly: the truth the README's promises are about).

The promise checked: each reader received every message of its room committed after it started,
once, in id order, over however many sockets it used; nothing acknowledged is missing from the log.
"""

from __future__ import annotations

import asyncio
import contextlib
import random
import time
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import aiohttp
import psycopg2

from gochat.client import GochatClient


def logged_messages(database_url: str, room: str) -> list[int]:
    """The ids of the room's messages in the log, in id order."""
    conn = psycopg2.connect(database_url)
    try:
        with conn.cursor() as cur:
            cur.execute("SELECT id FROM events WHERE stream_id = %s AND type = 'message.posted' ORDER BY id", (room,))
            return [int(r[0]) for r in cur.fetchall()]
    finally:
        conn.close()


def first_repeat(ids: Sequence[int]) -> str | None:
    """Where a list of ids stops being strictly increasing, for the failure message."""
    for i in range(1, len(ids)):
        if ids[i] <= ids[i - 1]:
            return f"...{list(ids[max(0, i - 4) : i + 4])}... at position {i}"
    return None


@dataclass
class Reader:
    """One user reading one room over a succession of sockets, each resumed with `since` = the last
    event id of the room it received (as a client does after a drop)."""

    token: str
    room: str
    since: int = 0
    sockets: list[list[int]] = field(default_factory=list)  # message ids, per socket
    started_after: int = 0
    errors: list[dict[str, Any]] = field(default_factory=list)

    def __post_init__(self) -> None:
        self.started_after = self.since

    @property
    def received(self) -> list[int]:
        return [i for ids in self.sockets for i in ids]

    async def read_once(
        self,
        http: aiohttp.ClientSession,
        url: str,
        *,
        seconds: float | None = None,
        until_id: int | None = None,
        timeout: float = 30.0,
    ) -> None:
        """One socket: resume, read for `seconds` (then hang up mid-stream), or until a message with
        id >= `until_id` arrived."""
        ids: list[int] = []
        self.sockets.append(ids)
        params = {"token": self.token, "room_id": self.room, "since": str(self.since)}
        loop = asyncio.get_running_loop()
        deadline = loop.time() + (seconds if seconds is not None else timeout)
        async with http.ws_connect(url.replace("http", "ws", 1) + "/ws", params=params, max_msg_size=0) as ws:
            while (left := deadline - loop.time()) > 0:
                try:
                    msg = await ws.receive(timeout=left)
                except TimeoutError:
                    break
                if msg.type != aiohttp.WSMsgType.TEXT:
                    break  # the server hung up (a killed node): the next socket resumes
                frame = msg.json()
                kind = frame.get("type")
                if kind == "error" or kind == "resync_required":
                    self.errors.append(frame)
                if frame.get("room_id") != self.room or not isinstance(frame.get("id"), int):
                    continue
                if kind in ("ack", "subscribed"):
                    continue
                self.since = max(self.since, frame["id"])
                if kind == "message":
                    ids.append(frame["id"])
                    if until_id is not None and frame["id"] >= until_id:
                        return
        if until_id is not None and seconds is None:
            raise AssertionError(f"message {until_id} did not arrive within {timeout} s (last {self.since})")

    async def hop(self, http: aiohttp.ClientSession, urls: Sequence[str], stop: Callable[[], bool]) -> None:
        """Reconnect every 0.1-0.5 s, to each node in turn, until `stop()`."""
        n = random.randrange(len(urls))
        while not stop():
            n += 1
            with contextlib.suppress(aiohttp.ClientError, OSError):
                await self.read_once(http, urls[n % len(urls)], seconds=random.uniform(0.1, 0.5))

    def check(self, log: Sequence[int]) -> None:
        """What this reader received over all its sockets is the log after its start, once, in order."""
        expected = [i for i in log if i > self.started_after]
        got = self.received
        for n, ids in enumerate(self.sockets):
            where = first_repeat(ids)
            assert where is None, f"socket {n} of {len(self.sockets)} received an id again or out of order: {where}"
        where = first_repeat(got)
        assert where is None, f"an id came again on a later socket: {where}"
        assert not self.errors, self.errors[:3]
        missing, extra = sorted(set(expected) - set(got)), sorted(set(got) - set(expected))
        assert got == expected, f"missing {missing[:10]} ({len(missing)}), extra {extra[:10]}"


@dataclass
class Writers:
    """Writers posting as fast as their answers come back, over HTTP and over WebSocket; every
    acknowledged message id is kept."""

    room: str
    acked: list[int] = field(default_factory=list)
    failures: list[str] = field(default_factory=list)

    async def over_http(self, chat: GochatClient, stop: Callable[[], bool]) -> None:
        n = 0
        while not stop():
            n += 1
            body = await chat.post(self.room, f"h{n}", client_msg_id=uuid.uuid4().hex)
            self.acked.append(body["id"])

    async def over_ws(self, chat: GochatClient, stop: Callable[[], bool]) -> None:
        async with chat.live(self.room, resume=False) as live:
            n = 0
            while not stop():
                n += 1
                ack = await live.send_message(self.room, f"w{n}")
                if ack["type"] != "ack":
                    self.failures.append(repr(ack))
                    continue
                self.acked.append(ack["id"])


def stopper(seconds: float) -> Callable[[], bool]:
    deadline = time.monotonic() + seconds
    return lambda: time.monotonic() > deadline
