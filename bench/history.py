"""History pages in a room of 1,000,000 messages, and GET /rooms for a user in 200 rooms.

    python -m bench.history [--messages 1000000] [--rooms 200] [--samples 1000]

The data goes through the real write model: events are generated straight into the `events` table
(INSERT ... SELECT generate_series, under the table lock the store takes), then the projections
catch up from their checkpoints exactly as at start-up (ProjectionRunner.catch_up_all), which also
measures how fast a large log is projected. Then VACUUM ANALYZE, as autovacuum would have.

Queries run through the real path: an app built by create_app on the throwaway database, a user
signed up over HTTP, and
- service: MessageService.history / my_rooms (a read-only transaction as gochat_app, RLS on),
- http: GET /rooms/:id/messages?before=&limit=50 and GET /rooms through aiohttp with the bearer
  token (authentication, access check, queries, JSON), one request at a time.
History cursors are random message ids of the big room, so pages come from all over its history.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import random
import sys
import time
import uuid
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import orjson
from aiohttp.test_utils import TestClient, TestServer

from gochat.app import create_app
from gochat.db import Database
from gochat.keys import DB, MESSAGES, PROJECTIONS
from gochat.log import configure_logging
from gochat.settings import Settings
from gochat.tools.run import run_async

from .common import bench_databases, format_table, latency_summary, machine_info, write_results

TARGET_PAGE_P99_MS = 10.0
TARGET_ROOMS_P99_MS = 20.0
BIG_ROOM_MEMBERS = 50
SMALL_ROOM_MEMBERS = 5
SMALL_ROOM_MESSAGES = 50
REACTION_EVERY = 20  # every 20th message of the big room gets a reaction

_MESSAGES_SQL = """
INSERT INTO events (id, stream_id, version, type, schema_version, data, actor_id, recorded_at)
SELECT %(base)s + g, %(room)s, %(version)s + g, 'message.posted', 1,
       jsonb_build_object('content', 'Message ' || g || ': lunch at noon? the build is green again, ship it'),
       (%(members)s::uuid[])[1 + g %% %(k)s], %(t0)s::timestamptz + g * interval '1 second'
FROM generate_series(1, %(n)s) AS g
"""
_REACTIONS_SQL = """
INSERT INTO events (id, stream_id, version, type, schema_version, data, actor_id, recorded_at)
SELECT %(base)s + r, %(room)s, %(version)s + r, 'reaction.added', 1,
       jsonb_build_object('message_id', %(first)s + (r - 1) * %(every)s, 'emoji', '👍'),
       (%(members)s::uuid[])[1 + r %% %(k)s], %(t0)s::timestamptz + r * interval '1 second'
FROM generate_series(1, %(n)s) AS r
"""
_ROWS_SQL = """
INSERT INTO events (id, stream_id, version, type, schema_version, data, actor_id, recorded_at)
SELECT id, stream_id, version, type, 1, data, actor_id, recorded_at FROM jsonb_to_recordset(%s::jsonb)
AS x(id bigint, stream_id uuid, version integer, type text, data jsonb, actor_id uuid, recorded_at timestamptz)
"""


class Log:
    """Events for _ROWS_SQL, numbered from the log's head, versioned per stream."""

    def __init__(self, head: int) -> None:
        self.head = head
        self.rows: list[dict[str, Any]] = []
        self.versions: dict[uuid.UUID, int] = {}

    def add(self, type_: str, room: uuid.UUID, data: dict[str, Any], actor: uuid.UUID) -> int:
        self.head += 1
        self.versions[room] = self.versions.get(room, 0) + 1
        row = {"id": self.head, "stream_id": room, "version": self.versions[room], "type": type_, "data": data,
               "actor_id": actor, "recorded_at": "2025-01-01T00:00:00Z"}  # fmt: skip
        self.rows.append(row)
        return self.head

    def room(self, owner: uuid.UUID, others: Sequence[uuid.UUID], name: str) -> uuid.UUID:
        room = uuid.uuid4()
        self.add("room.created", room, {"name": name, "type": "public", "topic": ""}, owner)
        self.add("member.joined", room, {"user_id": str(owner), "role": "owner"}, owner)
        for u in others:
            self.add("member.joined", room, {"user_id": str(u), "role": "member"}, u)
        return room


