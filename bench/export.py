"""Event log export: events/s of `gochat events export` over a generated log, per format and filter.

    python -m bench.export [--events 1000000] [--batch-size 10000] [--only jsonl,csv,...]

One throwaway database gets --events events written straight into `events` by one INSERT ... SELECT
generate_series (the ordering rules concern live appends only): 500 rooms, 1,000 users, 80%
message.posted, 10% reaction.added, 10% receipt.read, one event per second ending now. Then each
scenario runs the real command as a child process (start-up included) into /dev/null, or a
temporary file for Parquet, and reports events/s and the command's CPU time as a share of one core.
"""

from __future__ import annotations

import argparse
import hashlib
import os
import resource
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from gochat.db import Database
from gochat.events.scan import LogFilter
from gochat.tools.run import run_async

from .common import bench_databases, format_row, format_table, machine_info, write_results

TARGET_RATE = 50_000  # events/s, JSON lines, whole log
ROOMS, USERS = 500, 1000
CHUNK = 100_000

_GENERATE = """
INSERT INTO events (id, stream_id, version, type, schema_version, data, metadata, actor_id, client_msg_id,
                    recorded_at)
SELECT i, md5('room' || mod(i, %(rooms)s))::uuid, i / %(rooms)s + 1, kind, 1,
       CASE kind
           WHEN 'message.posted' THEN jsonb_build_object(
               'content', 'Message ' || i || ': lunch at noon? The place on the corner has a terrace.',
               'thread_root', NULL, 'attachments', NULL)
           WHEN 'reaction.added' THEN jsonb_build_object('message_id', i - 1, 'emoji', '👍')
           ELSE jsonb_build_object('message_id', i - 2)
       END,
       jsonb_build_object('node', 'bench', 'actor_id', actor::text, 'client_msg_id', 'c' || i),
       actor, 'c' || i, now() - (%(events)s - i) * interval '1 second'
FROM generate_series(%(first)s, %(last)s) AS i,
     LATERAL (SELECT CASE WHEN mod(i, 10) < 8 THEN 'message.posted' WHEN mod(i, 10) = 8 THEN 'reaction.added'
                          ELSE 'receipt.read' END AS kind,
                     md5('user' || mod(i, %(users)s))::uuid AS actor) AS x
"""

COLUMNS = ["scenario", "events", "seconds", "events/s", "CPU (cores)", "output MB"]


@dataclass(slots=True)
class Outcome:
    scenario: str
    events: int
    seconds: float
    cpu: float
    output_bytes: int | None

    @property
    def rate(self) -> float:
        return self.events / self.seconds if self.events else float("nan")

    def row(self) -> list[Any]:
        mb = float("nan") if self.output_bytes is None else self.output_bytes / 1e6
        return [self.scenario, self.events, self.seconds, self.rate, self.cpu, mb]


@dataclass(frozen=True, slots=True)
class Scenario:
    name: str
    fmt: str
    args: tuple[str, ...]
    flt: LogFilter


async def generate(dsn: str, events: int) -> float:
    db = await Database.connect(dsn, minsize=1, maxsize=1)
    started = time.perf_counter()
    try:
        async with db.cursor() as cur:
            # In chunks: each statement stays well inside the pool's query timeout.
            for first in range(1, events + 1, CHUNK):
                last = min(first + CHUNK - 1, events)
                params = {"first": first, "last": last, "events": events, "rooms": ROOMS, "users": USERS}
                await cur.execute(_GENERATE, params)
            await cur.execute("ANALYZE events")
    finally:
        await db.close()
    return time.perf_counter() - started


async def count(dsn: str, flt: LogFilter) -> int:
    db = await Database.connect(dsn, minsize=1, maxsize=1)
    try:
        where, params = flt.where()
        return int(await db.fetchval(f"SELECT count(*) FROM events WHERE {where}", params))
    finally:
        await db.close()


