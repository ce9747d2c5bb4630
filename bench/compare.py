"""gochat beside its peers, in one sitting, with one load generator: one room of `--subscribers`
sockets (100), `--publishers` of them (10) sending paced, open-loop messages at rising rates.

    python -m bench.compare [--quick | --full] [--targets gochat,bare,socketio_py,socketio_node]

Targets: gochat (every message authenticated, access-checked, persisted with its projections and
acked before it fans out), a bare aiohttp broadcast (bench/peers/bare.py: the floor), python-socketio
on aiohttp and Socket.IO on Node (bench/peers/; installed on first use, not by gochat). Each offered
rate R is R messages/s, so R x subscribers deliveries/s. A delivery's latency is its arrival minus
the send time carried in the message, on the machine's one clock. A step "keeps up" when every
message reached every subscriber before the drain ended and p99 stayed under `--keep-up-p99`.

Results: bench/results/compare.json (raw), and the ratios of gochat's best kept-up rate and its
latencies to each peer's, which bench/report.py plots. The load processes are the same for every
target, so the ratios hold on a busy machine better than the absolute figures do; the load average
before each target is recorded beside it.
"""

from __future__ import annotations

import argparse
import array
import asyncio
import collections
import contextlib
import os
import re
import signal
import subprocess
import sys
import time
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from multiprocessing.connection import Connection as Pipe
from pathlib import Path
from typing import Any

import aiohttp
import orjson

from gochat.client import GochatClient
from gochat.tools.run import run_async

from . import profile as profiler
from . import wsraw
from .common import bench_databases, latency_summary, load_average, machine_info, write_results
from .gateway import LoadProcesses, PostgresCpu, cpu_seconds, gochat_env, serve_commands, server_process
from .nodes import HOST, free_port, raise_open_files, signup_users
from .peers import install

TEXT = "Lunch at noon? The new place on the corner has a terrace, and it should be sunny today."
_MARK = re.compile(rb"~(\d+) (\d+) (\d+\.\d+) ")
TARGETS = ("gochat", "bare", "socketio_py", "socketio_node")
LABELS = {
    "gochat": "gochat (persisted)",
    "bare": "bare aiohttp broadcast",
    "socketio_py": "python-socketio (aiohttp)",
    "socketio_node": "Socket.IO (Node)",
}
QUICK_RATES = (200, 500, 1000, 1500, 2000, 3000)
FULL_RATES = (100, 200, 500, 750, 1000, 1250, 1500, 2000, 2500, 3000, 4000, 5000)


# --- what one load process does ------------------------------------------------------------------
@dataclass(frozen=True, slots=True)
class Plan:
    protocol: str  # "gochat" | "bare" | "socketio"
    host: str
    port: int
    queries: list[dict[str, str]]  # one per socket this process opens
    publishers: int  # the first `publishers` sockets send
    index: int  # this process's number, so its sequence numbers never collide with another's
    processes: int


@dataclass(frozen=True, slots=True)
class Step:
    run: int
    rate: float  # this process's share, messages/s
    start: float
    warmup: float
    duration: float
    drain: float


@dataclass(slots=True)
class _Tally:
    step: Step
    sockets: int
    sent: int = 0
    acks: int = 0
    deliveries: int = 0
    in_window: int = 0
    counts: collections.Counter[int] = field(default_factory=collections.Counter)
    latencies: array.array[float] = field(default_factory=lambda: array.array("d"))
    sending: bool = True
    expected_total: int = 0  # set by the driver's share: every delivery this process must see
    done: asyncio.Event = field(default_factory=asyncio.Event)

    @property
    def window(self) -> tuple[float, float]:
        start = self.step.start + self.step.warmup
        return start, start + self.step.duration


