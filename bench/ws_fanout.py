"""WebSocket fan-out: sender-to-receiver latency at a paced message rate, and deliveries/s at
saturation, with the server in its own process and the load from other processes.

    python -m bench.ws_fanout [--connections 1000] [--rooms 100] [--users 100] [--workers 2]
                              [--latency 2000x10] [--sweep 4000x10,...,2000x100] [--profile 2000x100]

Topology: `--connections` WebSockets, each subscribed to one of `--rooms` public rooms (10 per
room by default), opened by `--users` users (several connections each, as several tabs would be).
For fan-out 100 every connection also subscribes (a `join` frame) to one of rooms/10 big rooms made
of ten small rooms' connections, so one message reaches 100 sockets.

A scenario `RATExFANOUT` posts RATE messages/s over WebSocket `message` frames, paced open loop (a
send never waits for an earlier one's ack), spread over the rooms of that fan-out, each from a
member of the room. The content carries the send time; every receiver (the sender included)
timestamps arrival, so latency = arrival - send on the machine's one clock. A message counts
once it reaches every subscriber of its room. Messages are persisted as any chat message (access
check, group-commit append, projections) before the server fans them out.

Each load process owns whole rooms (all their subscribers), so it checks completeness alone.
Server CPU is its process's, from /proc; PostgreSQL's is the server's backends' (pg_stat_activity);
the machine's is all cores busy, generators included. `--profile` runs py-spy on the server during
the named scenarios and prints where its CPU goes.
"""

from __future__ import annotations

import argparse
import array
import asyncio
import collections
import contextlib
import re
import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from multiprocessing.connection import Connection as Pipe
from typing import Any
from urllib.parse import urlsplit

import orjson

from gochat.tools.run import run_async

from . import profile as profiler
from . import wsraw
from .common import (
    bench_databases,
    format_row,
    format_table,
    latency_summary,
    load_average,
    machine_info,
    write_results,
)
from .gateway import CpuWindow, LoadProcesses, backend_pids, gochat_env, make_rooms, serve_commands, server_process
from .nodes import HOST, User, raise_open_files, signup_users
from .wsraw import RawWebSocket

TARGET_RATE = 2000
TARGET_P50_MS = 5.0
TARGET_P99_MS = 50.0
BIG_ROOM_OF = 10  # small rooms per big room
TEXT = "Lunch at noon? The new place on the corner has a terrace, and it should be sunny today."
_MARK = re.compile(r"^~(\d+) (\d+) (\d+\.\d+) ")


@dataclass(frozen=True, slots=True)
class Scenario:
    rate: int  # messages/s, all workers together
    fanout: int  # 10: small rooms, 100: big rooms (with the default topology)

    @property
    def name(self) -> str:
        return f"{self.rate}x{self.fanout}"


@dataclass(slots=True)
class Plan:
    """One load process's share: whole small rooms and the big rooms they make up."""

    url: str
    # (token, small room, big room) per connection
    conns: list[tuple[str, str, str]]


@dataclass(slots=True)
class Step:
    run: int
    rate: float  # this worker's share, messages/s
    big: bool
    start: float  # wall clock
    warmup: float
    duration: float
    drain: float


# --- the load process ---------------------------------------------------------------------------
@dataclass(slots=True)
class _Tally:
    """What one worker saw of one step."""

    step: Step
    expected_per_message: int
    sent: int = 0
    acks: int = 0
    errors: int = 0
    deliveries: int = 0
    in_window: int = 0  # deliveries that arrived inside the measured window
    counts: collections.Counter[int] = field(default_factory=collections.Counter)
    send_times: dict[int, float] = field(default_factory=dict)
    latencies: array.array[float] = field(default_factory=lambda: array.array("d"))
    ack_latencies: array.array[float] = field(default_factory=lambda: array.array("d"))
    max_behind: float = 0.0
    cpu: float = float("nan")
    sending: bool = True
    done: asyncio.Event = field(default_factory=asyncio.Event)

    @property
    def window(self) -> tuple[float, float]:
        start = self.step.start + self.step.warmup
        return start, start + self.step.duration

    def complete(self) -> bool:
        if self.sending:
            return False
        return self.acks >= self.sent and self.deliveries >= self.sent * self.expected_per_message