async def generate(
    db: Database, user: uuid.UUID, n_messages: int, n_rooms: int, n_other_rooms: int
) -> tuple[uuid.UUID, int, int]:
    """Append the big room and the user's rooms to the log; returns (big room, first and last message id)."""
    async with db.transaction() as cur:
        await cur.execute("LOCK TABLE events IN EXCLUSIVE MODE; SELECT coalesce(max(id), 0) FROM events")
        log = Log(int((await cur.fetchone())[0]))
        members = [user, *(uuid.uuid4() for _ in range(BIG_ROOM_MEMBERS - 1))]
        big = log.room(user, members[1:], "big")
        await cur.execute(_ROWS_SQL, (orjson.dumps(log.rows).decode(),))
        params = {"room": big, "members": members, "k": len(members), "t0": "2025-01-01T00:00:00Z"}
        first, version = log.head + 1, log.versions[big]
        await cur.execute(_MESSAGES_SQL, {**params, "base": log.head, "version": version, "n": n_messages})
        n_reactions = n_messages // REACTION_EVERY
        await cur.execute(
            _REACTIONS_SQL,
            {**params, "base": log.head + n_messages, "version": version + n_messages, "n": n_reactions,
             "first": first, "every": REACTION_EVERY},
        )  # fmt: skip
        small = Log(log.head + n_messages + n_reactions)
        for i in range(n_rooms - 1):  # the big room is one of the user's rooms
            others = [uuid.uuid4() for _ in range(SMALL_ROOM_MEMBERS - 1)]
            room = small.room(user, others, f"room {i:03d}")
            for j in range(SMALL_ROOM_MESSAGES):
                small.add(
                    "message.posted", room, {"content": f"small talk {j}"}, [user, *others][j % SMALL_ROOM_MEMBERS]
                )
        for i in range(n_other_rooms):  # rooms and people the user has nothing to do with
            others = [uuid.uuid4() for _ in range(3)]
            room = small.room(others[0], others[1:], f"elsewhere {i:05d}")
            for j in range(3):
                small.add("message.posted", room, {"content": f"elsewhere {j}"}, others[j])
        await cur.execute(_ROWS_SQL, (orjson.dumps(small.rows).decode(),))
    return big, first, first + n_messages - 1


@dataclass(slots=True)
class Timing:
    latencies: list[float]
    app_cpu_ms: float  # this process's CPU per call (the aiohttp client too, for HTTP rows)
    db_cpu_ms: float  # the PostgreSQL backends' CPU per call


def _backend_cpu(pids: Sequence[int]) -> float:
    """CPU seconds (user + system) the given server processes have used; PostgreSQL runs on this
    host, so /proc has them. Ticks are 10 ms: meaningful over a thousand calls, not one."""
    ticks = 0
    for pid in pids:
        with contextlib.suppress(OSError):
            fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
            ticks += int(fields[11]) + int(fields[12])  # utime, stime
    return ticks / os.sysconf("SC_CLK_TCK")


async def timed(db: Database, n: int, call: Callable[[], Awaitable[Any]], warmup: int = 50) -> Timing:
    """Latency of each call, and the CPU the calls cost on either side: contention on a shared
    machine stretches latency, much less the CPU work a request needs."""
    for _ in range(warmup):
        await call()
    async with db.cursor() as cur:
        await cur.execute("SELECT pid FROM pg_stat_activity WHERE datname = current_database()")
        pids = [r[0] for r in await cur.fetchall()]
    app0, db0 = time.process_time(), _backend_cpu(pids)
    seconds = []
    for _ in range(n):
        t0 = time.perf_counter()
        await call()
        seconds.append(time.perf_counter() - t0)
    app, db_cpu = time.process_time() - app0, _backend_cpu(pids) - db0
    return Timing(seconds, app * 1000 / n, db_cpu * 1000 / n)


