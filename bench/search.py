"""Search over 1,000,000 messages in 1,000 rooms: query latency, index build rate, append cost.

    python -m bench.search [--messages 1000000] [--rooms 1000] [--member-of 50] [--samples 200]
                           [--append-duration 8] [--no-append] [--no-save]

Data, through the real write model: the log is generated in Python (seeded) and COPYed into
`events` (rooms, their owners, a user who joins --member-of rooms, then the messages spread evenly
over the rooms, one second apart); the projections the queries need (users, rooms, history) catch
up from zero as at start-up, and then "search" does: that catch-up is a rebuild of the search index
through ProjectionRunner.catch_up (events read and parsed, documents computed, GIN maintained) and
gives the build rate. A second rebuild in plain SQL (TRUNCATE, INSERT ... SELECT from messages,
the GIN index created afterwards) shows what the database alone does. Then VACUUM ANALYZE.

Text: 6 to 24 words drawn from a Zipf-distributed vocabulary of pronounceable made-up words with
English endings (-s, -ing, -ed, -er), so stemming has work to do; the common word ("meeting") is in
10% of the messages, the rare one ("kumquat") in 1 of 50,000 (20 in a million).

Queries go through the real path: SearchService.search (access check, a read-only transaction as
gochat_app with row-level security, the index function, highlights and reactions for the page),
limit 20, one at a time, as the user who is a member of --member-of private rooms: per room (cycling
through their rooms) and global (every room they read).

Append cost: group commit with every projection inline, with and without the search projection
(100 closed-loop appenders, and paced at 5,000 events/s), on fresh databases.
"""

from __future__ import annotations

import argparse
import asyncio
import io
import itertools
import random
import sys
import time
import uuid
from collections.abc import Iterator, Sequence
from typing import Any

import orjson

from gochat.db import Database
from gochat.events import EventStore, build_registry
from gochat.projections.base import Projection
from gochat.projections.catalog import all_projections
from gochat.projections.engine import InlineProjections, ProjectionRunner, advance
from gochat.projections.search import Filters, SearchProjection
from gochat.services.search import SearchService
from gochat.tools.run import run_async

from .append import COLUMNS as APPEND_COLUMNS
from .append import ROOMS as APPEND_ROOMS
from .append import Outcome, closed_loop, message
from .common import (
    _admin,
    bench_databases,
    format_row,
    format_table,
    latency_summary,
    load_average,
    machine_info,
    write_results,
)

TARGET_ROOM_P99_MS = 50.0
COMMON, COMMON_SHARE = "meeting", 0.10
RARE, RARE_EVERY = "kumquat", 50_000
VOCABULARY = 20_000
ONSETS = ["b", "d", "f", "g", "l", "m", "n", "p", "r", "s", "t", "v", "z", "br", "pl", "st", "tr", "gl"]
VOWELS = ["a", "e", "i", "o", "u", "ai", "ou"]
ENDINGS = ["", "", "", "s", "ing", "ed", "er"]
T0 = 1_700_000_000  # the first message's time (epoch seconds); one message a second after it


# --- the log --------------------------------------------------------------------------------------
def vocabulary(rng: random.Random, n: int) -> list[str]:
    """n distinct made-up words (two or three syllables and an English ending)."""
    words: set[str] = set()
    while len(words) < n:
        syllables = rng.randint(2, 3)
        stem = "".join(rng.choice(ONSETS) + rng.choice(VOWELS) for _ in range(syllables))
        words.add(stem + rng.choice(ENDINGS))
    words -= {COMMON, RARE}
    return sorted(words)


class Texts:
    def __init__(self, rng: random.Random) -> None:
        self.rng = rng
        self.words = vocabulary(rng, VOCABULARY)
        self.cum = list(itertools.accumulate(1 / (r + 1) ** 1.05 for r in range(len(self.words))))

    def text(self, i: int) -> str:
        words = self.rng.choices(self.words, cum_weights=self.cum, k=self.rng.randint(6, 24))
        if self.rng.random() < COMMON_SHARE:
            words[self.rng.randrange(len(words))] = COMMON
        if self.rng.random() < 1 / RARE_EVERY:
            words[self.rng.randrange(len(words))] = RARE
        return " ".join(words).capitalize()


def _row(event_id: int, stream: uuid.UUID, version: int, type_: str, data: Any, actor: uuid.UUID, at: int) -> str:
    """One line of COPY text (the generated JSON holds no backslash, tab or newline)."""
    stamp = time.strftime("%Y-%m-%d %H:%M:%S+00", time.gmtime(at))
    return f"{event_id}\t{stream}\t{version}\t{type_}\t1\t{orjson.dumps(data).decode()}\t{actor}\t{stamp}\n"


