"""What the WebSocket benchmarks share: a server in its own process (so its CPU and memory are its
own), read from /proc, the rooms it serves (users come from bench/nodes.py), and load processes
driven over pipes.

Everything talks to 127.0.0.1 only. Processes started here are stopped by the context managers.
"""

from __future__ import annotations

import asyncio
import contextlib
import multiprocessing as mp
import os
import signal
import subprocess
import sys
import time
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable, Iterable, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass
from multiprocessing.connection import Connection as Pipe
from pathlib import Path
from typing import Any

import aiohttp
import psycopg2

from gochat.client import GochatClient

from .nodes import HOST, User, bounded, free_port

_TICK = os.sysconf("SC_CLK_TCK")


# --- /proc ---------------------------------------------------------------------------------------
def cpu_seconds(pid: int) -> float:
    """User + system CPU time a process has used so far."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / _TICK


def machine_busy() -> tuple[float, float]:
    """(busy, total) CPU seconds of the whole machine since boot, all cores."""
    values = [int(v) for v in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]]
    idle = values[3] + values[4]
    total = sum(values[:8])
    return (total - idle) / _TICK, total / _TICK


class CpuWindow:
    """CPU used by some processes and by the whole machine between start() and stop(), as shares
    of one core (the machine's as a share of all its cores)."""

    def __init__(self, pids: Callable[[], Iterable[int]]) -> None:
        self._pids = pids
        self._start: dict[int, float] = {}
        self._t0 = 0.0
        self._machine0 = (0.0, 0.0)
        self.shares: float = 0.0
        self.machine: float = 0.0

    def _sample(self) -> dict[int, float]:
        out = {}
        for pid in self._pids():
            with contextlib.suppress(OSError):
                out[pid] = cpu_seconds(pid)
        return out

    def start(self) -> None:
        self._start, self._t0, self._machine0 = self._sample(), time.perf_counter(), machine_busy()

    def stop(self) -> None:
        wall = max(time.perf_counter() - self._t0, 1e-9)
        end = self._sample()
        used = sum(end[p] - self._start.get(p, end[p]) for p in end)
        self.shares = used / wall
        busy, total = machine_busy()
        self.machine = (busy - self._machine0[0]) / max(total - self._machine0[1], 1e-9)


def backend_pids(dsn: str) -> list[int]:
    """The PostgreSQL backends connected to `dsn`'s database (not this query's own)."""
    conn = psycopg2.connect(dsn)
    try:
        cur = conn.cursor()
        cur.execute("SELECT pid FROM pg_stat_activity WHERE datname = current_database() AND pid <> pg_backend_pid()")
        return [int(r[0]) for r in cur.fetchall()]
    finally:
        conn.close()


class PostgresCpu:
    """CPU seconds used by the PostgreSQL backends serving one database (read from /proc), summed
    over every backend seen, so a pooled connection replaced between two readings still counts."""

    def __init__(self, dsn: str) -> None:
        self.dsn = dsn
        self.seen: dict[int, float] = {}

    def __call__(self) -> float:
        for pid in backend_pids(self.dsn):
            with contextlib.suppress(OSError):
                self.seen[pid] = cpu_seconds(pid)
        return sum(self.seen.values())


# --- the server process -------------------------------------------------------------------------
@dataclass(slots=True)
class ServerProcess:
    proc: asyncio.subprocess.Process
    port: int
    log_path: Path

    @property
    def pid(self) -> int:
        return self.proc.pid

    @property
    def url(self) -> str:
        return f"http://{HOST}:{self.port}"

    def log_tail(self, lines: int = 20) -> str:
        with contextlib.suppress(OSError):
            return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])
        return ""


