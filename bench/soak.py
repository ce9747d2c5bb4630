"""Soak: many WebSocket connections with churn for a long time, a fault every few minutes, and the
nodes' memory, file descriptors and database connections sampled throughout (they must stay flat).

Not part of CI. Run it by hand on a quiet machine:

    python -m bench.soak                                   # 5,000 connections, 30 min, a fault every 5
    python -m bench.soak --connections 200 --minutes 2 --fault-every 0.5   # a short smoke run

Two nodes (real `gochat serve` processes) share a throwaway database and a redis-server of the
run's own (it is stopped on purpose). Connections are spread over both nodes and over rooms; a few
of them post; every second `--churn` connections hang up and resume with `since` on either node.
Faults take turns: a node killed with SIGKILL and started again, Redis stopped for 5 s, every
database connection of the nodes terminated (pg_terminate_backend). At the end, every resumed
reader's messages are checked against the log (received once, in id order: tests/faults.py's rule).
Results: a table on stdout and bench/results/soak.json.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import itertools
import random
import shutil
import signal
import subprocess
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import aiohttp
import psycopg2

from bench.common import bench_databases, format_table, load_average, write_results
from bench.nodes import (
    HOST,
    Server,
    User,
    create_room,
    deployment,
    free_port,
    node_env,
    open_files,
    raise_open_files,
    rss_kib,
    signup_users,
    start_server,
    wait_ready,
)


class OwnRedis:
    def __init__(self) -> None:
        exe = shutil.which("redis-server")
        if exe is None:
            raise RuntimeError("the soak stops Redis on purpose: it needs redis-server installed")
        self.exe, self.port = exe, free_port()
        self.url = f"redis://{HOST}:{self.port}/0"
        self.proc: subprocess.Popen[bytes] | None = None
        self.start()

    def start(self) -> None:
        self.proc = subprocess.Popen(
            [self.exe, "--port", str(self.port), "--bind", HOST, "--save", "", "--appendonly", "no"],
            stdout=subprocess.DEVNULL,
        )
        time.sleep(0.3)

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(10)


@dataclass
class Reader:
    """One connection: resumes with the last id it saw in its room, so its whole history can be
    checked against the log at the end."""

    user: User
    room: str
    since: int = 0
    received: list[int] = field(default_factory=list)
    task: asyncio.Task[None] | None = None


@dataclass
class Soak:
    nodes: list[Server]
    env: list[dict[str, str]]
    database_url: str
    redis: OwnRedis
    http: aiohttp.ClientSession
    readers: list[Reader] = field(default_factory=list)
    errors: dict[str, int] = field(default_factory=dict)
    faults: list[tuple[float, str]] = field(default_factory=list)
    started: float = field(default_factory=time.monotonic)
    connected: int = 0

    def count(self, what: str) -> None:
        self.errors[what] = self.errors.get(what, 0) + 1

    async def read(self, reader: Reader) -> None:
        """Hold a connection, resuming on another node whenever it ends (churn, a killed node). Like
        a real client it backs off (jittered, doubling to 5 s) while connecting fails, and counts
        every failure by its cause."""
        backoff = 0.25
        while True:
            url = random.choice(self.nodes).url
            params = {"token": reader.user.token, "room_id": reader.room, "since": str(reader.since)}
            opened = None
            try:
                async with self.http.ws_connect(
                    url.replace("http", "ws", 1) + "/ws", params=params, heartbeat=30
                ) as ws:
                    opened = time.monotonic()
                    self.connected += 1
                    try:
                        async for msg in ws:
                            if msg.type != aiohttp.WSMsgType.TEXT:
                                break
                            frame = msg.json()
                            mine = frame.get("room_id") == reader.room and isinstance(frame.get("id"), int)
                            if mine and frame["type"] not in ("ack", "subscribed"):
                                reader.since = max(reader.since, frame["id"])
                                if frame["type"] == "message":
                                    reader.received.append(frame["id"])
                            elif frame["type"] == "error":
                                self.count(f"frame_error_{frame.get('code')}")
                    finally:
                        self.connected -= 1
                    self.count(f"closed_{ws.close_code}")
            except aiohttp.WSServerHandshakeError as exc:
                self.count(f"connect_{exc.status}")
            except (aiohttp.ClientError, OSError, TimeoutError) as exc:
                self.count(f"{'dropped' if opened else 'connect'}_{type(exc).__name__}")
            if opened is not None and time.monotonic() - opened > 5:
                backoff = 0.25
                continue
            await asyncio.sleep(backoff * random.uniform(0.5, 1.5))
            backoff = min(backoff * 2, 5.0)

    async def catch_up(self, logs: dict[str, list[int]], timeout: float) -> float | None:
        """Seconds until every reader has seen its room's last message, or None at the timeout."""
        start = time.monotonic()
        while time.monotonic() - start < timeout:
            if all(not logs[r.room] or r.since >= logs[r.room][-1] for r in self.readers):
                return round(time.monotonic() - start, 2)
            await asyncio.sleep(0.2)
        return None

    def churn(self, count: int) -> None:
        for reader in random.sample(self.readers, min(count, len(self.readers))):
            if reader.task is not None:
                reader.task.cancel()
            reader.task = asyncio.ensure_future(self.read(reader))

    async def post(self, user: User, room: str, stop: float) -> None:
        n = 0
        while time.monotonic() < stop:
            n += 1
            url = random.choice(self.nodes).url
            with contextlib.suppress(aiohttp.ClientError, OSError, TimeoutError):
                async with self.http.post(
                    f"{url}/rooms/{room}/messages",
                    json={"content": f"soak {n}", "client_msg_id": f"{user.id[:8]}-{n}"},
                    headers={"Authorization": f"Bearer {user.token}"},
                ) as resp:
                    if resp.status >= 400:
                        body = await resp.json(content_type=None)
                        code = body.get("error", {}).get("code") if isinstance(body, dict) else None
                        self.count(f"post_{resp.status}_{code}")
            await asyncio.sleep(1.0)

    async def fault(self, n: int) -> str:
        kind = ("kill_node", "stop_redis", "terminate_db_connections")[n % 3]
        self.faults.append((time.monotonic() - self.started, kind))
        if kind == "kill_node":
            victim = n // 3 % len(self.nodes)
            self.nodes[victim].proc.send_signal(signal.SIGKILL)
            self.nodes[victim].proc.wait(10)
            self.nodes[victim] = start_server(self.env[victim], name=f"soak{victim}")
            await wait_ready([self.nodes[victim]])
        elif kind == "stop_redis":
            self.redis.stop()
            await asyncio.sleep(5)
            self.redis.start()
        else:
            await asyncio.to_thread(terminate_backends, self.database_url)
        return kind

    def sample(self) -> dict[str, Any]:
        pids = [s.proc.pid for s in self.nodes]
        return {
            "minute": round((time.monotonic() - self.started) / 60, 2),
            "connected": self.connected,
            "rss_mib": [round(rss_kib(p) / 1024, 1) for p in pids],
            "fds": [open_files(p) for p in pids],
            "db_connections": db_connections(self.database_url),
            "load": round(load_average(), 2),
        }


