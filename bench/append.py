"""Event log append: throughput and latency of the group-commit writer, against single-row inserts.

    python -m bench.append [--duration 8] [--appenders 1,10,100,1000,2000] [--pipeline 1,2,3] [--rate 5000]
                           [--expect-every N] [--retry-every N] [--inline]

Scenarios, each on a fresh migrated database:
- baseline: N connections, each looping single-row autocommit INSERTs into `events` (no validation,
  no lock, ids handed out in Python): what PostgreSQL gives one round trip and one commit per row.
- group commit: N appenders, each looping `EventStore.append_one(message.posted)` over a few rooms
  with an actor and a client_msg_id, as a chat message arrives (validation, idempotency lookup, table
  lock, ordered ids all included). Closed loop: latency is one append's wait.
- with --expect-every N / --retry-every N the group-commit runs also send, from each appender, every
  Nth append with an expected version (to a stream of its own, so always met) / as a retry of its
  previous append (same client_msg_id: the original comes back): the batches holding one are the
  ones gochat_append plans group by group (docs/architecture.md, "One append path").
- with --inline the store applies every inline projection in the append transaction, as the server
  does (a batch of posts is projected inside the append call).
- paced: appends started on a fixed schedule (open loop) at --rate events/s; latency counts from the
  scheduled start, so a writer falling behind shows up instead of slowing the sender down.
"""

from __future__ import annotations

import argparse
import asyncio
import itertools
import sys
import time
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from contextlib import AsyncExitStack, asynccontextmanager
from dataclasses import dataclass, field, replace
from typing import Any

import orjson

from gochat.db import Database
from gochat.events import EventStore, NewEvent, build_registry
from gochat.projections.catalog import all_projections
from gochat.projections.engine import InlineProjections
from gochat.runtime import collect_young_less_often, freeze_startup_heap
from gochat.tools.run import run_async

from .common import (
    CpuMeter,
    bench_databases,
    format_row,
    format_table,
    latency_summary,
    load_average,
    machine_info,
    write_results,
)

TARGET_RATE = 40_000  # events/s, group commit
TARGET_P99_MS = 20.0  # at 5,000 events/s paced
ROOMS = 8
PIPELINED_FROM = 100  # fewer appenders never fill one transaction while another commits
TEXT = "Lunch at noon? The new place on the corner has a terrace, and it should be sunny today."

Step = Callable[[int], Awaitable[None]]


@dataclass(slots=True)
class Outcome:
    scenario: str
    concurrency: int | str
    events: int
    seconds: float
    latencies: list[float]
    cpu: float
    mean_batch: float = float("nan")
    load: float = field(default_factory=load_average)  # taken when the run ends

    @property
    def rate(self) -> float:
        return self.events / self.seconds if self.seconds else 0.0

    def row(self) -> list[Any]:
        lat = latency_summary(self.latencies)
        return [
            self.scenario,
            self.concurrency,
            self.events,
            self.rate,
            lat["p50_ms"],
            lat["p99_ms"],
            lat["max_ms"],
            self.mean_batch,
            self.cpu * 100,
            self.load,
        ]

    def as_dict(self) -> dict[str, Any]:
        return {
            "scenario": self.scenario,
            "concurrency": self.concurrency,
            "events": self.events,
            "seconds": round(self.seconds, 3),
            "events_per_s": round(self.rate, 1),
            **{k: round(v, 3) for k, v in latency_summary(self.latencies).items()},
            "mean_batch": round(self.mean_batch, 2),
            "client_cpu": round(self.cpu, 3),
            "load_1m": round(self.load, 2),
        }


COLUMNS = [
    "scenario", "concurrency", "events", "events/s", "p50 ms", "p99 ms", "max ms", "batch", "client CPU %", "load 1m"
]  # fmt: skip


def tune_as_served() -> None:
    """The garbage collector as `gochat serve` sets it once started."""
    freeze_startup_heap()
    collect_young_less_often()


def message(room: uuid.UUID, actor: uuid.UUID, n: int) -> NewEvent:
    return NewEvent("message.posted", room, {"content": f"{TEXT} #{n}"}, actor_id=actor, client_msg_id=f"m-{n}")


async def closed_loop(name: str, steps: Sequence[Step], warmup: float, duration: float) -> Outcome:
    """Every step loops back to back; only calls started after the warm-up are counted."""
    tune_as_served()
    started = time.perf_counter()
    measure_from, stop = started + warmup, started + warmup + duration
    latencies: list[float] = []
    last_end = measure_from

    async def loop(step: Step) -> None:
        nonlocal last_end
        for n in itertools.count():
            t0 = time.perf_counter()
            if t0 >= stop:
                return
            await step(n)
            t1 = time.perf_counter()
            if t0 >= measure_from:
                latencies.append(t1 - t0)
                last_end = max(last_end, t1)

    tasks = [asyncio.ensure_future(loop(s)) for s in steps]
    await asyncio.sleep(max(0.0, measure_from - time.perf_counter()))
    cpu = CpuMeter()
    await asyncio.gather(*tasks)
    return Outcome(name, len(steps), len(latencies), last_end - measure_from, latencies, cpu.share())