class Generator:
    def __init__(self, plan: Plan) -> None:
        self.plan = plan
        self.sockets: list[wsraw.RawWebSocket] = []
        self.tally: _Tally | None = None
        self.ready = 0

    # Socket.IO (Engine.IO v4) over a WebSocket: "0{..}" open, "40" connect (sent at once: the
    # server queues it behind its open packet), "2"/"3" ping/pong, '42["msg",..]' an event.
    # gochat: JSON frames. bare: the text as sent.
    def on_text(self, ws: wsraw.RawWebSocket | None, payload: bytes, now: float) -> None:
        protocol = self.plan.protocol
        if protocol == "socketio":
            if payload.startswith(b"42"):
                self._delivered(payload, now)
            elif payload == b"2" and ws is not None:
                ws.send_text(b"3")
            elif payload.startswith(b"40"):
                self.ready += 1
            return
        if protocol == "gochat":
            if b'"type":"message"' in payload:
                self._delivered(payload, now)
            elif b'"type":"ack"' in payload:
                if self.tally is not None:
                    self.tally.acks += 1
            elif b'"type":"subscribed"' in payload:
                self.ready += 1
            return
        self._delivered(payload, now)

    def _delivered(self, payload: bytes, now: float) -> None:
        tally = self.tally
        m = _MARK.search(payload)
        if tally is None or m is None or int(m[1]) != tally.step.run:
            return
        tally.deliveries += 1
        tally.counts[int(m[2])] += 1
        lo, hi = tally.window
        if lo <= now < hi:
            tally.in_window += 1
        sent = float(m[3])
        if lo <= sent < hi:
            tally.latencies.append(now - sent)
        if not tally.sending and tally.deliveries >= tally.expected_total:
            tally.done.set()

    async def connect(self) -> int:
        plan = self.plan
        path = {"gochat": "/ws", "bare": "/ws", "socketio": "/socket.io/"}[plan.protocol]
        gate = asyncio.Semaphore(25)

        async def one(query: dict[str, str]) -> wsraw.RawWebSocket:
            async with gate:
                holder: list[wsraw.RawWebSocket] = []

                def on_text(payload: bytes, now: float) -> None:
                    self.on_text(holder[0] if holder else None, payload, now)

                ws = await wsraw.connect(plan.host, plan.port, path, query, on_text)
                holder.append(ws)
                if plan.protocol == "socketio":
                    ws.send_text(b"40")
                return ws

        self.sockets = list(await asyncio.gather(*(one(q) for q in plan.queries)))
        if plan.protocol == "bare":
            self.ready = len(self.sockets)
        deadline = time.monotonic() + 60
        while self.ready < len(self.sockets) and time.monotonic() < deadline:
            await asyncio.sleep(0.05)
        if self.ready < len(self.sockets):
            raise RuntimeError(f"only {self.ready} of {len(self.sockets)} sockets ready")
        return len(self.sockets)

    def _encode(self, publisher: int, run: int, seq: int, sent: float) -> bytes:
        content = f"~{run} {seq} {sent:.6f} {TEXT}"
        if self.plan.protocol == "gochat":
            room = self.plan.queries[publisher]["room_id"]
            body = {"type": "message", "room_id": room, "content": content, "client_msg_id": f"{run}-{seq}"}
            return orjson.dumps(body)
        if self.plan.protocol == "socketio":
            return b"42" + orjson.dumps(["msg", content])
        return content.encode()

    async def run(self, args: tuple[Step, int]) -> dict[str, Any]:
        step, expected_total = args
        plan = self.plan
        tally = self.tally = _Tally(step, len(self.sockets), expected_total=expected_total)
        total = int(step.rate * (step.warmup + step.duration))
        publishers = self.sockets[: plan.publishers]
        await asyncio.sleep(max(0.0, step.start - time.time()))
        i = 0
        while i < total:
            due = min(total, int((time.time() - step.start) * step.rate) + 1)
            while i < due:
                sent = time.time()
                seq = i * plan.processes + plan.index
                k = i % len(publishers)
                publishers[k].send_text(self._encode(k, step.run, seq, sent))
                tally.sent += 1
                i += 1
            await asyncio.sleep(0.001)
        tally.sending = False
        return {"sent": tally.sent}

    async def collect(self, _: object) -> dict[str, Any]:
        """Called by the driver once every process has sent: wait (bounded) for the deliveries."""
        tally = self.tally
        assert tally is not None
        if tally.deliveries < tally.expected_total:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(tally.done.wait(), tally.step.drain)
        self.tally = None
        return {
            "sockets": tally.sockets,
            "acks": tally.acks,
            "deliveries": tally.deliveries,
            "in_window": tally.in_window,
            "counts": dict(tally.counts),
            "latencies": tally.latencies.tobytes(),
        }

    async def close(self) -> None:
        for ws in self.sockets:
            ws.close()
        await asyncio.gather(*(ws.closed for ws in self.sockets), return_exceptions=True)


async def _serve(plan: Plan, pipe: Pipe) -> int:
    gen = Generator(plan)
    try:
        return await serve_commands(pipe, gen.connect, {"run": gen.run, "collect": gen.collect})
    finally:
        await gen.close()


