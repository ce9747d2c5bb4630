"""Memory per idle WebSocket: the server's RSS before and after N authenticated connections that
each subscribed to a room and then stay quiet, against a bare aiohttp server measured the same way.

    python -m bench.ws_idle [--connections 10000] [--users 100] [--rooms 10] [--workers 4]
                            [--servers gochat,bare]

Each server runs in its own process (`gochat serve` on a throwaway database, or bench/ws_bare.py);
load processes open the connections from 127.0.0.2, .3, ... (one source address each, so ephemeral
ports never run short) and read whatever arrives (pings, presence), as a client would. RSS is
VmRSS from /proc, read once the server is warm (a first batch opened and closed) and again after
every connection is open and has been held past one heartbeat; the difference over N is the cost of
one connection. The open-files cap per process is 20,000 here: 10,000 sockets fit in one server.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import sys
import time
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import aiohttp

from gochat.tools.run import run_async

from .common import bench_databases, format_row, format_table, load_average, machine_info, write_results
from .gateway import CpuWindow, LoadProcesses, gochat_env, make_rooms, serve_commands, server_process
from .nodes import HOST, User, raise_open_files, rss_kib, signup_users

TARGET_KIB = 20.0
ATTEMPTS = 3  # per connection: on a busy machine a SYN can wait out the accept backlog


@dataclass(slots=True)
class Plan:
    url: str
    source: str  # local address to connect from
    queries: list[dict[str, str]]


class Holder:
    """Opens its share of connections and keeps them open, reading, until told to stop."""

    def __init__(self, plan: Plan) -> None:
        self.plan = plan
        self.session: aiohttp.ClientSession | None = None
        self.sockets: list[aiohttp.ClientWebSocketResponse] = []
        self.readers: list[asyncio.Task[None]] = []

    async def ready(self) -> int:
        return 0

    async def open(self, count: int) -> int:
        """Open the first `count` connections of the plan (all when count < 0)."""
        if self.session is None:
            connector = aiohttp.TCPConnector(limit=0, local_addr=(self.plan.source, 0))
            self.session = aiohttp.ClientSession(connector=connector)
        session, url, gate = self.session, self.plan.url.replace("http", "ws", 1) + "/ws", asyncio.Semaphore(32)
        queries = self.plan.queries if count < 0 else self.plan.queries[:count]

        async def one(query: dict[str, str]) -> None:
            for attempt in range(ATTEMPTS):
                try:
                    async with gate:
                        ws = await session.ws_connect(url, params=query, autoping=True)
                    break
                except (aiohttp.ClientError, OSError, TimeoutError):
                    if attempt == ATTEMPTS - 1:
                        raise
                    await asyncio.sleep(1 + attempt)
            self.sockets.append(ws)
            self.readers.append(asyncio.create_task(self._read(ws)))

        await asyncio.gather(*(one(q) for q in queries))
        return len(self.sockets)

    @staticmethod
    async def _read(ws: aiohttp.ClientWebSocketResponse) -> None:
        async for _ in ws:
            pass

    async def close_all(self, _: object = None) -> int:
        sockets, self.sockets = self.sockets, []
        await asyncio.gather(*(ws.close() for ws in sockets))
        readers, self.readers = self.readers, []
        for task in readers:
            task.cancel()
        await asyncio.gather(*readers, return_exceptions=True)
        return len(sockets)

    async def stop(self) -> None:
        await self.close_all()
        if self.session is not None:
            await self.session.close()


async def _serve_plan(plan: Plan, pipe: Any) -> int:
    holder = Holder(plan)
    try:
        return await serve_commands(pipe, holder.ready, {"open": holder.open, "close": holder.close_all})
    finally:
        await holder.stop()


def _worker(plan: Plan, pipe: Any) -> None:
    raise_open_files()
    sys.exit(run_async(_serve_plan(plan, pipe)))


def _open_fds(pid: int) -> int:
    return len(os.listdir(f"/proc/{pid}/fd"))


@dataclass(slots=True)
class Outcome:
    server: str
    connections: int
    rss_before: int  # KiB
    rss_after: int
    rss_closed: int
    open_seconds: float
    open_cpu: float  # server CPU while opening, share of one core
    fds: int  # the server's open descriptors added
    load: float

    @property
    def per_connection(self) -> float:
        return (self.rss_after - self.rss_before) / max(self.connections, 1)

    def row(self) -> list[Any]:
        return [
            self.server,
            self.connections,
            self.fds,
            self.rss_before / 1024,
            self.rss_after / 1024,
            self.per_connection,
            self.rss_closed / 1024,
            self.connections / self.open_seconds,
            self.open_cpu * 100,
            self.load,
        ]

    def as_dict(self) -> dict[str, Any]:
        return {
            "server": self.server,
            "connections": self.connections,
            "server_fds_added": self.fds,
            "rss_before_kib": self.rss_before,
            "rss_after_kib": self.rss_after,
            "kib_per_connection": round(self.per_connection, 2),
            "rss_after_close_kib": self.rss_closed,
            "open_seconds": round(self.open_seconds, 2),
            "open_server_cpu": round(self.open_cpu, 3),
            "load_1m": round(self.load, 2),
        }


COLUMNS = [
    "server", "connections", "server fds +", "RSS before MiB", "RSS after MiB", "KiB/conn", "RSS closed MiB",
    "opened/s", "server CPU % opening", "load 1m",
]  # fmt: skip


async def measure(name: str, pid: int, plans: Sequence[Plan], args: argparse.Namespace) -> Outcome:
    settle, warm = args.settle, args.warm
    load = LoadProcesses(_worker, plans)
    try:
        await load.answers(60)
        # Warm the server: the first connections allocate lazily built state (code paths, pools).
        load.send("open", [warm // len(plans)] * len(plans))
        await load.answers(120)
        load.send("close", [None] * len(plans))
        await load.answers(60)
        await asyncio.sleep(settle)
        before, fds = rss_kib(pid), _open_fds(pid)
        cpu = CpuWindow(lambda: [pid])
        cpu.start()
        t0 = time.perf_counter()
        load.send("open", [-1] * len(plans))
        opened = sum(await load.answers(600))
        seconds = time.perf_counter() - t0
        cpu.stop()
        await asyncio.sleep(args.hold)
        after, fds = rss_kib(pid), _open_fds(pid) - fds
        load.send("close", [None] * len(plans))
        await load.answers(120)
        await asyncio.sleep(settle)
        closed = rss_kib(pid)
    finally:
        await load.stop()
    outcome = Outcome(name, opened, before, after, closed, seconds, cpu.shares, fds, load_average())
    print(", ".join(f"{c} {v}" for c, v in zip(COLUMNS, format_row(outcome.row()), strict=True)), flush=True)
    return outcome


def split(url: str, queries: list[dict[str, str]], workers: int) -> list[Plan]:
    return [Plan(url, f"127.0.0.{2 + w}", queries[w::workers]) for w in range(workers)]


async def gochat_run(args: argparse.Namespace) -> tuple[Outcome, dict[str, Any], list[dict[str, str]]]:
    async with bench_databases() as dbs:
        machine = machine_info(dbs.server)
        dsn = await asyncio.to_thread(dbs.new)
        per_user = -(-args.connections // args.users)
        env = gochat_env(dsn, GOCHAT_WS_MAX_CONNECTIONS_PER_USER=str(per_user + 10))
        async with server_process(["-m", "gochat", "serve"], env, name="idle") as server:
            users = await signup_users(server.url, args.users)
            rooms = await make_rooms(server.url, [_rotate(users, r) for r in range(args.rooms)])
            queries = [
                {"token": users[u].token, "room_id": rooms[(u + k) % len(rooms)]}
                for k in range(per_user)
                for u in range(len(users))
            ][: args.connections]
            plans = split(server.url, queries, args.workers)
            outcome = await measure("gochat", server.pid, plans, args)
    return outcome, machine, queries


def _rotate(users: Sequence[User], r: int) -> list[User]:
    """Every user, starting from a different owner per room."""
    k = r % len(users)
    return [*users[k:], *users[:k]]


async def bare_run(args: argparse.Namespace, queries: list[dict[str, str]]) -> Outcome:
    """The same request lines as gochat's (aiohttp keeps the parsed request while the socket lives)."""
    if not queries:
        fake = {"token": "t" * 280, "room_id": str(uuid.uuid4())}
        queries = [fake] * args.connections
    async with server_process(["-m", "bench.ws_bare"], {}, name="bare") as server:
        plans = split(server.url, queries, args.workers)
        return await measure("bare aiohttp", server.pid, plans, args)


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(prog="python -m bench.ws_idle", description=__doc__.split("\n\n")[0])
    p.add_argument("--connections", type=int, default=10_000, help="idle connections per server (10000)")
    p.add_argument("--users", type=int, default=100, help="users owning them (100)")
    p.add_argument("--rooms", type=int, default=10, help="rooms every user is in; connections spread over them (10)")
    p.add_argument("--workers", type=int, default=4, help="load processes, one source address each (4)")
    p.add_argument("--servers", default="gochat,bare", help="which servers to measure (gochat,bare)")
    p.add_argument("--warm", type=int, default=400, help="connections opened and closed before the baseline (400)")
    p.add_argument("--settle", type=float, default=3.0, help="seconds to wait before the other RSS readings (3)")
    p.add_argument(
        "--hold",
        type=float,
        default=30.0,
        help="seconds all connections are held before the RSS reading (30: past the 25 s heartbeat, so both"
        " servers have pinged every socket)",
    )
    p.add_argument("--no-save", action="store_true", help="do not write bench/results/ws_idle.json")
    return p.parse_args(argv)