def log_lines(args: argparse.Namespace, user: uuid.UUID, rooms: list[uuid.UUID]) -> Iterator[str]:
    rng = random.Random(args.seed)
    texts = Texts(rng)
    authors = [uuid.UUID(int=rng.getrandbits(128)) for _ in range(5000)]
    ids, versions = itertools.count(1), dict.fromkeys(rooms, 0)

    def event(room: uuid.UUID, type_: str, data: Any, actor: uuid.UUID, at: int) -> str:
        versions[room] += 1
        return _row(next(ids), room, versions[room], type_, data, actor, at)

    start = T0 - 3600
    for n, room in enumerate(rooms):
        owner = authors[n % len(authors)]
        yield event(room, "room.created", {"name": f"room {n}", "type": "private", "topic": ""}, owner, start)
        yield event(room, "member.joined", {"user_id": str(owner), "role": "owner"}, owner, start)
    for room in rooms[: args.member_of]:
        yield event(room, "member.joined", {"user_id": str(user), "role": "member"}, user, start)
    for i in range(args.messages):
        room = rooms[i % len(rooms)]
        yield event(room, "message.posted", {"content": texts.text(i)}, rng.choice(authors), T0 + i)


def copy_log(dsn: str, lines: Iterator[str], chunk: int = 100_000) -> int:
    conn = _admin(dsn)
    n = 0
    try:
        cur = conn.cursor()
        while batch := list(itertools.islice(lines, chunk)):
            cur.copy_expert(
                "COPY events (id, stream_id, version, type, schema_version, data, actor_id, recorded_at) FROM STDIN",
                io.StringIO("".join(batch)),
            )
            n += len(batch)
    finally:
        conn.close()
    return n


async def timed_catch_up(runner: ProjectionRunner, projection: Projection) -> tuple[int, float]:
    t0 = time.perf_counter()
    applied = await runner.catch_up(projection)
    return applied, time.perf_counter() - t0


async def sql_rebuild(db: Database) -> tuple[int, float, float]:
    """The search table rebuilt in SQL alone: rows from messages, then the GIN index."""
    async with db.transaction() as cur:
        t0 = time.perf_counter()
        await cur.execute("TRUNCATE message_search; DROP INDEX message_search_tsv")
        await cur.execute(
            "INSERT INTO message_search SELECT room_id, id, user_id, created_at,"
            " gochat_search_document('english', content) FROM messages WHERE NOT deleted"
        )
        rows = cur.rowcount
        t1 = time.perf_counter()
        await cur.execute("CREATE INDEX message_search_tsv ON message_search USING gin (tsv)")
        t2 = time.perf_counter()
    return rows, t1 - t0, t2 - t1


# --- queries --------------------------------------------------------------------------------------
async def measure(
    service: SearchService, user: uuid.UUID, word: str, rooms: Sequence[uuid.UUID | None], samples: int, page: int
) -> tuple[dict[str, float], float]:
    """Latencies of `samples` searches cycling through `rooms` (None: global), on result page
    `page` (2: the cursor from page 1 is fetched first, untimed); and the mean results per page."""
    latencies, hits = [], 0
    for i in range(samples):
        filters = Filters(room_id=rooms[i % len(rooms)])
        after = None
        if page == 2:
            after = (await service.search(user, word, filters)).next
        t0 = time.perf_counter()
        found = await service.search(user, word, filters, after=after)
        latencies.append(time.perf_counter() - t0)
        hits += len(found.hits)
    return latency_summary(latencies), hits / samples


async def matches(db: Database, word: str, rooms: Sequence[uuid.UUID]) -> tuple[int, int]:
    """Messages containing the word: in the user's rooms, and in all."""
    async with db.cursor() as cur:
        await cur.execute(
            "SELECT count(*) FILTER (WHERE room_id = ANY(%s)), count(*) FROM message_search"
            " WHERE tsv @@ gochat_search_query('english', %s)",
            (list(rooms), word),
        )
        row = await cur.fetchone()
        return int(row[0]), int(row[1])


# --- append cost ----------------------------------------------------------------------------------
class InlineSearch(SearchProjection):
    inline = True