def _worker(plan: Plan, pipe: Pipe) -> None:
    raise_open_files()
    sys.exit(run_async(_serve(plan, pipe)))


# --- the targets -----------------------------------------------------------------------------------
@dataclass(slots=True)
class Endpoint:
    protocol: str
    host: str
    port: int
    pid: int
    queries: list[dict[str, str]]  # gochat's carry the socket's room_id


@asynccontextmanager
async def _node_server(name: str) -> AsyncIterator[tuple[int, int]]:
    node = install.ensure_node()
    port = free_port()
    with Path(f"/tmp/gochat-bench-{name}-{os.getpid()}.log").open("wb") as log:
        proc = await asyncio.create_subprocess_exec(
            node, "server.js", HOST, str(port), cwd=install.NODE_DIR, stdout=log, stderr=subprocess.STDOUT
        )
    try:
        async with aiohttp.ClientSession() as session:
            for _ in range(100):
                with contextlib.suppress(aiohttp.ClientError, OSError):
                    async with session.get(f"http://{HOST}:{port}/readyz") as resp:
                        if resp.status == 200:
                            break
                await asyncio.sleep(0.1)
        yield proc.pid, port
    finally:
        if proc.returncode is None:
            proc.send_signal(signal.SIGTERM)
            try:
                await asyncio.wait_for(proc.wait(), 10)
            except TimeoutError:
                proc.kill()


@asynccontextmanager
async def target(name: str, subscribers: int, database_url: str | None) -> AsyncIterator[Endpoint]:
    if name == "gochat":
        assert database_url is not None
        async with server_process(["-m", "gochat", "serve"], gochat_env(database_url), name="compare") as server:
            users = await signup_users(server.url, subscribers)
            async with aiohttp.ClientSession() as session:
                owner = GochatClient(server.url, session=session)
                owner.access_token = users[0].token
                room = str((await owner.create_room("compare", type="public"))["id"])
                for user in users[1:]:
                    member = GochatClient(server.url, session=session)
                    member.access_token = user.token
                    await member.join(room)
            queries = [{"token": u.token, "room_id": room} for u in users]
            yield Endpoint("gochat", HOST, server.port, server.pid, queries)
        return
    if name in ("bare", "socketio_py"):
        module = {"bare": "bench.peers.bare", "socketio_py": "bench.peers.socketio_py"}[name]
        protocol = "bare" if name == "bare" else "socketio"
        query = {} if name == "bare" else {"EIO": "4", "transport": "websocket"}
        async with server_process(["-m", module], {}, name=name) as server:
            yield Endpoint(protocol, HOST, server.port, server.pid, [dict(query) for _ in range(subscribers)])
        return
    if name == "socketio_node":
        async with _node_server(name) as (pid, port):
            query = {"EIO": "4", "transport": "websocket"}
            yield Endpoint("socketio", HOST, port, pid, [dict(query) for _ in range(subscribers)])
        return
    raise SystemExit(f"unknown target {name!r} (choose from {', '.join(TARGETS)})")


# --- the driver ------------------------------------------------------------------------------------
@dataclass(frozen=True, slots=True)
class Topology:
    """Which sockets each load process opens and how many of them publish, and how many sockets
    each message reaches: `fanout` None means every socket (one room); a number means the room of
    the publisher, whose members are all in the publisher's process (whole rooms per process)."""

    shares: list[list[dict[str, str]]]
    publishers: list[int]
    fanout: int | None = None

    @staticmethod
    def one_room(queries: list[dict[str, str]], publishers: int, processes: int) -> Topology:
        return Topology(
            [queries[k::processes] for k in range(processes)],
            [len(range(k, publishers, processes)) for k in range(processes)],
        )