def db_connections(database_url: str) -> int:
    conn = psycopg2.connect(database_url)
    try:
        with conn.cursor() as cur:
            cur.execute("SELECT count(*) FROM pg_stat_activity WHERE datname = current_database()")
            row = cur.fetchone()
            return int(row[0]) - 1 if row else 0
    finally:
        conn.close()


def terminate_backends(database_url: str) -> None:
    conn = psycopg2.connect(database_url)
    conn.autocommit = True
    try:
        with conn.cursor() as cur:
            cur.execute(
                "SELECT pg_terminate_backend(pid) FROM pg_stat_activity"
                " WHERE datname = current_database() AND pid <> pg_backend_pid()"
            )
    finally:
        conn.close()


def logged(database_url: str, room: str) -> list[int]:
    conn = psycopg2.connect(database_url)
    try:
        with conn.cursor() as cur:
            cur.execute("SELECT id FROM events WHERE stream_id = %s AND type = 'message.posted' ORDER BY id", (room,))
            return [int(r[0]) for r in cur.fetchall()]
    finally:
        conn.close()


async def run(args: argparse.Namespace) -> dict[str, Any]:
    raise_open_files()
    async with bench_databases() as dbs:
        database_url = dbs.new()
        redis = OwnRedis()
        prefix, secret = deployment()
        envs = [node_env(database_url, redis.url, prefix, secret, GOCHAT_NODE_ID=f"soak{i}") for i in range(2)]
        nodes = [start_server(env, name=f"soak{i}") for i, env in enumerate(envs)]
        try:
            await wait_ready(nodes)
            users = await signup_users(nodes[0].url, max(2, args.connections // 10))
            rooms = [
                await create_room(nodes[0].url, users[0], users[i : i + 50], f"soak{i}")
                for i in range(0, len(users), 50)
            ]
            connector = aiohttp.TCPConnector(limit=0)
            async with aiohttp.ClientSession(connector=connector) as http:
                soak = Soak(nodes, envs, database_url, redis, http)
                for n in range(args.connections):
                    room_index = n % len(rooms)
                    members = users[room_index * 50 : room_index * 50 + 50]
                    soak.readers.append(Reader(members[n % len(members)], rooms[room_index]))
                for reader in soak.readers:
                    reader.task = asyncio.ensure_future(soak.read(reader))
                stop = time.monotonic() + args.minutes * 60
                posters = [
                    asyncio.ensure_future(soak.post(users[i * 50 % len(users)], room, stop))
                    for i, room in enumerate(rooms)
                ]
                samples = [soak.sample()]
                next_sample = time.monotonic() + args.sample_every
                next_fault = time.monotonic() + args.fault_every * 60
                faults = 0
                while time.monotonic() < stop:
                    await asyncio.sleep(1.0)
                    soak.churn(args.churn)
                    if time.monotonic() >= next_fault:
                        await soak.fault(faults)
                        faults += 1
                        next_fault = time.monotonic() + args.fault_every * 60
                    if time.monotonic() >= next_sample:
                        samples.append(soak.sample())
                        next_sample = time.monotonic() + args.sample_every
                await asyncio.gather(*posters)
                logs = {r: logged(database_url, r) for r in rooms}
                caught_up = await soak.catch_up(logs, timeout=60)
                for reader in soak.readers:
                    if reader.task is not None:
                        reader.task.cancel()
                samples.append(soak.sample())
                broken = check_readers(soak.readers, logs)
        finally:
            for node in nodes:
                node.stop()
            redis.stop()
    print(format_table(list(samples[0]), [list(s.values()) for s in samples]))
    missing = sum(1 for r in soak.readers if set(r.received) != set(logs[r.room]))
    print(f"faults: {soak.faults}\nerrors: {soak.errors}\nreaders with a duplicate or out of order: {broken}")
    print(f"readers missing a message: {missing}; all caught up after {caught_up} s")
    return {
        "connections": args.connections,
        "minutes": args.minutes,
        "fault_every_minutes": args.fault_every,
        "churn_per_second": args.churn,
        "samples": samples,
        "faults": soak.faults,
        "errors": soak.errors,
        "readers_with_duplicates_or_disorder": broken,
        "readers_missing_messages": missing,
        "seconds_until_all_caught_up": caught_up,
    }


def check_readers(readers: Sequence[Reader], logs: dict[str, list[int]]) -> int:
    """Readers whose messages were not strictly increasing or not all in the log."""
    broken = 0
    for reader in readers:
        ids = reader.received
        known = set(logs[reader.room])
        if any(b <= a for a, b in itertools.pairwise(ids)) or not set(ids) <= known:
            broken += 1
    return broken


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.soak", description=__doc__.split("\n\n")[0])
    parser.add_argument("--connections", type=int, default=5000)
    parser.add_argument("--minutes", type=float, default=30.0)
    parser.add_argument("--fault-every", type=float, default=5.0, help="minutes between faults")
    parser.add_argument("--churn", type=int, default=20, help="connections hung up and resumed per second")
    parser.add_argument("--sample-every", type=float, default=30.0, help="seconds between samples")
    args = parser.parse_args(argv)
    result = asyncio.run(run(args))
    write_results("soak", result)
    return 0 if result["readers_with_duplicates_or_disorder"] == 0 else 1


if __name__ == "__main__":
    raise SystemExit(main())
