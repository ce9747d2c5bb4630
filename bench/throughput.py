"""The seed's "10k+ messages/second", measured honestly: messages per second persisted, acked and
delivered by one gochat process at fan-out 1 and 10, with PostgreSQL on the same two cores, and the
CPU each message costs the server and PostgreSQL (so what a PostgreSQL of its own would change).

    python -m bench.throughput [--fanout 1,10] [--sockets 100] [--rates 1000,2000,...]

Every socket is a different user and publishes into its own room (fan-out 1) or into a room of 10
(fan-out 10), paced open loop at a rising total rate, with the load generator of bench/compare.py.
A step keeps up when every message was acked and reached every member before the drain ended, with
p99 under `--keep-up-p99`. Results: bench/results/throughput.json.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from typing import Any

import aiohttp

from gochat.client import GochatClient
from gochat.tools.run import run_async

from .common import bench_databases, load_average, machine_info, write_results
from .compare import Endpoint, Topology, measure
from .gateway import PostgresCpu, gochat_env, server_process
from .nodes import HOST, User, raise_open_files, signup_users

QUICK_RATES = (1000, 2000, 4000, 6000, 8000, 10000, 12000)


async def _rooms(url: str, users: Sequence[User], fanout: int) -> list[str]:
    """A public room per `fanout` consecutive users, made by the first and joined by the rest."""
    async with aiohttp.ClientSession() as session:

        def client(user: User) -> GochatClient:
            chat = GochatClient(url, session=session)
            chat.access_token = user.token
            return chat

        rooms = []
        for start in range(0, len(users), fanout):
            members = users[start : start + fanout]
            room = str((await client(members[0]).create_room(f"t{start}", type="public"))["id"])
            await asyncio.gather(*(client(u).join(room) for u in members[1:]))
            rooms.append(room)
        return rooms


@asynccontextmanager
async def gochat(database_url: str, sockets: int, fanout: int) -> AsyncIterator[Endpoint]:
    async with server_process(["-m", "gochat", "serve"], gochat_env(database_url), name="throughput") as server:
        users = await signup_users(server.url, sockets)
        rooms = await _rooms(server.url, users, fanout)
        queries = [{"token": u.token, "room_id": rooms[i // fanout]} for i, u in enumerate(users)]
        yield Endpoint("gochat", HOST, server.port, server.pid, queries)


def _split(queries: list[dict[str, str]], fanout: int, processes: int) -> Topology:
    """Whole rooms per load process, every socket publishing."""
    shares: list[list[dict[str, str]]] = [[] for _ in range(processes)]
    for i, q in enumerate(queries):
        shares[(i // fanout) % processes].append(q)
    return Topology(shares, [len(s) for s in shares], fanout)


def _print_step(name: str, step: dict[str, Any]) -> None:
    rate = step["rate"]
    server_us = step["server_cpu"] / max(rate, 1) * 1e6
    pg_us = step.get("postgres_cpu", float("nan")) / max(rate, 1) * 1e6
    print(
        f"  {name:11} {rate:>6}/s  acked {step['acks']:>7}/{step['sent']:<7} p50 {step['p50_ms']:7.1f} ms"
        f"  p99 {step['p99_ms']:8.1f} ms  server {step['server_cpu']:4.0%} ({server_us:5.0f} us/msg)"
        f"  postgres {step.get('postgres_cpu', 0):4.0%} ({pg_us:5.0f} us/msg)  load {step['load_1m']:.1f}"
        f"  {'kept up' if step['kept_up'] else 'BEHIND'}",
        flush=True,
    )


async def run(args: argparse.Namespace) -> int:
    out: dict[str, Any] = {}
    async with bench_databases() as dbs:
        machine = machine_info(dbs.server)
        for fanout in args.fanout:
            dsn = await asyncio.to_thread(dbs.new)
            name = f"fan-out {fanout}"
            before = load_average()
            print(f"{name}: {args.sockets} sockets, {args.sockets // fanout} rooms (load average {before:.2f})")
            async with gochat(dsn, args.sockets, fanout) as endpoint:
                topology = _split(endpoint.queries, fanout, args.processes)
                result = await measure(name, endpoint, topology, args, _print_step, PostgresCpu(dsn), profile=True)
            for step in result["steps"]:
                step["kept_up"] = step["kept_up"] and step["acks"] >= step["sent"]
            result["load_1m_before"] = before
            kept = [s for s in result["steps"] if s["kept_up"]]
            result["best_messages_per_s"] = max((s["rate"] for s in kept), default=0)
            out[str(fanout)] = result
    path = write_results(
        "throughput",
        {"machine": machine, "sockets": args.sockets, "keep_up_p99_ms": args.keep_up_p99, "fanouts": out},
    )
    print(f"wrote {path}")
    return 0


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(prog="python -m bench.throughput", description=__doc__.split("\n\n")[0])
    p.add_argument("--fanout", default="1,10", help="fan-outs to measure (1,10)")
    p.add_argument("--sockets", type=int, default=100, help="sockets, one user each (100)")
    p.add_argument("--rates", default=",".join(map(str, QUICK_RATES)), help="total messages/s per step")
    p.add_argument("--processes", type=int, default=2, help="load generator processes")
    p.add_argument("--warmup", type=float, default=1.0)
    p.add_argument("--duration", type=float, default=4.0)
    p.add_argument("--drain", type=float, default=8.0)
    p.add_argument("--keep-up-p99", type=float, default=1000.0, help="ms; a step above it did not keep up")
    p.add_argument("--no-stop", dest="stop_behind", action="store_false", help="go on after a step falls behind")
    args = p.parse_args(argv)
    args.fanout = [int(f) for f in args.fanout.split(",")]
    args.rates = [int(r) for r in args.rates.split(",")]
    if any(args.sockets % f for f in args.fanout):
        raise SystemExit("--sockets must be a multiple of every fan-out")
    return args


def main(argv: Sequence[str] | None = None) -> int:
    raise_open_files()
    return run_async(run(parse_args(argv)))


if __name__ == "__main__":
    sys.exit(main())