async def append_run(
    dsn: str, projections: list[Projection], label: str, appenders: int, warmup: float, duration: float
) -> tuple[Outcome, float]:
    """Closed-loop appends with these projections: inline ones in the append transaction, the
    others followed as the app does. Also returns how long the followers took, once the appends
    stopped, to reach the head (their lag at that moment)."""
    db = await Database.connect(dsn, minsize=1, maxsize=3)
    store = EventStore(db, build_registry(), node_id="bench")
    store.inline.append(InlineProjections(store, projections))
    runner = ProjectionRunner(db, store, projections)
    store.start()
    runner.start_follower()
    rooms = [uuid.uuid4() for _ in range(APPEND_ROOMS)]
    try:

        def appender(w: int) -> Any:
            actor = uuid.uuid4()

            async def step(n: int) -> None:
                await store.append_one(message(rooms[(w + n) % APPEND_ROOMS], actor, n))

            return step

        flushes, events = store.stats.flushes, store.stats.events
        outcome = await closed_loop(label, [appender(w) for w in range(appenders)], warmup, duration)
        done = store.stats.flushes - flushes
        outcome.mean_batch = (store.stats.events - events) / done if done else float("nan")
        t0 = time.perf_counter()
        await runner.stop()
        for p in projections:
            if not p.inline:
                await runner.catch_up(p)
        drain = time.perf_counter() - t0
    finally:
        await runner.stop()
        await store.close()
        await db.close()
    return outcome, drain


# --- the run --------------------------------------------------------------------------------------
def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(prog="python -m bench.search", description=__doc__.split("\n\n")[0])
    p.add_argument("--messages", type=int, default=1_000_000, help="messages generated (1,000,000)")
    p.add_argument("--rooms", type=int, default=1000, help="rooms they are spread over (1,000)")
    p.add_argument("--member-of", type=int, default=50, help="rooms the searching user is a member of (50)")
    p.add_argument("--samples", type=int, default=200, help="searches timed per scenario (200)")
    p.add_argument("--seed", type=int, default=1)
    p.add_argument("--append-duration", type=float, default=8.0, help="seconds per append run (8)")
    p.add_argument("--no-append", action="store_true", help="skip the append cost runs")
    p.add_argument("--no-save", action="store_true", help="do not write bench/results/search.json")
    args = p.parse_args(argv)
    if not 1 <= args.member_of <= args.rooms:
        p.error("--member-of must be between 1 and --rooms")
    return args


async def build(db: Database) -> dict[str, Any]:
    """Catch the projections up from zero (search last: the measured rebuild), then rebuild search
    again in plain SQL."""
    store = EventStore(db, build_registry())
    projections = {p.name: p for p in all_projections()}
    runner = ProjectionRunner(db, store, list(projections.values()))
    async with db.transaction() as cur:  # not needed by the queries measured
        await advance(cur, ["receipts", "presence"], await store.head())
    out: dict[str, Any] = {}
    for name in ("users", "rooms", "history", "search"):
        n, seconds = await timed_catch_up(runner, projections[name])
        out[name] = {"events": n, "seconds": round(seconds, 2), "events_per_s": round(n / seconds)}
        print(f"catch-up {name}: {n:,} events in {seconds:.1f} s ({n / seconds:,.0f}/s)", flush=True)
    rows, insert_s, index_s = await sql_rebuild(db)
    rate = rows / (insert_s + index_s)
    out["search_sql"] = {"rows": rows, "insert_seconds": round(insert_s, 2), "index_seconds": round(index_s, 2),
                         "rows_per_s": round(rate)}  # fmt: skip
    print(f"SQL rebuild: {rows:,} rows in {insert_s:.1f} s + GIN {index_s:.1f} s ({rate:,.0f} rows/s)", flush=True)
    async with db.cursor() as cur:
        await cur.execute("VACUUM ANALYZE")
        await cur.execute(
            "SELECT pg_size_pretty(pg_table_size('message_search')),"
            " pg_size_pretty(pg_relation_size('message_search_tsv'))"
        )
        table_size, index_size = await cur.fetchone()
    out["sizes"] = {"table": table_size, "gin_index": index_size}
    print(f"message_search: table {table_size}, GIN index {index_size}", flush=True)
    return out


QUERY_COLUMNS = ["word", "scope", "matches in readable rooms", "results/page", "p50 ms", "p99 ms", "max ms"]


