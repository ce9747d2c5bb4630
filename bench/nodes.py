"""What the cluster benchmarks share: a Redis, gochat nodes as real processes, accounts, load
processes, and /proc readings. Every address is on the loopback interface.

Redis is found as the tests find it: BENCH_REDIS_URL or REDIS_URL, else 127.0.0.1:6379 when it
answers, else a `redis-server` started for the run. Each run uses its own key prefix.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import multiprocessing as mp
import os
import resource
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import time
import uuid
from collections.abc import Awaitable, Callable, Coroutine, Iterator, Sequence
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

import aiohttp

from gochat.client import GochatClient

HOST = "127.0.0.1"
PASSWORD = "correct horse battery staple"
T = TypeVar("T")


# --- Redis --------------------------------------------------------------------------------------------
def _redis_answers(url: str) -> bool:
    host, _, port = url.split("//", 1)[1].split("/", 1)[0].partition(":")
    with contextlib.suppress(OSError), socket.create_connection((host, int(port or 6379)), timeout=1) as s:
        s.sendall(b"PING\r\n")
        return s.recv(16).startswith(b"+PONG")
    return False


@contextlib.contextmanager
def redis_server() -> Iterator[str]:
    for var in ("BENCH_REDIS_URL", "REDIS_URL"):
        if os.environ.get(var):
            yield os.environ[var]
            return
    if _redis_answers("redis://127.0.0.1:6379/0"):
        yield "redis://127.0.0.1:6379/0"
        return
    exe = shutil.which("redis-server")
    if exe is None:
        raise RuntimeError("no Redis: set BENCH_REDIS_URL or install redis-server")
    port = free_port()
    proc = subprocess.Popen([exe, "--port", str(port), "--bind", HOST, "--save", ""], stdout=subprocess.DEVNULL)
    url = f"redis://{HOST}:{port}/0"
    try:
        while not _redis_answers(url):
            time.sleep(0.05)
        yield url
    finally:
        proc.terminate()
        proc.wait(10)


# --- processes --------------------------------------------------------------------------------------------
def free_port() -> int:
    with socket.socket() as s:
        s.bind((HOST, 0))
        return int(s.getsockname()[1])


def raise_open_files() -> int:
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft < hard:
        resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    return hard


def rss_kib(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    return 0


def open_files(pid: int) -> int:
    return len(os.listdir(f"/proc/{pid}/fd"))


def children(pid: int) -> list[int]:
    with contextlib.suppress(OSError):
        return sorted(int(p) for p in Path(f"/proc/{pid}/task/{pid}/children").read_text().split())
    return []


def node_env(database_url: str, redis_url: str, prefix: str, secret: str, **extra: str) -> dict[str, str]:
    """A production-like node configured for load: limits off, tokens that outlive the run. Nodes of
    one deployment share `prefix` and `secret` (a token from one is good on every other)."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("GOCHAT_", "DATABASE_URL", "REDIS_URL"))}
    env.update(
        DATABASE_URL=database_url,
        REDIS_URL=redis_url,
        GOCHAT_REDIS_PREFIX=prefix,
        JWT_SECRET=secret,
        GOCHAT_RATE_LIMITS="off",
        GOCHAT_ACCESS_TOKEN_TTL="7200",
        GOCHAT_DB_POOL_MAX="8",
        LOG_LEVEL="warning",
    )
    env.update(extra)
    return env


def deployment() -> tuple[str, str]:
    """A Redis prefix and a JWT secret of this run's own."""
    return f"gochat-bench:{secrets.token_hex(4)}:", "bench-secret-" + secrets.token_hex(24)


@dataclass
class Server:
    """`gochat serve` (one node, or a --workers supervisor) until `stop()`."""

    proc: subprocess.Popen[bytes]
    port: int
    log: Path

    @property
    def url(self) -> str:
        return f"http://{HOST}:{self.port}"

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(60)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(10)


def start_server(env: dict[str, str], *args: str, name: str) -> Server:
    port = free_port()
    log = Path(f"/tmp/gochat-bench-{name}-{os.getpid()}.log")
    with log.open("wb") as out:
        proc = subprocess.Popen(
            [sys.executable, "-m", "gochat", "serve", "--host", HOST, "--port", str(port), *args],
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
        )
    return Server(proc, port, log)


async def wait_ready(servers: Sequence[Server], timeout: float = 90.0) -> None:
    deadline = time.monotonic() + timeout
    async with aiohttp.ClientSession() as http:
        for server in servers:
            while True:
                if server.proc.poll() is not None:
                    raise RuntimeError(f"server exited:\n{server.log.read_text()[-3000:]}")
                with contextlib.suppress(aiohttp.ClientError, OSError):
                    async with http.get(server.url + "/readyz") as resp:
                        if resp.status == 200:
                            break
                if time.monotonic() > deadline:
                    raise TimeoutError(f"server not ready:\n{server.log.read_text()[-3000:]}")
                await asyncio.sleep(0.2)