async def measure(
    name: str,
    endpoint: Endpoint,
    topology: Topology,
    args: argparse.Namespace,
    progress: Any,
    extra_cpu: Any = None,
    profile: bool = False,
) -> dict[str, Any]:
    """Run the rate sweep against one server; `extra_cpu()` (optional) returns CPU seconds used so
    far by processes serving it besides its own (PostgreSQL's backends). `profile`: py-spy the
    server during each step, so the step that fell behind says where the server's time went."""
    n = len(topology.shares)
    plans = [
        Plan(endpoint.protocol, endpoint.host, endpoint.port, topology.shares[k], topology.publishers[k], k, n)
        for k in range(n)
    ]
    all_publishers = sum(topology.publishers)
    load = LoadProcesses(_worker, plans)
    steps: list[dict[str, Any]] = []
    try:
        await load.answers(120)
        for run, rate in enumerate(args.rates, start=1):
            start = time.time() + 0.5
            steps_k = [
                Step(run, rate * topology.publishers[k] / all_publishers, start, args.warmup, args.duration, args.drain)
                for k in range(n)
            ]
            sent_k = [int(s.rate * (args.warmup + args.duration)) for s in steps_k]
            if topology.fanout is None:  # every process sees every message
                expected_k = [sum(sent_k) * len(topology.shares[k]) for k in range(n)]
            else:
                expected_k = [sent_k[k] * topology.fanout for k in range(n)]
            cpu0, t0 = cpu_seconds(endpoint.pid), time.perf_counter()
            gen0 = [cpu_seconds(proc.pid) for proc in load.procs]
            extra0 = extra_cpu() if extra_cpu else 0.0
            spy = profiler.start(endpoint.pid, args.warmup + args.duration, f"{name}-{run}") if profile else None
            load.send("run", list(zip(steps_k, expected_k, strict=True)))
            sent = sum(r["sent"] for r in await load.answers(args.warmup + args.duration + 60))
            load.send("collect", [None] * n)
            results = await load.answers(args.drain + 60)
            wall = time.perf_counter() - t0
            cpu = {"server_cpu": (cpu_seconds(endpoint.pid) - cpu0) / wall}
            # The busiest load process: near 100% of a core, the generator bounds the step, not the server.
            gen = [cpu_seconds(proc.pid) - c0 for proc, c0 in zip(load.procs, gen0, strict=True)]
            cpu["generator_cpu"] = max(gen) / wall
            if extra_cpu:
                cpu["postgres_cpu"] = (extra_cpu() - extra0) / wall
            per_message = topology.fanout or sum(len(share) for share in topology.shares)
            # a message reaches each process's sockets this many times at most; beyond is a duplicate
            per_process = [topology.fanout or len(share) for share in topology.shares]
            steps.append(_summarize(rate, sent, per_message, per_process, results, args, cpu))
            if spy is not None:
                steps[-1]["profile"] = await asyncio.to_thread(profiler.summary, spy, 12)
            progress(name, steps[-1])
            if not steps[-1]["kept_up"] and args.stop_behind:
                break
    finally:
        await load.stop()
    return {"label": LABELS.get(name, name), "load_1m_before": None, "steps": steps}


def _summarize(
    rate: int,
    sent: int,
    per_message: int,
    per_process: list[int],
    results: list[dict[str, Any]],
    args: argparse.Namespace,
    cpu: dict[str, float],
) -> dict[str, Any]:
    latencies = array.array("d")
    for r in results:
        latencies.frombytes(r["latencies"])
    deliveries = sum(r["deliveries"] for r in results)
    expected = sent * per_message
    duplicates = sum(
        max(0, c - bound) for bound, r in zip(per_process, results, strict=True) for c in r["counts"].values()
    )
    summary = latency_summary(latencies)
    missing = max(0, expected - (deliveries - duplicates))
    acks = sum(r["acks"] for r in results)
    return {
        "rate": rate,
        "fanout": per_message,
        "offered_deliveries_per_s": rate * per_message,
        "sent": sent,
        "acks": acks,
        "deliveries": deliveries,
        "expected": expected,
        "missing": missing,
        "duplicates": duplicates,
        "deliveries_per_s": sum(r["in_window"] for r in results) / args.duration,
        **summary,
        **cpu,
        "kept_up": missing == 0 and summary["p99_ms"] <= args.keep_up_p99,
        "load_1m": load_average(),
    }


def ratios(results: dict[str, dict[str, Any]]) -> dict[str, dict[str, float]]:
    """gochat's best kept-up delivery rate, and its p50/p99 at the highest rate both kept up, as a
    ratio to each peer's."""
    if "gochat" not in results:
        return {}

    def best(name: str) -> float:
        kept = [s["offered_deliveries_per_s"] for s in results[name]["steps"] if s["kept_up"]]
        return float(max(kept, default=0))

    out: dict[str, dict[str, float]] = {}
    ours = {s["rate"]: s for s in results["gochat"]["steps"] if s["kept_up"]}
    for name, result in results.items():
        if name == "gochat":
            continue
        theirs = {s["rate"]: s for s in result["steps"] if s["kept_up"]}
        common = sorted(set(ours) & set(theirs))
        entry = {"throughput": best("gochat") / best(name) if best(name) else float("nan")}
        if common:
            r = common[-1]
            entry["at_rate"] = r
            entry["p50"] = ours[r]["p50_ms"] / theirs[r]["p50_ms"]
            entry["p99"] = ours[r]["p99_ms"] / theirs[r]["p99_ms"]
        out[name] = entry
    return out