async def run(args: argparse.Namespace) -> int:
    configure_logging("warning", "json")
    rows: list[list[Any]] = []
    async with bench_databases() as dbs:
        machine = machine_info(dbs.server)
        settings = Settings(
            database_url=dbs.new(),
            jwt_secret="bench-" + "x" * 40,
            rate_limits=False,
            access_token_ttl=24 * 3600,  # the catch-up may outlast a normal token
            log_level="warning",
            db_pool_min=1,
            db_pool_max=4,
            node_id="bench",
        )
        client = TestClient(TestServer(create_app(settings)))
        await client.start_server()
        try:
            app = client.app
            resp = await client.post("/auth/signup", json={"username": "bencher", "password": "bench password 1"})
            signed = await resp.json()
            user, headers = uuid.UUID(signed["user"]["id"]), {"Authorization": f"Bearer {signed['access_token']}"}

            t0 = time.perf_counter()
            big, first, last = await generate(app[DB], user, args.messages, args.rooms, args.other_rooms)
            generated = time.perf_counter() - t0
            t0 = time.perf_counter()
            await app[PROJECTIONS].catch_up_all()
            projected = time.perf_counter() - t0
            async with app[DB].cursor() as cur:
                await cur.execute("VACUUM ANALYZE")
                await cur.execute("SELECT count(*) FROM events")
                events = int((await cur.fetchone())[0])
            print(f"generated {events:,} events in {generated:.1f} s; projections caught up in {projected:.1f} s"
                  f" ({events / projected:,.0f} events/s)")  # fmt: skip

            service, rng = app[MESSAGES], random.Random(1)

            async def page() -> None:
                found = await service.history(user, big, before=rng.randint(first + 50, last + 1), limit=50)
                assert len(found.messages) == 50

            async def page_http() -> None:
                before = rng.randint(first + 50, last + 1)
                r = await client.get(f"/rooms/{big}/messages", params={"before": str(before)}, headers=headers)
                assert r.status == 200
                assert len((await r.json(loads=orjson.loads))["messages"]) == 50

            async def my_rooms() -> None:
                assert len(await service.my_rooms(user)) == args.rooms

            async def my_rooms_http() -> None:
                r = await client.get("/rooms", headers=headers)
                assert r.status == 200
                assert len((await r.json(loads=orjson.loads))["rooms"]) == args.rooms

            queries = (
                (f"history page of 50, {args.messages:,} messages (service)", page),
                ("history page of 50 (HTTP)", page_http),
                (f"GET /rooms, {args.rooms} rooms (service)", my_rooms),
                (f"GET /rooms, {args.rooms} rooms (HTTP)", my_rooms_http),
            )
            # The machine may be shared: each round notes the load average it started under.
            for n in range(1, args.rounds + 1):
                if n > 1:
                    await asyncio.sleep(args.pause)
                load = os.getloadavg()[0]
                for name, call in queries:
                    t = await timed(app[DB], args.samples, call)
                    lat = latency_summary(t.latencies)
                    rows.append([name, n, load, args.samples, lat["p50_ms"], lat["p99_ms"], lat["max_ms"],
                                 t.app_cpu_ms, t.db_cpu_ms])  # fmt: skip
        finally:
            await client.close()

    columns = ["query", "round", "load 1m", "samples", "p50 ms", "p99 ms", "max ms", "app CPU ms", "db CPU ms"]
    print()
    print(format_table(columns, rows))
    for row in rows:
        if "(HTTP)" in row[0]:
            target = TARGET_PAGE_P99_MS if row[0].startswith("history") else TARGET_ROOMS_P99_MS
            verdict = "met" if row[5] <= target else "MISSED"
            print(f"round {row[1]}: p99 target {target:.0f} ms for {row[0]}: {verdict} ({row[5]:.2f} ms)")
    if not args.no_save:
        keys = ("query", "round", "load_1m", "samples", "p50_ms", "p99_ms", "max_ms", "app_cpu_ms", "db_cpu_ms")
        results = [dict(zip(keys, r, strict=True)) for r in rows]
        payload = {"machine": machine, "args": {k: v for k, v in vars(args).items() if k != "no_save"},
                   "events": events, "generate_s": round(generated, 2), "catch_up_s": round(projected, 2),
                   "results": results}  # fmt: skip
        print(f"wrote {write_results('history', payload)}")
    return 0


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(prog="python -m bench.history", description=__doc__.split("\n\n")[0])
    p.add_argument("--messages", type=int, default=1_000_000, help="messages in the big room (1,000,000)")
    p.add_argument("--rooms", type=int, default=200, help="rooms the user is in, the big one included (200)")
    p.add_argument("--other-rooms", type=int, default=5000, help="rooms of other people, 3 members each (5000)")
    p.add_argument("--samples", type=int, default=1000, help="measured calls per query (1000)")
    p.add_argument("--rounds", type=int, default=1, help="measure every query this many times (1)")
    p.add_argument("--pause", type=float, default=60.0, help="seconds between rounds (60)")
    p.add_argument("--no-save", action="store_true", help="do not write bench/results/history.json")
    return p.parse_args(argv)


def main(argv: Sequence[str] | None = None) -> int:
    return run_async(run(parse_args(argv)))


if __name__ == "__main__":
    sys.exit(main())