async def run(args: argparse.Namespace) -> int:
    servers = [s.strip() for s in args.servers.split(",") if s.strip()]
    print(f"servers on {HOST}; open files per process: {raise_open_files():,}", flush=True)
    if load_average() > 0.5:
        print(f"note: load average {load_average():.2f} before the run: other work shares the CPUs", flush=True)
    outcomes: list[Outcome] = []
    machine: dict[str, Any] = {}
    queries: list[dict[str, str]] = []
    if "gochat" in servers:
        outcome, machine, queries = await gochat_run(args)
        outcomes.append(outcome)
    if "bare" in servers:
        outcomes.append(await bare_run(args, queries))
    print()
    print(format_table(COLUMNS, [o.row() for o in outcomes]))
    for o in outcomes:
        if o.server == "gochat":
            ok = "met" if o.per_connection <= TARGET_KIB else "MISSED"
            print(f"target <= {TARGET_KIB:.0f} KiB per idle connection: {ok} ({o.per_connection:.1f} KiB)")
    if not args.no_save:
        payload = {
            "machine": machine,
            "args": {k: v for k, v in vars(args).items() if k != "no_save"},
            "results": [o.as_dict() for o in outcomes],
        }
        print(f"wrote {write_results('ws_idle', payload)}")
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    return run_async(run(parse_args(argv)))


if __name__ == "__main__":
    sys.exit(main())