def scenarios(events: int) -> list[Scenario]:
    room = uuid.UUID(hashlib.md5(b"room7", usedforsecurity=False).hexdigest())  # as md5('room' || 7)::uuid
    nobody = uuid.UUID(int=0)
    half = (datetime.now(UTC) - timedelta(seconds=events // 2)).replace(microsecond=0)
    return [
        Scenario("start-up only (nothing matches)", "jsonl", ("--room", str(nobody)), LogFilter(stream_id=nobody)),
        Scenario("jsonl, whole log", "jsonl", (), LogFilter()),
        Scenario("csv, whole log", "csv", (), LogFilter()),
        Scenario("parquet, whole log", "parquet", (), LogFilter()),
        Scenario("jsonl --type (1 in 10)", "jsonl", ("--type", "reaction.added"), LogFilter(types=("reaction.added",))),
        Scenario("jsonl --room (1 of 500)", "jsonl", ("--room", str(room)), LogFilter(stream_id=room)),
        Scenario("jsonl --since (last half, by time)", "jsonl", ("--since", half.isoformat()), LogFilter(since=half)),
    ]  # fmt: skip


def run_export(dsn: str, scenario: Scenario, batch_size: int) -> tuple[float, float, int | None]:
    """Wall seconds, CPU share of one core and output size of one `gochat events export`."""
    with tempfile.TemporaryDirectory(prefix="gochat-bench-export-") as tmp:
        output = os.devnull if scenario.fmt != "parquet" else str(Path(tmp) / "events.parquet")
        argv = [sys.executable, "-m", "gochat", "events", "export", "--format", scenario.fmt, "-o", output]
        argv += ["--batch-size", str(batch_size), *scenario.args]
        env = {**os.environ, "DATABASE_URL": dsn, "JWT_SECRET": "bench-" + "x" * 40, "LOG_LEVEL": "warning"}
        before = resource.getrusage(resource.RUSAGE_CHILDREN)
        started = time.perf_counter()
        subprocess.run(argv, env=env, check=True, stdin=subprocess.DEVNULL)
        seconds = time.perf_counter() - started
        after = resource.getrusage(resource.RUSAGE_CHILDREN)
        cpu = (after.ru_utime - before.ru_utime + after.ru_stime - before.ru_stime) / seconds
        size = Path(output).stat().st_size if scenario.fmt == "parquet" else None
    return seconds, cpu, size


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(prog="python -m bench.export", description=__doc__.split("\n\n")[0])
    p.add_argument("--events", type=int, default=1_000_000, help="events to generate (1000000)")
    p.add_argument("--batch-size", type=int, default=10_000, help="the export's --batch-size (10000)")
    p.add_argument("--only", help="comma-separated scenario name prefixes to run (default: all)")
    p.add_argument("--no-save", action="store_true", help="do not write bench/results/export.json")
    return p.parse_args(argv)


async def run(args: argparse.Namespace) -> int:
    outcomes: list[Outcome] = []
    async with bench_databases() as dbs:
        machine = machine_info(dbs.server)
        print(f"PostgreSQL {machine['postgres']} ({machine['postgres_source']}), {machine['cores']} cores", flush=True)
        if machine["load_1m"] > 0.5:
            print(f"note: load average {machine['load_1m']:.2f} before the run: other work shares the CPUs", flush=True)
        dsn = dbs.new()
        generated = await generate(dsn, args.events)
        print(f"generated {args.events:,} events in {generated:.1f} s ({args.events / generated:,.0f}/s)", flush=True)
        wanted = [w.strip() for w in args.only.split(",")] if args.only else None
        for scenario in scenarios(args.events):
            if wanted and not any(scenario.name.startswith(w) for w in wanted):
                continue
            events = await count(dsn, scenario.flt)
            seconds, cpu, size = run_export(dsn, scenario, args.batch_size)
            outcome = Outcome(scenario.name, events, seconds, cpu, size)
            outcomes.append(outcome)
            print(", ".join(f"{c} {v}" for c, v in zip(COLUMNS, format_row(outcome.row()), strict=True)), flush=True)

    print()
    print(format_table(COLUMNS, [o.row() for o in outcomes]))
    whole = [o for o in outcomes if o.scenario == "jsonl, whole log"]
    if whole:
        ok = "met" if whole[0].rate >= TARGET_RATE else "MISSED"
        print(f"JSON lines target {TARGET_RATE:,}/s: {ok} ({whole[0].rate:,.0f}/s)")
    if not args.no_save:
        path = write_results(
            "export",
            {
                "machine": machine,
                "args": {k: v for k, v in vars(args).items() if k != "no_save"},
                "generate_seconds": generated,
                "results": [{**asdict(o), "rate": o.rate} for o in outcomes],
            },
        )
        print(f"wrote {path}")
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    return run_async(run(parse_args(argv)))


if __name__ == "__main__":
    sys.exit(main())