_INSERT_ONE = (
    "INSERT INTO events (id, stream_id, version, type, schema_version, data, metadata, actor_id, client_msg_id)"
    " VALUES (%s, %s, %s, 'message.posted', 1, %s, %s, %s, %s)"
)


async def baseline(dsn: str, connections: int, warmup: float, duration: float) -> Outcome:
    ids = itertools.count(1)
    rooms = [uuid.uuid4() for _ in range(ROOMS)]
    versions = dict.fromkeys(rooms, 0)

    def worker(cur: Any, w: int) -> Step:
        actor = uuid.uuid4()

        async def step(n: int) -> None:
            room = rooms[(w + n) % ROOMS]
            versions[room] += 1
            data = orjson.dumps({"content": f"{TEXT} #{n}"}).decode()
            meta = orjson.dumps({"actor_id": str(actor), "client_msg_id": f"m-{n}"}).decode()
            await cur.execute(_INSERT_ONE, (next(ids), room, versions[room], data, meta, actor, f"m-{n}"))

        return step

    db = await Database.connect(dsn, minsize=connections, maxsize=connections)
    try:
        async with AsyncExitStack() as stack:
            cursors = [await stack.enter_async_context(db.cursor()) for _ in range(connections)]
            outcome = await closed_loop(
                "single-row INSERT", [worker(c, w) for w, c in enumerate(cursors)], warmup, duration
            )
    finally:
        await db.close()
    return outcome


@asynccontextmanager
async def open_store(dsn: str, pipeline: int = 1, inline: bool = False) -> AsyncIterator[EventStore]:
    db = await Database.connect(dsn, minsize=1, maxsize=1 + pipeline)
    store = EventStore(db, build_registry(), node_id="bench", pipeline=pipeline)
    if inline:  # as the server's store does
        store.inline.append(InlineProjections(store, all_projections()))
    store.start()
    try:
        yield store
    finally:
        await store.close()
        await db.close()


def _mean_batch(store: EventStore, flushes_before: int, events_before: int) -> float:
    flushes = store.stats.flushes - flushes_before
    return (store.stats.events - events_before) / flushes if flushes else float("nan")


async def group_commit(
    dsn: str,
    appenders: int,
    warmup: float,
    duration: float,
    pipeline: int = 1,
    expect_every: int = 0,
    retry_every: int = 0,
    inline: bool = False,
) -> Outcome:
    rooms = [uuid.uuid4() for _ in range(ROOMS)]
    async with open_store(dsn, pipeline, inline) as store:

        def appender(w: int) -> Step:
            actor, own = uuid.uuid4(), uuid.uuid4()
            own_version = 0

            async def step(n: int) -> None:
                nonlocal own_version
                if expect_every and n % expect_every == expect_every - 1:
                    # its own stream: the expectation is met, so every such append is written
                    event = message(own, actor, n)
                    await store.append_one(replace(event, expected_version=own_version))
                    own_version += 1
                elif retry_every and n % retry_every == retry_every - 1 and n > 0:
                    result = await store.append_one(message(rooms[(w + n - 1) % ROOMS], actor, n - 1))
                    assert result.duplicate
                else:
                    await store.append_one(message(rooms[(w + n) % ROOMS], actor, n))

            return step

        before = store.stats.flushes, store.stats.events
        name = "group commit" if pipeline == 1 else f"group commit, pipeline {pipeline}"
        if expect_every:
            name += f", expected version 1/{expect_every}"
        if retry_every:
            name += f", retry 1/{retry_every}"
        if inline:
            name += ", inline"
        outcome = await closed_loop(name, [appender(w) for w in range(appenders)], warmup, duration)
        outcome.mean_batch = _mean_batch(store, *before)
    return outcome


async def paced(dsn: str, rate: float, warmup: float, duration: float, inline: bool = False) -> Outcome:
    """Open loop: event i is due at start + i / rate whatever happened to the ones before it."""
    rooms = [uuid.uuid4() for _ in range(ROOMS)]
    actors = [uuid.uuid4() for _ in range(100)]
    latencies: list[float] = []
    pending: set[asyncio.Future[None]] = set()
    warm_count, total = int(rate * warmup), int(rate * (warmup + duration))
    async with open_store(dsn, inline=inline) as store:
        tune_as_served()
        start = last_end = time.perf_counter()
        cpu: CpuMeter | None = None
        before = store.stats.flushes, store.stats.events

        async def one(i: int, due: float) -> None:
            nonlocal last_end
            await store.append_one(message(rooms[i % ROOMS], actors[i % len(actors)], i))
            if i >= warm_count:
                last_end = time.perf_counter()
                latencies.append(last_end - due)

        launched = 0
        while launched < total:
            if launched >= warm_count and cpu is None:
                cpu, before = CpuMeter(), (store.stats.flushes, store.stats.events)
            due_now = min(total, int((time.perf_counter() - start) * rate) + 1)
            for i in range(launched, due_now):
                task = asyncio.ensure_future(one(i, start + i / rate))
                pending.add(task)
                task.add_done_callback(pending.discard)
            launched = due_now
            await asyncio.sleep(0.001)
        await asyncio.gather(*pending)
        assert cpu is not None
        seconds = last_end - (start + warm_count / rate)
        outcome = Outcome(
            f"paced {rate:,.0f}/s" + (", inline" if inline else ""),
            "open",
            len(latencies),
            seconds,
            latencies,
            cpu.share(),
        )
        outcome.mean_batch = _mean_batch(store, *before)
    return outcome