async def _wait_ready(server: ServerProcess, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    async with aiohttp.ClientSession() as session:
        while time.monotonic() < deadline:
            if server.proc.returncode is not None:
                raise RuntimeError(f"server exited with {server.proc.returncode}:\n{server.log_tail()}")
            with contextlib.suppress(aiohttp.ClientError, OSError):
                async with session.get(server.url + "/readyz") as resp:
                    if resp.status == 200:
                        return
            await asyncio.sleep(0.2)
    raise TimeoutError(f"server not ready after {timeout:.0f} s:\n{server.log_tail()}")


@asynccontextmanager
async def server_process(
    argv: Sequence[str], env: dict[str, str], *, name: str, ready_timeout: float = 60.0
) -> AsyncIterator[ServerProcess]:
    """Run `python <argv> --host 127.0.0.1 --port <free>` until the block ends (SIGINT, then kill)."""
    port = free_port()
    log_path = Path(f"/tmp/gochat-bench-{name}-{os.getpid()}.log")
    with log_path.open("wb") as log_file:
        proc = await asyncio.create_subprocess_exec(
            sys.executable,
            *argv,
            "--host",
            HOST,
            "--port",
            str(port),
            env={**os.environ, **env},
            stdout=log_file,
            stderr=subprocess.STDOUT,
        )
    server = ServerProcess(proc, port, log_path)
    try:
        await _wait_ready(server, ready_timeout)
        yield server
    finally:
        if proc.returncode is None:
            proc.send_signal(signal.SIGINT)
            try:
                await asyncio.wait_for(proc.wait(), 30)
            except TimeoutError:
                proc.kill()
                await proc.wait()


def gochat_env(database_url: str, **extra: str) -> dict[str, str]:
    """A production-like gochat configured for load: limits off, tokens that outlive the run."""
    return {
        "DATABASE_URL": database_url,
        "JWT_SECRET": "bench-secret-" + uuid.uuid4().hex,
        "GOCHAT_RATE_LIMITS": "off",
        "GOCHAT_ACCESS_TOKEN_TTL": "7200",
        "LOG_LEVEL": "warning",
        **extra,
    }


# --- users and rooms -----------------------------------------------------------------------------
async def make_rooms(url: str, members: Sequence[Sequence[User]], *, concurrency: int = 16) -> list[str]:
    """One public room per member list, created by its first member with the rest as members."""
    async with aiohttp.ClientSession() as session:

        def create(i: int, users: Sequence[User]) -> Callable[[], Awaitable[str]]:
            async def call() -> str:
                chat = GochatClient(url, session=session)
                chat.access_token = users[0].token
                others = sorted({u.id for u in users[1:]} - {users[0].id})
                return str((await chat.create_room(f"bench-{i}", members=others))["id"])

            return call

        return await bounded(concurrency, [create(i, m) for i, m in enumerate(members)])


# --- load processes --------------------------------------------------------------------------------
class LoadProcesses:
    """Load generators in their own processes (spawned: no inherited event loop), driven over
    pipes. Each answers ("ready", x) once set up, then ("result", y) per command, or ("failed", e)."""

    def __init__(self, target: Callable[..., None], plans: Sequence[object]) -> None:
        ctx = mp.get_context("spawn")
        self.pipes: list[Pipe] = []
        self.procs: list[Any] = []
        for plan in plans:
            ours, theirs = ctx.Pipe()
            proc = ctx.Process(target=target, args=(plan, theirs), daemon=True)
            proc.start()
            self.pipes.append(ours)
            self.procs.append(proc)

    async def answers(self, timeout: float) -> list[Any]:
        async def one(pipe: Pipe) -> Any:
            if not await asyncio.to_thread(pipe.poll, timeout):
                raise TimeoutError(f"a load process did not answer within {timeout:.0f} s")
            kind, value = pipe.recv()
            if kind == "failed":
                raise RuntimeError(f"a load process failed: {value}")
            return value

        return list(await asyncio.gather(*(one(p) for p in self.pipes)))

    def send(self, command: str, args: Sequence[object]) -> None:
        for pipe, arg in zip(self.pipes, args, strict=True):
            pipe.send((command, arg))

    async def stop(self) -> None:
        for pipe in self.pipes:
            with contextlib.suppress(OSError):
                pipe.send(("stop", None))
        for proc in self.procs:
            await asyncio.to_thread(proc.join, 30)
            if proc.is_alive():
                proc.kill()


async def serve_commands(
    pipe: Pipe, setup: Callable[[], Awaitable[object]], commands: dict[str, Callable[[Any], Awaitable[object]]]
) -> int:
    """The load process's side of LoadProcesses: set up, then answer commands until "stop"."""
    loop = asyncio.get_running_loop()
    try:
        pipe.send(("ready", await setup()))
        while True:
            command, arg = await loop.run_in_executor(None, pipe.recv)
            if command == "stop":
                return 0
            pipe.send(("result", await commands[command](arg)))
    except Exception as exc:
        pipe.send(("failed", repr(exc)))
        return 1