async def queries(db: Database, user: uuid.UUID, mine: list[uuid.UUID], samples: int) -> list[dict[str, Any]]:
    service = SearchService(db, "english")
    out = []
    for word in (RARE, COMMON):
        in_mine, in_all = await matches(db, word, mine)
        for scope, targets, page in (("room", mine, 1), ("global", [None], 1), ("global", [None], 2)):
            if page == 2 and word == RARE:
                continue  # one page holds every rare match
            lat, per_page = await measure(service, user, word, targets, samples, page)
            label = f"{scope}{', page 2' if page == 2 else ''}"
            out.append({"word": word, "scope": label, "matches_readable": in_mine, "matches_all": in_all,
                        "results_per_page": per_page, **{k: round(v, 2) for k, v in lat.items()}})  # fmt: skip
            print(f"{word} {label}: p50 {lat['p50_ms']:.1f} ms, p99 {lat['p99_ms']:.1f} ms", flush=True)
    return out


async def append_costs(dbs: Any, duration: float) -> list[dict[str, Any]]:
    """Append throughput with search left out, followed (as shipped), and inline."""
    without = [p for p in all_projections() if p.name != SearchProjection.name]
    variants = (("no search", without), ("search followed", [*without, SearchProjection()]),
                ("search inline", [*without, InlineSearch()]))  # fmt: skip
    out = []
    for appenders in (10, 100):
        for label, projections in variants:
            dsn = await asyncio.to_thread(dbs.new)
            outcome, drain = await append_run(dsn, projections, label, appenders, 1.0, duration)
            out.append({**outcome.as_dict(), "follower_drain_s": round(drain, 3)})
            cells = format_row([*outcome.row(), drain * 1000])
            print(", ".join(f"{c} {v}" for c, v in zip(APPEND_TABLE, cells, strict=True)), flush=True)
    return out


APPEND_TABLE = [*APPEND_COLUMNS, "follower lag at stop ms"]


async def run(args: argparse.Namespace) -> int:
    results: dict[str, Any] = {}
    appends: list[dict[str, Any]] = []
    async with bench_databases() as dbs:
        machine = machine_info(dbs.server)
        print(f"PostgreSQL {machine['postgres']} ({machine['postgres_source']}), {machine['cores']} cores", flush=True)
        if machine["load_1m"] > 0.5:
            print(f"note: load average {machine['load_1m']:.2f} before the run: other work shares the CPUs", flush=True)
        dsn = await asyncio.to_thread(dbs.new)
        user = uuid.uuid4()
        rng = random.Random(args.seed)
        rooms = [uuid.UUID(int=rng.getrandbits(128)) for _ in range(args.rooms)]
        t0 = time.perf_counter()
        events = await asyncio.to_thread(copy_log, dsn, log_lines(args, user, rooms))
        print(f"log: {events:,} events generated and copied in {time.perf_counter() - t0:.1f} s", flush=True)
        db = await Database.connect(dsn, minsize=1, maxsize=4, timeout=3600.0)  # the SQL rebuild takes minutes
        try:
            results["build"] = await build(db)
            results["queries"] = await queries(db, user, rooms[: args.member_of], args.samples)
        finally:
            await db.close()
        if not args.no_append:
            appends = await append_costs(dbs, args.append_duration)
            results["append"] = appends
        machine["load_1m_after"] = round(load_average(), 2)

    print()
    rows = [[q["word"], q["scope"], q["matches_readable"], q["results_per_page"], q["p50_ms"], q["p99_ms"], q["max_ms"]]
            for q in results["queries"]]  # fmt: skip
    print(format_table(QUERY_COLUMNS, rows))
    room_p99 = max(q["p99_ms"] for q in results["queries"] if q["scope"] == "room")
    verdict = "met" if room_p99 <= TARGET_ROOM_P99_MS else "MISSED"
    print(f"per-room p99 target {TARGET_ROOM_P99_MS:.0f} ms: {verdict} ({room_p99:.1f} ms)")
    if appends:
        print()
        print(format_table(APPEND_TABLE, [_append_row(a) for a in appends]))
    if not args.no_save:
        args_out = {k: v for k, v in vars(args).items() if k != "no_save"}
        path = write_results("search", {"machine": machine, "args": args_out, **results})
        print(f"wrote {path}")
    return 0


def _append_row(a: dict[str, Any]) -> list[Any]:
    keys = ["scenario", "concurrency", "events", "events_per_s", "p50_ms", "p99_ms", "max_ms", "mean_batch",
            "client_cpu", "load_1m"]  # fmt: skip
    row = [a[k] for k in keys]
    row[8] *= 100  # a share of one core, shown as %
    return [*row, a["follower_drain_s"] * 1000]


def main(argv: Sequence[str] | None = None) -> int:
    return run_async(run(parse_args(argv)))


if __name__ == "__main__":
    sys.exit(main())