# --- accounts -------------------------------------------------------------------------------------------
@dataclass(frozen=True, slots=True)
class User:
    id: str
    token: str


async def bounded(limit: int, calls: Sequence[Callable[[], Awaitable[T]]]) -> list[T]:
    gate = asyncio.Semaphore(limit)

    async def one(call: Callable[[], Awaitable[T]]) -> T:
        async with gate:
            return await call()

    return list(await asyncio.gather(*(one(c) for c in calls)))


async def signup_users(url: str, count: int, *, concurrency: int = 8) -> list[User]:
    prefix = uuid.uuid4().hex[:6]
    async with aiohttp.ClientSession() as http:

        def call(i: int) -> Callable[[], Awaitable[User]]:
            async def signup() -> User:
                body = await GochatClient(url, session=http).signup(f"c{prefix}{i}", PASSWORD)
                return User(body["user"]["id"], body["access_token"])

            return signup

        return await bounded(concurrency, [call(i) for i in range(count)])


async def create_room(url: str, owner: User, members: Sequence[User], name: str) -> str:
    """A private room of `owner` and `members`: named members are invited (step 9), so each one
    accepts before the room is handed back."""
    async with aiohttp.ClientSession() as session:
        chat = GochatClient(url, session=session)
        chat.access_token = owner.token
        others = sorted({m.id for m in members} - {owner.id})
        room = str((await chat.create_room(name, "private", members=others))["id"])

        async def accept(member: User) -> None:
            guest = GochatClient(url, session=session)
            guest.access_token = member.token
            await guest.accept(room)

        invited = {m.id: m for m in members if m.id != owner.id}
        await bounded(16, [functools.partial(accept, m) for m in invited.values()])
        return room


# --- load processes ------------------------------------------------------------------------------------
def _run(target: Callable[[Any], Coroutine[Any, Any, T]], arg: Any) -> T:
    raise_open_files()
    try:
        return asyncio.run(target(arg))
    except Exception as exc:  # aiohttp's errors do not pickle: send their text home
        raise RuntimeError(f"load process failed: {exc!r}") from None


async def in_processes(target: Callable[[Any], Coroutine[Any, Any, T]], args: Sequence[Any]) -> list[T]:
    """`target(arg)` in a fresh (spawned) process per arg, all at once; their results in order.
    `target` must be a module-level coroutine function (it is pickled by name)."""
    with ProcessPoolExecutor(len(args), mp_context=mp.get_context("spawn")) as pool:
        loop = asyncio.get_running_loop()
        return list(await asyncio.gather(*(loop.run_in_executor(pool, _run, target, a) for a in args)))


# --- a WebSocket client that costs next to nothing ------------------------------------------------------
async def raw_websocket(
    port: int, path: str, *, local_host: str | None = None
) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
    """Open a WebSocket by hand (no per-frame parsing afterwards): the load side of a benchmark stays
    cheap, so the server is what is measured. `local_host` picks the source address (127.0.0.x)."""
    local = (local_host, 0) if local_host else None
    reader, writer = await asyncio.open_connection(HOST, port, local_addr=local, limit=1 << 20)
    key = "dGhlIHNhbXBsZSBub25jZQ=="
    writer.write(
        f"GET {path} HTTP/1.1\r\nHost: {HOST}:{port}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
        f"Sec-WebSocket-Key: {key}\r\nSec-WebSocket-Version: 13\r\n\r\n".encode()
    )
    head = await reader.readuntil(b"\r\n\r\n")
    if b" 101 " not in head.split(b"\r\n", 1)[0]:
        writer.close()
        raise ConnectionError(head.split(b"\r\n", 1)[0].decode(errors="replace"))
    return reader, writer


class FrameCounter:
    """Counts occurrences of `marker` in a byte stream read in chunks (a marker split between two
    chunks is counted once: the carried tail is shorter than the marker)."""

    def __init__(self, marker: bytes) -> None:
        self.marker = marker
        self.count = 0
        self._tail = b""

    def feed(self, data: bytes) -> int:
        buf = self._tail + data
        found = buf.count(self.marker)
        self.count += found
        self._tail = buf[-(len(self.marker) - 1) :]
        return found


async def answer_pings(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    """Keep a raw WebSocket alive: read frames, answer each ping with a (masked) pong, until close."""
    while True:
        head = await reader.readexactly(2)
        opcode, size = head[0] & 0x0F, head[1] & 0x7F
        if size == 126:
            size = int.from_bytes(await reader.readexactly(2), "big")
        elif size == 127:
            size = int.from_bytes(await reader.readexactly(8), "big")
        payload = await reader.readexactly(size)
        if opcode == 0x8:
            return
        if opcode == 0x9 and size < 126:
            mask = os.urandom(4)
            writer.write(bytes([0x8A, 0x80 | size]) + mask + bytes(b ^ mask[i % 4] for i, b in enumerate(payload)))