class Generator:
    def __init__(self, plan: Plan) -> None:
        self.plan = plan
        self.sockets: list[RawWebSocket] = []
        self.tally: _Tally | None = None
        self.subscribed = 0
        self.small: dict[str, list[int]] = collections.defaultdict(list)
        self.big: dict[str, list[int]] = collections.defaultdict(list)

    async def connect(self) -> int:
        gate = asyncio.Semaphore(50)
        url = urlsplit(self.plan.url)
        host, port = url.hostname or HOST, url.port or 80

        async def one(token: str, room: str) -> RawWebSocket:
            async with gate:
                return await wsraw.connect(host, port, "/ws", {"token": token, "room_id": room}, self.on_text)

        self.sockets = list(await asyncio.gather(*(one(t, r) for t, r, _ in self.plan.conns)))
        for i, (_, small, big) in enumerate(self.plan.conns):
            self.small[small].append(i)
            self.big[big].append(i)
        for ws, (_, _, big) in zip(self.sockets, self.plan.conns, strict=True):
            ws.send_text(orjson.dumps({"type": "join", "room_id": big}))
        deadline = time.monotonic() + 60
        while self.subscribed < 2 * len(self.sockets) and time.monotonic() < deadline:
            await asyncio.sleep(0.05)
        if self.subscribed < 2 * len(self.sockets):
            raise RuntimeError(f"only {self.subscribed} of {2 * len(self.sockets)} subscriptions confirmed")
        return len(self.sockets)

    def on_text(self, payload: bytes, now: float) -> None:
        frame = orjson.loads(payload)
        kind = frame.get("type")
        tally = self.tally
        if kind == "message":
            m = _MARK.match(frame.get("content", ""))
            if m is None or tally is None or int(m[1]) != tally.step.run:
                return
            seq, sent = int(m[2]), float(m[3])
            tally.deliveries += 1
            tally.counts[seq] += 1
            lo, hi = tally.window
            if lo <= now < hi:
                tally.in_window += 1
            if lo <= sent < hi:
                tally.latencies.append(now - sent)
            if tally.complete():
                tally.done.set()
        elif kind == "ack" and tally is not None:
            cmid = frame.get("client_msg_id") or ""
            run, _, seq_s = cmid.partition("-")
            if run == str(tally.step.run):
                tally.acks += 1
                sent = tally.send_times.get(int(seq_s), 0.0)
                lo, hi = tally.window
                if lo <= sent < hi:
                    tally.ack_latencies.append(now - sent)
                if tally.complete():
                    tally.done.set()
        elif kind == "subscribed":
            self.subscribed += 1
        elif kind == "error" and tally is not None:
            tally.errors += 1

    async def run(self, step: Step) -> dict[str, Any]:
        rooms = self.big if step.big else self.small
        expected = len(next(iter(rooms.values())))
        tally = self.tally = _Tally(step, expected)
        order = sorted(rooms)
        total = int(step.rate * (step.warmup + step.duration))
        cpu = asyncio.create_task(self._cpu_in_window(tally))
        await asyncio.sleep(max(0.0, step.start - time.time()))
        i = 0
        while i < total:
            now = time.time()
            due = min(total, int((now - step.start) * step.rate) + 1)
            tally.max_behind = max(tally.max_behind, now - (step.start + due / step.rate))
            while i < due:
                room = order[i % len(order)]
                members = rooms[room]
                ws = self.sockets[members[(i // len(order)) % len(members)]]
                sent = time.time()
                tally.send_times[i] = sent
                body = {
                    "type": "message",
                    "room_id": room,
                    "content": f"~{step.run} {i} {sent:.6f} {TEXT}",
                    "client_msg_id": f"{step.run}-{i}",
                }
                ws.send_text(orjson.dumps(body))
                tally.sent += 1
                i += 1
            await asyncio.sleep(0.001)
        tally.sending = False
        if tally.complete():
            tally.done.set()
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(tally.done.wait(), step.drain)
        await cpu
        self.tally = None
        missing = sum(max(0, expected - tally.counts.get(s, 0)) for s in range(tally.sent))
        return {
            "sent": tally.sent,
            "acks": tally.acks,
            "errors": tally.errors,
            "deliveries": tally.deliveries,
            "expected": tally.sent * expected,
            "missing": missing,
            "duplicates": sum(max(0, c - expected) for c in tally.counts.values()),
            "in_window": tally.in_window,
            "latencies": tally.latencies.tobytes(),
            "ack_latencies": tally.ack_latencies.tobytes(),
            "max_behind": tally.max_behind,
            "cpu": tally.cpu,
            "closed": dict(collections.Counter(str(ws.close_code) for ws in self.sockets if ws.closed.done())),
        }

    @staticmethod
    async def _cpu_in_window(tally: _Tally) -> None:
        lo, hi = tally.window
        await asyncio.sleep(max(0.0, lo - time.time()))
        c0, t0 = time.process_time(), time.perf_counter()
        await asyncio.sleep(max(0.0, hi - time.time()))
        tally.cpu = (time.process_time() - c0) / (time.perf_counter() - t0)

    async def close(self) -> None:
        for ws in self.sockets:
            ws.close()
        await asyncio.gather(*(ws.closed for ws in self.sockets), return_exceptions=True)


async def _serve_plan(plan: Plan, pipe: Pipe) -> int:
    gen = Generator(plan)
    try:
        return await serve_commands(pipe, gen.connect, {"run": gen.run})
    finally:
        await gen.close()


def _worker(plan: Plan, pipe: Pipe) -> None:
    raise_open_files()
    sys.exit(run_async(_serve_plan(plan, pipe)))


# --- the driver ------------------------------------------------------------------------------------
def layout(users: Sequence[User], rooms: int, connections: int) -> list[tuple[int, int]]:
    """(user index, small room) per connection: `connections / rooms` distinct users per room, and
    every user with the same number of connections, one per big room."""
    per_room = connections // rooms
    stride = len(users) // per_room
    if per_room * rooms != connections or stride < 1 or rooms % BIG_ROOM_OF:
        raise SystemExit("need connections = k * rooms, users >= connections/rooms, rooms a multiple of 10")
    return [((r + k * stride) % len(users), r) for k in range(per_room) for r in range(rooms)]


async def populate(url: str, args: argparse.Namespace) -> list[Plan]:
    """Users, small and big rooms over HTTP; the connections split by big room over the workers."""
    t0 = time.perf_counter()
    users = await signup_users(url, args.users)
    t1 = time.perf_counter()
    conns = layout(users, args.rooms, args.connections)
    members = [[users[u] for u, r in conns if r == room] for room in range(args.rooms)]
    small = await make_rooms(url, members)
    groups = args.rooms // BIG_ROOM_OF
    big = await make_rooms(url, [[m for r in range(g * 10, g * 10 + 10) for m in members[r]] for g in range(groups)])
    print(f"{args.users} users in {t1 - t0:.1f} s, {args.rooms + groups} rooms in {time.perf_counter() - t1:.1f} s")
    plans = [Plan(url, []) for _ in range(min(args.workers, groups))]
    for u, r in conns:
        g = r // BIG_ROOM_OF
        plans[g % len(plans)].conns.append((users[u].token, small[r], big[g]))
    return plans


@dataclass(slots=True)
class Outcome:
    scenario: Scenario
    seconds: float
    results: list[dict[str, Any]]
    server_cpu: float
    postgres_cpu: float
    machine_cpu: float
    load: float = field(default_factory=load_average)
    profile: list[tuple[str, float]] | None = None

    def total(self, key: str) -> int:
        return int(sum(r[key] for r in self.results))

    def values(self, key: str) -> list[float]:
        out: list[float] = []
        for r in self.results:
            out.extend(array.array("d", r[key]))
        return out

    @property
    def complete(self) -> bool:
        return self.total("missing") == 0 and self.total("acks") >= self.total("sent")

    @property
    def offered(self) -> float:
        return float(self.scenario.rate * self.scenario.fanout)

    @property
    def deliveries_per_s(self) -> float:
        return self.total("in_window") / self.seconds

    def row(self) -> list[Any]:
        lat = latency_summary(self.values("latencies"))
        ack = latency_summary(self.values("ack_latencies"))
        return [
            self.scenario.name,
            self.total("sent"),
            f"{self.total('deliveries'):,}/{self.total('expected'):,}",
            self.offered,
            self.deliveries_per_s,
            lat["p50_ms"],
            lat["p99_ms"],
            lat["max_ms"],
            ack["p99_ms"],
            self.server_cpu * 100,
            self.postgres_cpu * 100,
            sum(r["cpu"] for r in self.results) * 100,
            self.machine_cpu * 100,
            max(r["max_behind"] for r in self.results) * 1000,
        ]

    def as_dict(self) -> dict[str, Any]:
        lat = {k: round(v, 3) for k, v in latency_summary(self.values("latencies")).items()}
        ack = {f"ack_{k}": round(v, 3) for k, v in latency_summary(self.values("ack_latencies")).items()}
        return {
            "scenario": self.scenario.name,
            "rate": self.scenario.rate,
            "fanout": self.scenario.fanout,
            **{k: self.total(k) for k in ("sent", "acks", "errors", "deliveries", "expected", "missing", "duplicates")},
            "deliveries_per_s": round(self.deliveries_per_s, 1),
            **lat,
            **ack,
            "server_cpu": round(self.server_cpu, 3),
            "postgres_cpu": round(self.postgres_cpu, 3),
            "generator_cpu": [round(r["cpu"], 3) for r in self.results],
            "machine_cpu": round(self.machine_cpu, 3),
            "generator_max_behind_ms": round(max(r["max_behind"] for r in self.results) * 1000, 1),
            "load_1m": round(self.load, 2),
            "profile": self.profile,
        }


COLUMNS = [
    "scenario", "sent", "delivered/expected", "offered/s", "deliveries/s", "p50 ms", "p99 ms", "max ms",
    "ack p99 ms", "server CPU %", "pg CPU %", "gen CPU %", "machine %", "gen behind ms",
]  # fmt: skip


class Driver:
    def __init__(self, args: argparse.Namespace, server_pid: int, dsn: str, plans: Sequence[Plan]) -> None:
        self.args = args
        self.server_pid = server_pid
        self.dsn = dsn
        total = sum(len(p.conns) for p in plans)
        self.shares = [len(p.conns) / total for p in plans]
        self.load = LoadProcesses(_worker, plans)
        self.runs = 0

    async def ready(self) -> int:
        return sum(await self.load.answers(180))

    async def run(self, scenario: Scenario, profile: bool) -> Outcome:
        a = self.args
        self.runs += 1
        start = time.time() + 0.5
        big = scenario.fanout > BIG_ROOM_OF
        self.load.send(
            "run", [Step(self.runs, scenario.rate * s, big, start, a.warmup, a.duration, a.drain) for s in self.shares]
        )
        pids = backend_pids(self.dsn)
        server, postgres = CpuWindow(lambda: [self.server_pid]), CpuWindow(lambda: pids)
        machine = CpuWindow(list)
        await asyncio.sleep(max(0.0, start + a.warmup - time.time()))
        spy = profiler.start(self.server_pid, a.duration, f"ws-fanout-{self.runs}") if profile else None
        for w in (server, postgres, machine):
            w.start()
        await asyncio.sleep(max(0.0, start + a.warmup + a.duration - time.time()))
        for w in (server, postgres, machine):
            w.stop()
        results = await self.load.answers(a.duration + a.drain + 120)
        outcome = Outcome(scenario, a.duration, results, server.shares, postgres.shares, machine.machine)
        if spy is not None:
            outcome.profile = await asyncio.to_thread(profiler.summary, spy)
        return outcome

    async def quiet(self, limit: float = 120.0) -> None:
        """Wait until the server is idle (a backlog drained), so the next run starts clean. Idle,
        1,000 sockets cost it ~1% of a core; a starved server working a backlog still gets more."""
        deadline = time.monotonic() + limit
        while time.monotonic() < deadline:
            window = CpuWindow(lambda: [self.server_pid])
            window.start()
            await asyncio.sleep(2.0)
            window.stop()
            if window.shares < 0.03:
                return
        print(f"note: the server was still busy {limit:.0f} s after the run", flush=True)


def _scenarios(text: str) -> list[Scenario]:
    out = []
    for part in text.split(","):
        part = part.strip()
        if not part:
            continue
        rate, _, fanout = part.partition("x")
        try:
            out.append(Scenario(int(rate), int(fanout or 10)))
        except ValueError:
            raise argparse.ArgumentTypeError(f"not RATExFANOUT: {part!r}") from None
    return out


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(prog="python -m bench.ws_fanout", description=__doc__.split("\n\n")[0])
    p.add_argument("--connections", type=int, default=1000, help="WebSockets (1000)")
    p.add_argument("--rooms", type=int, default=100, help="small rooms, connections/rooms subscribers each (100)")
    p.add_argument("--users", type=int, default=100, help="users owning the connections (100)")
    p.add_argument("--workers", type=int, default=2, help="load-generating processes (2)")
    p.add_argument(
        "--latency",
        type=_scenarios,
        default=_scenarios("500x10,1000x10,2000x10"),
        help="latency runs, RATExFANOUT (500x10,1000x10,2000x10: the lower rates show a shared machine's share)",
    )
    p.add_argument(
        "--sweep",
        type=_scenarios,
        default=_scenarios("4000x10,6000x10,8000x10,500x100,1000x100,1500x100,2000x100,3000x100"),
        help="saturation runs, RATExFANOUT; a fan-out's sweep stops once deliveries/s stop rising",
    )
    p.add_argument("--profile", type=_scenarios, default=[], help="py-spy the server during these scenarios")
    p.add_argument("--warmup", type=float, default=2.0, help="unmeasured seconds at the start of each run (2)")
    p.add_argument("--duration", type=float, default=8.0, help="measured seconds per run (8)")
    p.add_argument("--drain", type=float, default=20.0, help="longest wait for stragglers after sending (20)")
    p.add_argument("--no-save", action="store_true", help="do not write bench/results/ws_fanout.json")
    return p.parse_args(argv)


async def run(args: argparse.Namespace) -> int:
    outcomes: list[Outcome] = []
    async with bench_databases() as dbs:
        machine = machine_info(dbs.server)
        dsn = await asyncio.to_thread(dbs.new)
        per_user = -(-args.connections // args.users)
        env = gochat_env(dsn, GOCHAT_WS_MAX_CONNECTIONS_PER_USER=str(per_user + 20))
        print(f"PostgreSQL {machine['postgres']} ({machine['postgres_source']}), {machine['cores']} cores", flush=True)
        if machine["load_1m"] > 0.5:
            print(f"note: load average {machine['load_1m']:.2f} before the run: other work shares the CPUs", flush=True)
        async with server_process(["-m", "gochat", "serve"], env, name="fanout") as server:
            plans = await populate(server.url, args)
            driver = Driver(args, server.pid, dsn, plans)
            try:
                t2 = time.perf_counter()
                opened = await driver.ready()
                print(f"{opened} connections open and subscribed in {time.perf_counter() - t2:.1f} s", flush=True)
                await asyncio.sleep(2)  # presence and join frames settle
                outcomes += await _series(driver, args.latency, args.profile, sweep=False)
                outcomes += await _series(driver, args.sweep, args.profile, sweep=True)
            finally:
                await driver.load.stop()

    print()
    print(format_table(COLUMNS, [o.row() for o in outcomes]))
    for o in outcomes:
        if o.profile:
            print(f"\nserver profile during {o.scenario.name} (share of busy samples, self time):")
            for name, share in o.profile:
                print(f"  {share:6.1f}  {name}")
    for line in _verdicts(outcomes, args):
        print(line)
    if not args.no_save:
        payload = {"machine": machine, "args": _jsonable(vars(args)), "results": [o.as_dict() for o in outcomes]}
        print(f"wrote {write_results('ws_fanout', payload)}")
    return 0


async def _series(
    driver: Driver, scenarios: Sequence[Scenario], profile: Sequence[Scenario], sweep: bool
) -> list[Outcome]:
    outcomes: list[Outcome] = []
    best: dict[int, float] = {}
    for s in scenarios:
        if sweep and s.fanout in best and best[s.fanout] < 0:
            continue  # that fan-out already stopped rising
        outcome = await driver.run(s, s in profile)
        outcomes.append(outcome)
        print(", ".join(f"{c} {v}" for c, v in zip(COLUMNS, format_row(outcome.row()), strict=True)), flush=True)
        if sweep:
            prev = best.get(s.fanout, 0.0)
            rate = outcome.deliveries_per_s
            # Past saturation, or so far past it that the backlog outlived the drain.
            best[s.fanout] = rate if rate > prev * 1.05 and outcome.complete else -1.0
        await driver.quiet()
    return outcomes


def _verdicts(outcomes: Sequence[Outcome], args: argparse.Namespace) -> list[str]:
    lines = []
    for o in outcomes:
        if o.scenario == Scenario(TARGET_RATE, 10) and args.connections == 1000:
            lat = latency_summary(o.values("latencies"))
            ok = lat["p50_ms"] <= TARGET_P50_MS and lat["p99_ms"] <= TARGET_P99_MS and o.complete
            lines.append(
                f"latency target at {TARGET_RATE:,}/s (p50 <= {TARGET_P50_MS:.0f} ms, p99 <= {TARGET_P99_MS:.0f} ms,"
                f" complete): {'met' if ok else 'MISSED'} (p50 {lat['p50_ms']:.2f} ms, p99 {lat['p99_ms']:.2f} ms,"
                f" {o.total('missing')} missing, {o.total('acks')}/{o.total('sent')} acked)"
            )
    if outcomes:
        peak = max(outcomes, key=lambda o: o.deliveries_per_s)
        lines.append(f"peak: {peak.deliveries_per_s:,.0f} deliveries/s at {peak.scenario.name}")
    return lines


def _jsonable(values: dict[str, Any]) -> dict[str, Any]:
    out = {k: v for k, v in values.items() if k != "no_save"}
    for key in ("latency", "sweep", "profile"):
        out[key] = [s.name for s in values[key]]
    return out


def main(argv: Sequence[str] | None = None) -> int:
    return run_async(run(parse_args(argv)))


if __name__ == "__main__":
    sys.exit(main())