def _print_step(name: str, step: dict[str, Any]) -> None:
    print(
        f"  {name:14} {step['rate']:>5}/s x{step['offered_deliveries_per_s'] // max(step['rate'], 1):<4}"
        f" {step['deliveries_per_s']:>9,.0f} deliveries/s  p50 {step['p50_ms']:7.1f} ms  p99 {step['p99_ms']:8.1f} ms"
        f"  missing {step['missing']:>6}  cpu {step['server_cpu']:4.0%}  pg {step.get('postgres_cpu', 0):4.0%}"
        f"  gen {step.get('generator_cpu', 0):4.0%}"
        f"  load {step['load_1m']:.1f}"
        f"  {'kept up' if step['kept_up'] else 'BEHIND'}",
        flush=True,
    )


async def run(args: argparse.Namespace) -> int:
    if any(t.startswith("socketio") for t in args.targets):
        install.ensure_python("socketio")
    results: dict[str, dict[str, Any]] = {}
    async with bench_databases() as dbs:
        machine = machine_info(dbs.server)
        for name in args.targets:
            database_url = await asyncio.to_thread(dbs.new) if name == "gochat" else None
            before = load_average()
            print(f"{LABELS[name]} (load average {before:.2f})", flush=True)
            async with target(name, args.subscribers, database_url) as endpoint:
                topology = Topology.one_room(endpoint.queries, args.publishers, args.processes)
                extra = PostgresCpu(database_url) if database_url else None
                result = await measure(name, endpoint, topology, args, _print_step, extra, profile=name == "gochat")
            result["load_1m_before"] = before
            results[name] = result
    payload = {
        "machine": machine,
        "mode": args.mode,
        "topology": {"subscribers": args.subscribers, "publishers": args.publishers, "processes": args.processes},
        "window": {"warmup_s": args.warmup, "duration_s": args.duration, "drain_s": args.drain},
        "keep_up_p99_ms": args.keep_up_p99,
        "targets": results,
        "ratios": ratios(results),
    }
    path = write_results("compare", payload)
    print(f"wrote {path}")
    for peer, entry in payload["ratios"].items():
        print(f"gochat / {LABELS[peer]}: " + ", ".join(f"{k} {v:.2f}" for k, v in entry.items()))
    return 0


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(prog="python -m bench.compare", description=__doc__.split("\n\n")[0])
    mode = p.add_mutually_exclusive_group()
    mode.add_argument("--quick", dest="mode", action="store_const", const="quick", help="fewer, shorter steps")
    mode.add_argument("--full", dest="mode", action="store_const", const="full", help="more, longer steps")
    p.set_defaults(mode="quick")
    p.add_argument("--targets", default=",".join(TARGETS), help="comma-separated: " + ", ".join(TARGETS))
    p.add_argument("--rates", help="messages/s per step, comma-separated (default: by mode)")
    p.add_argument("--subscribers", type=int, default=100)
    p.add_argument("--publishers", type=int, default=10)
    p.add_argument("--processes", type=int, default=2, help="load generator processes")
    p.add_argument("--keep-up-p99", type=float, default=1000.0, help="ms; a step above it did not keep up")
    p.add_argument("--no-stop", dest="stop_behind", action="store_false", help="go on after a step falls behind")
    args = p.parse_args(argv)
    args.targets = [t for t in args.targets.split(",") if t]
    full = args.mode == "full"
    args.rates = [int(r) for r in args.rates.split(",")] if args.rates else list(FULL_RATES if full else QUICK_RATES)
    args.warmup, args.duration, args.drain = (2.0, 8.0, 10.0) if full else (1.0, 4.0, 6.0)
    if args.publishers > args.subscribers:
        raise SystemExit("publishers are some of the subscribers: --publishers <= --subscribers")
    return args


def main(argv: Sequence[str] | None = None) -> int:
    raise_open_files()
    run_async(run(parse_args(argv)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
