"""Idle authenticated WebSockets on one machine across `gochat serve --workers N`: how many, and the
memory each costs per worker.

    python -m bench.idle_connections [--connections 100000] [--workers 8] [--load-processes 8]
                                     [--users 200] [--connect-limit 300] [--settle 10]

One process may open 20,000 files here, so 100,000 connections need several server processes
(the workers share the port with SO_REUSEPORT and relay through Redis) and several load processes.
One source address has ~28,000 ephemeral ports towards one address and port, so load process i
connects from 127.0.0.(2 + i). Each connection is a real handshake (JWT checked against its login,
presence counted) without a room, on raw sockets (no client library per connection).
The load side answers the server's pings (heartbeat 25 s, as in production) and reads nothing else.

Per worker: connections = open files after - before, RSS after - before over that count. Before is
read once the workers are warm (a first batch of connections opened and closed) and settled.
Bounded: connecting stops at --connect-limit seconds, holding ends when measured (or after 600 s).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import sys
import tempfile
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from gochat.tools.run import run_async

from .common import bench_databases, format_table, load_average, machine_info, write_results
from .nodes import (
    answer_pings,
    children,
    deployment,
    in_processes,
    node_env,
    open_files,
    raise_open_files,
    raw_websocket,
    redis_server,
    rss_kib,
    signup_users,
    start_server,
    wait_ready,
)

MAX_HOLD = 600.0


@dataclass(frozen=True)
class HoldPlan:
    port: int
    source: str
    tokens: list[str]
    concurrency: int
    connect_until: float
    progress: str  # file this process writes its open count to
    release: str  # file whose existence ends the hold


async def hold_load(plan: HoldPlan) -> dict[str, Any]:
    """Open every connection (bounded concurrency and time), report progress, hold until released."""
    writers: list[asyncio.StreamWriter] = []
    keepers: list[asyncio.Task[None]] = []
    failures: dict[str, int] = {}
    gate = asyncio.Semaphore(plan.concurrency)

    async def one(token: str) -> None:
        if time.time() > plan.connect_until:
            failures["time limit"] = failures.get("time limit", 0) + 1
            return
        async with gate:
            try:
                reader, writer = await raw_websocket(plan.port, f"/ws?token={token}", local_host=plan.source)
                writers.append(writer)
                keepers.append(asyncio.ensure_future(answer_pings(reader, writer)))
            except (OSError, ConnectionError, asyncio.IncompleteReadError) as exc:
                key = type(exc).__name__ + ": " + str(exc)[:60]
                failures[key] = failures.get(key, 0) + 1

    async def report() -> None:
        while True:
            _write(plan.progress, len(writers))
            await asyncio.sleep(0.5)

    reporter = asyncio.ensure_future(report())
    started = time.time()
    await asyncio.gather(*(one(t) for t in plan.tokens))
    connect_seconds = time.time() - started
    reporter.cancel()
    _write(plan.progress, len(writers), done=True)
    deadline = time.time() + MAX_HOLD
    while not _read(plan.release)[0] and time.time() < deadline:
        await asyncio.sleep(0.5)
    still_open = sum(not k.done() for k in keepers)
    for writer in writers:
        writer.close()
    for keeper in keepers:
        keeper.cancel()
    return {"still_open": still_open, "opened": len(writers), "failures": failures, "connect_seconds": connect_seconds}


def _write(path: str, count: int, *, done: bool = False) -> None:
    """Progress as `<open count> [done]`, replaced atomically (the parent polls it)."""
    tmp = Path(path + ".tmp")
    tmp.write_text(f"{count} done" if done else str(count))
    tmp.replace(path)


def _read(path: str) -> tuple[int, bool]:
    with contextlib.suppress(OSError, ValueError):
        count, _, done = Path(path).read_text().partition(" ")
        return int(count or 0), done == "done"
    return 0, False


async def warm_up(port: int, tokens: Sequence[str]) -> None:
    opened = [(await raw_websocket(port, f"/ws?token={t}"))[1] for t in tokens]
    for writer in opened:
        writer.close()


def snapshot(pids: Sequence[int]) -> dict[int, tuple[int, int]]:
    """pid -> (RSS KiB, open files)."""
    return {pid: (rss_kib(pid), open_files(pid)) for pid in pids}


async def run(args: argparse.Namespace) -> dict[str, Any]:
    raise_open_files()
    with redis_server() as redis_url:
        async with bench_databases() as dbs:
            prefix, secret = deployment()
            env = node_env(
                dbs.new(),
                redis_url,
                prefix,
                secret,
                GOCHAT_WS_MAX_CONNECTIONS_PER_USER="10000",
                GOCHAT_DB_POOL_MIN="1",
                GOCHAT_DB_POOL_MAX="4",
            )
            server = start_server(env, "--workers", str(args.workers), name="idle")
            try:
                await wait_ready([server])
                while len(workers := children(server.proc.pid)) < args.workers:
                    await asyncio.sleep(0.2)
                users = await signup_users(server.url, args.users)
                await warm_up(server.port, [u.token for u in users] * 2)
                await asyncio.sleep(args.settle)
                before = snapshot(workers)
                result = await hold(args, server.port, [u.token for u in users], workers, before)
                result["machine"] = machine_info(dbs.server)
                return result
            finally:
                server.stop()


async def hold(
    args: argparse.Namespace, port: int, tokens: list[str], workers: list[int], before: dict[int, tuple[int, int]]
) -> dict[str, Any]:
    with tempfile.TemporaryDirectory(prefix="gochat-idle-") as tmp:
        per = args.connections // args.load_processes
        connect_until = time.time() + args.connect_limit
        release = f"{tmp}/release"
        plans = [
            HoldPlan(
                port,
                f"127.0.0.{2 + i}",  # one source address per load process: ~28k ports each
                [tokens[(i * per + k) % len(tokens)] for k in range(per)],
                64,
                connect_until,
                f"{tmp}/progress-{i}",
                release,
            )
            for i in range(args.load_processes)
        ]
        started = time.time()
        loads = asyncio.ensure_future(in_processes(hold_load, plans))

        while not loads.done() and time.time() < connect_until + 5:
            progress = [_read(plan.progress) for plan in plans]
            count = sum(n for n, _ in progress)
            if all(done for _, done in progress):
                break
            await asyncio.sleep(1)
            print(f"\r{count:,} open", end="", flush=True, file=sys.stderr)
        connect_seconds = time.time() - started
        await asyncio.sleep(args.settle)
        after = snapshot(workers)
        _write(release, 1)
        results = await loads
    rows = []
    for pid in workers:
        conns = after[pid][1] - before[pid][1]
        grown = after[pid][0] - before[pid][0]
        rows.append(
            {
                "pid": pid,
                "connections": conns,
                "rss_before_mib": before[pid][0] / 1024,
                "rss_after_mib": after[pid][0] / 1024,
                "kib_per_connection": grown / conns if conns else 0.0,
            }
        )
    total_conns = sum(r["connections"] for r in rows)
    total_grown = sum(after[p][0] - before[p][0] for p in workers)
    failures: dict[str, int] = {}
    for r in results:
        for k, v in r["failures"].items():
            failures[k] = failures.get(k, 0) + v
    return {
        "args": vars(args),
        "opened_by_clients": sum(r["opened"] for r in results),
        "open_at_release": sum(r["still_open"] for r in results),
        "server_connections": total_conns,
        "connect_seconds": connect_seconds,
        "failures": failures,
        "workers": rows,
        "rss_total_after_mib": sum(after[p][0] for p in workers) / 1024,
        "kib_per_connection": total_grown / total_conns if total_conns else 0.0,
        "max_per_worker": max(r["connections"] for r in rows),
    }


async def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.idle_connections", description=__doc__.split("\n\n")[0])
    parser.add_argument("--connections", type=int, default=100_000)
    parser.add_argument("--workers", type=int, default=8)
    parser.add_argument("--load-processes", type=int, default=8)
    parser.add_argument("--users", type=int, default=200)
    parser.add_argument("--connect-limit", type=float, default=300.0, help="seconds allowed for connecting")
    parser.add_argument("--settle", type=float, default=10.0, help="seconds to wait before reading RSS")
    args = parser.parse_args(argv)
    load_before = load_average()
    res = await run(args)
    res["load_1m_before"], res["load_1m_after"] = load_before, load_average()
    print()
    columns = ["worker pid", "connections", "RSS before MiB", "RSS after MiB", "KiB / connection"]
    print(format_table(columns, [list(r.values()) for r in res["workers"]]))
    print(
        f"total: {res['server_connections']:,} connections on {args.workers} workers "
        f"(clients opened {res['opened_by_clients']:,} in {res['connect_seconds']:.0f} s), "
        f"{res['rss_total_after_mib']:,.0f} MiB RSS, {res['kib_per_connection']:.1f} KiB per connection; "
        f"busiest worker {res['max_per_worker']:,}; failures {res['failures'] or 'none'}"
    )
    print(f"load average before/after: {load_before:.2f} / {res['load_1m_after']:.2f}")
    print(f"results: {write_results('idle_connections', res)}")
    return 0


if __name__ == "__main__":
    sys.exit(run_async(main()))