def _counts(text: str) -> list[int]:
    try:
        values = [int(v) for v in text.split(",") if v.strip()]
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a comma-separated list of integers: {text!r}") from None
    if values == [0]:
        return []  # skip these runs
    if not values or min(values) < 1:
        raise argparse.ArgumentTypeError("counts must be positive integers (or 0 alone, to skip)")
    return values


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(prog="python -m bench.append", description=__doc__.split("\n\n")[0])
    p.add_argument("--duration", type=float, default=8.0, help="measured seconds per closed-loop run (8)")
    p.add_argument("--warmup", type=float, default=1.0, help="unmeasured seconds before each run (1)")
    p.add_argument(
        "--appenders",
        type=_counts,
        default=[1, 10, 100, 1000, 2000],
        help="group-commit appenders (1,10,100,1000,2000); 0 skips",
    )
    p.add_argument("--baseline", type=_counts, default=[1, 10], help="baseline connections (1,10); 0 skips")
    p.add_argument("--rate", type=float, default=5000.0, help="paced run's events/s (5000); 0 skips it")
    p.add_argument("--paced-duration", type=float, default=10.0, help="measured seconds of the paced run (10)")
    p.add_argument(
        "--pipeline", type=_counts, default=[1, 2, 3], help="group-commit runs per transactions in flight (1,2,3)"
    )
    p.add_argument(
        "--expect-every", type=int, default=0, help="group commit: every Nth append names an expected version (0: none)"
    )
    p.add_argument(
        "--retry-every", type=int, default=0, help="group commit: every Nth append retries the one before (0: none)"
    )
    p.add_argument("--inline", action="store_true", help="apply the inline projections in the append transaction")
    p.add_argument("--no-save", action="store_true", help="do not write bench/results/append.json")
    args = p.parse_args(argv)
    if args.expect_every and args.retry_every:
        p.error("--expect-every and --retry-every are measured one at a time")
    return args


async def run(args: argparse.Namespace) -> int:
    outcomes: list[Outcome] = []
    async with bench_databases() as dbs:
        machine = machine_info(dbs.server)

        async def scenario(make: Callable[..., Awaitable[Outcome]], *params: Any) -> None:
            outcome = await make(await asyncio.to_thread(dbs.new), *params)
            outcomes.append(outcome)
            print(", ".join(f"{c} {v}" for c, v in zip(COLUMNS, format_row(outcome.row()), strict=True)), flush=True)

        print(f"PostgreSQL {machine['postgres']} ({machine['postgres_source']}), {machine['cores']} cores", flush=True)
        if machine["load_1m"] > 0.5:
            print(f"note: load average {machine['load_1m']:.2f} before the run: other work shares the CPUs", flush=True)
        for n in args.baseline:
            await scenario(baseline, n, args.warmup, args.duration)
        for pipeline in args.pipeline:
            for n in args.appenders:
                if pipeline == 1 or n >= PIPELINED_FROM:
                    await scenario(
                        group_commit,
                        n,
                        args.warmup,
                        args.duration,
                        pipeline,
                        args.expect_every,
                        args.retry_every,
                        args.inline,
                    )
        if args.rate > 0:
            await scenario(paced, args.rate, args.warmup, args.paced_duration, args.inline)

    print()
    print(format_table(COLUMNS, [o.row() for o in outcomes]))
    verdicts = _verdicts(outcomes, args.rate)
    for line in verdicts:
        print(line)
    if not args.no_save:
        path = write_results(
            "append",
            {"machine": machine, "args": _jsonable(vars(args)), "results": [o.as_dict() for o in outcomes]},
        )
        print(f"wrote {path}")
    return 0


def _verdicts(outcomes: Sequence[Outcome], rate: float) -> list[str]:
    lines = []
    grouped = [o for o in outcomes if o.scenario.startswith("group commit")]
    if grouped:
        best = max(grouped, key=lambda o: o.rate)
        ok = "met" if best.rate >= TARGET_RATE else "MISSED"
        lines.append(
            f"throughput target {TARGET_RATE:,}/s: {ok} ({best.rate:,.0f}/s, {best.scenario}, {best.concurrency})"
        )
    for o in outcomes:
        if o.scenario.startswith("paced") and rate == 5000:
            p99 = latency_summary(o.latencies)["p99_ms"]
            ok = "met" if p99 <= TARGET_P99_MS else "MISSED"
            lines.append(f"p99 target {TARGET_P99_MS:.0f} ms at 5,000/s: {ok} ({p99:.2f} ms)")
    return lines


def _jsonable(values: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in values.items() if k != "no_save"}


def main(argv: Sequence[str] | None = None) -> int:
    return run_async(run(parse_args(argv)))


if __name__ == "__main__":
    sys.exit(main())
