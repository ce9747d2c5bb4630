"""Nodes relaying through Redis: cross-node delivery latency, and fan-out with 2 nodes against 1.

    python -m bench.cluster [--rate 2000] [--duration 10] [--fanout-rate 300] [--subscribers 1000]
                            [--scenarios latency,fanout]

Every node is a real `gochat serve` process on a throwaway database, all sharing one Redis.
- latency: nodes A and B. 100 sender connections on A post on a fixed schedule (open loop) at --rate
  messages/s in total, spread over 10 rooms; one connection per room on B receives. Latency is the
  wall-clock time from the send on A to the frame on B (both load processes on this machine's
  clock), so it includes A's commit, the publish, Redis, B's relay and hub. The ack's latency on
  A and B's own `redis_pubsub_lag_seconds` (commit -> arrival) are reported beside it.
- fanout: --subscribers connections in 4 rooms read everything (raw sockets that only count
  frames, so the load side stays cheap); 64 sender connections post at --fanout-rate messages/s.
  With 1 node every connection is on it; with 2, receivers and senders alternate between A and B.
  Deliveries/s = frames counted / (last frame - first send).

This machine has 2 cores shared by the nodes, PostgreSQL, Redis and the load processes: the
figures say what one small box does, not what 2 machines would.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import math
import sys
import time
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import aiohttp
import orjson

from gochat.tools.run import run_async

from .common import bench_databases, format_table, latency_summary, load_average, machine_info, write_results
from .nodes import (
    FrameCounter,
    Server,
    create_room,
    deployment,
    in_processes,
    node_env,
    raw_websocket,
    redis_server,
    signup_users,
    start_server,
    wait_ready,
)

SETUP_MARGIN = 25.0  # seconds for the load processes to connect before the schedule starts
DRAIN_LIMIT = 60.0  # after the schedule: how long receivers wait for the last frames
# A connection's frames are handled one after the other (their order is the client's), so one
# sender connection posts at most 1 / (post latency) messages/s: the load comes from many, as from
# many users, each at a human-ish rate of at most ~20 messages/s.
SENDERS_PER_ROOM = 10
FANOUT_SENDERS = 64


# --- load processes (module level: they are pickled by name) -------------------------------------------
@dataclass(frozen=True)
class SendPlan:
    conns: list[tuple[str, str, str]]  # (base url, token, room)
    per_conn: int  # messages per connection
    rate_per_conn: float
    start_at: float


async def send_load(plan: SendPlan) -> dict[str, Any]:
    """Post on schedule over WebSockets; returns send times by client_msg_id and ack latencies."""
    sent: dict[str, float] = {}
    acks: list[float] = []
    async with aiohttp.ClientSession() as http:
        sockets = []
        for url, token, room in plan.conns:
            ws = await http.ws_connect(url.replace("http", "ws", 1) + "/ws", params={"token": token, "room_id": room})
            sockets.append((ws, room))

        async def read(ws: aiohttp.ClientWebSocketResponse) -> None:
            async for msg in ws:
                frame = orjson.loads(msg.data)
                if frame.get("type") == "ack":
                    acks.append(time.time() - sent[frame["client_msg_id"]])

        readers = [asyncio.ensure_future(read(ws)) for ws, _ in sockets]

        async def pace(n: int, ws: aiohttp.ClientWebSocketResponse, room: str) -> None:
            # connections start staggered over one interval, so sends spread evenly
            offset = n / len(sockets) / plan.rate_per_conn
            for k in range(plan.per_conn):
                due = plan.start_at + offset + k / plan.rate_per_conn
                await asyncio.sleep(max(0.0, due - time.time()))
                cmid = uuid.uuid4().hex
                sent[cmid] = time.time()
                await ws.send_str(orjson.dumps({"type": "message", "room_id": room, "content": "x" * 40,
                                                "client_msg_id": cmid}).decode())  # fmt: skip

        await asyncio.gather(*(pace(n, ws, room) for n, (ws, room) in enumerate(sockets)))
        deadline = time.time() + DRAIN_LIMIT
        while len(acks) < len(sent) and time.time() < deadline:
            await asyncio.sleep(0.05)
        for ws, _ in sockets:
            await ws.close()
        for task in readers:
            task.cancel()
    return {"sent": sent, "acks": acks}


@dataclass(frozen=True)
class ReceivePlan:
    conns: list[tuple[str, str, str]]
    expected: int
    deadline: float


async def receive_load(plan: ReceivePlan) -> dict[str, float]:
    """Arrival time of every message frame, by client_msg_id, until `expected` or the deadline."""
    got: dict[str, float] = {}
    async with aiohttp.ClientSession() as http:
        sockets = [
            await http.ws_connect(url.replace("http", "ws", 1) + "/ws", params={"token": token, "room_id": room})
            for url, token, room in plan.conns
        ]

        async def read(ws: aiohttp.ClientWebSocketResponse) -> None:
            async for msg in ws:
                frame = orjson.loads(msg.data)
                if frame.get("type") == "message":
                    got.setdefault(frame["client_msg_id"], time.time())

        readers = [asyncio.ensure_future(read(ws)) for ws in sockets]
        while len(got) < plan.expected and time.time() < plan.deadline:
            await asyncio.sleep(0.05)
        for ws in sockets:
            await ws.close()
        for task in readers:
            task.cancel()
    return got


async def count_load(plan: ReceivePlan) -> dict[str, float]:
    """Raw sockets that count message frames; returns the count and when the last one came."""
    counter = FrameCounter(b'"message_id"')
    last = 0.0
    done = asyncio.Event()
    writers = []

    async def read(reader: asyncio.StreamReader) -> None:
        nonlocal last
        while data := await reader.read(1 << 16):
            if counter.feed(data):
                last = time.time()
                if counter.count >= plan.expected:
                    done.set()

    tasks = []
    for url, token, room in plan.conns:
        port = int(url.rsplit(":", 1)[1])
        reader, writer = await raw_websocket(port, f"/ws?token={token}&room_id={room}")
        writers.append(writer)
        tasks.append(asyncio.ensure_future(read(reader)))
    with contextlib.suppress(TimeoutError):
        await asyncio.wait_for(done.wait(), max(0.0, plan.deadline - time.time()))
    for writer in writers:
        writer.close()
    for task in tasks:
        task.cancel()
    return {"count": float(counter.count), "last": last}


# --- scenarios --------------------------------------------------------------------------------------------
def split(items: Sequence[Any], parts: int) -> list[list[Any]]:
    return [list(items[i::parts]) for i in range(parts)]


async def lag_from_metrics(url: str) -> dict[str, float]:
    """B's redis_pubsub_lag_seconds: mean, and the bucket bounds holding p50 and p99."""
    async with aiohttp.ClientSession() as http, http.get(url + "/metrics") as resp:
        text = await resp.text()
    buckets: list[tuple[float, float]] = []
    total = count = 0.0
    for line in text.splitlines():
        if line.startswith("redis_pubsub_lag_seconds_bucket"):
            le = line.split('le="', 1)[1].split('"', 1)[0]
            buckets.append((math.inf if le == "+Inf" else float(le), float(line.rsplit(" ", 1)[1])))
        elif line.startswith("redis_pubsub_lag_seconds_sum"):
            total = float(line.rsplit(" ", 1)[1])
        elif line.startswith("redis_pubsub_lag_seconds_count"):
            count = float(line.rsplit(" ", 1)[1])

    def bound(q: float) -> float:
        return next((le for le, n in buckets if n >= q * count), math.nan) * 1000

    return {"mean_ms": total / count * 1000 if count else math.nan, "p50_le_ms": bound(0.5), "p99_le_ms": bound(0.99)}


async def latency(url_a: str, url_b: str, rate: float, duration: float) -> dict[str, Any]:
    rooms_n, senders_per_room = 10, SENDERS_PER_ROOM
    users = await signup_users(url_a, rooms_n * (senders_per_room + 1))
    senders, receivers = users[: rooms_n * senders_per_room], users[rooms_n * senders_per_room :]
    rooms = [
        await create_room(url_a, receivers[i], senders[i * senders_per_room : (i + 1) * senders_per_room], f"lat{i}")
        for i in range(rooms_n)
    ]
    send_conns = [(url_a, s.token, rooms[i // senders_per_room]) for i, s in enumerate(senders)]
    recv_conns = [(url_b, r.token, rooms[i]) for i, r in enumerate(receivers)]
    rate_per_conn = rate / len(send_conns)
    per_conn = int(duration * rate_per_conn)
    start_at = time.time() + SETUP_MARGIN
    expected = per_conn * len(send_conns)
    recv_plan = ReceivePlan(recv_conns, expected, start_at + duration + DRAIN_LIMIT)
    send_plan = SendPlan(send_conns, per_conn, rate_per_conn, start_at)
    received, sent_result = await asyncio.gather(
        in_processes(receive_load, [recv_plan]), in_processes(send_load, [send_plan])
    )
    got, sent = received[0], sent_result[0]["sent"]
    lat = [got[c] - t for c, t in sent.items() if c in got]
    span = max(sent.values()) - min(sent.values())
    return {
        "rate_offered": rate,
        "rate_sent": len(sent) / span if span else math.nan,
        "messages": len(sent),
        "lost": len(sent) - len(lat),
        "cross_node": latency_summary(lat),
        "ack_on_a": latency_summary(sent_result[0]["acks"]),
        "redis_pubsub_lag_on_b": await lag_from_metrics(url_b),
    }


async def fanout(urls: Sequence[str], rate: float, duration: float, subscribers: int) -> dict[str, Any]:
    rooms_n, users_per_room, senders_n = 4, 10, FANOUT_SENDERS
    users = await signup_users(urls[0], rooms_n * users_per_room)
    groups = split(users, rooms_n)
    rooms = [await create_room(urls[0], g[0], g[1:], f"fan{i}") for i, g in enumerate(groups)]
    # subscribers spread over rooms, users and nodes; senders likewise
    recv_conns = [
        (urls[i % len(urls)], groups[i % rooms_n][(i // rooms_n) % users_per_room].token, rooms[i % rooms_n])
        for i in range(subscribers)
    ]
    send_conns = [(urls[i % len(urls)], groups[i % rooms_n][0].token, rooms[i % rooms_n]) for i in range(senders_n)]
    per_room = subscribers // rooms_n
    rate_per_conn = rate / senders_n
    per_conn = int(duration * rate_per_conn)
    start_at = time.time() + SETUP_MARGIN
    expected_total = per_conn * senders_n * per_room
    plans = [
        ReceivePlan(part, expected_total * len(part) // subscribers, start_at + duration + DRAIN_LIMIT)
        for part in split(recv_conns, 2)
    ]
    send_plan = SendPlan(send_conns, per_conn, rate_per_conn, start_at)
    counts, sent_result = await asyncio.gather(in_processes(count_load, plans), in_processes(send_load, [send_plan]))
    first_send = min(sent_result[0]["sent"].values())
    delivered = sum(c["count"] for c in counts)
    last = max(c["last"] for c in counts)
    return {
        "nodes": len(urls),
        "subscribers": subscribers,
        "messages": per_conn * senders_n,
        "deliveries_expected": expected_total,
        "deliveries": int(delivered),
        "seconds": last - first_send,
        "deliveries_per_s": delivered / (last - first_send),
        "ack": latency_summary(sent_result[0]["acks"]),
    }


def latency_table(runs: list[dict[str, Any]]) -> str:
    columns = ["offered/s", "sent/s", "messages", "not on B", "A->B p50 ms", "A->B p99 ms", "ack p50 ms",
               "ack p99 ms", "lag mean ms"]  # fmt: skip
    rows = [
        [r["rate_offered"], r["rate_sent"], r["messages"], r["lost"], r["cross_node"]["p50_ms"],
         r["cross_node"]["p99_ms"], r["ack_on_a"]["p50_ms"], r["ack_on_a"]["p99_ms"],
         r["redis_pubsub_lag_on_b"]["mean_ms"]]
        for r in runs
    ]  # fmt: skip
    return format_table(columns, rows)


def fanout_table(results: list[dict[str, Any]]) -> str:
    columns = ["nodes", "subscribers", "messages", "delivered", "expected", "deliveries/s", "ack p99 ms"]
    keys = ["nodes", "subscribers", "messages", "deliveries", "deliveries_expected", "deliveries_per_s"]
    return format_table(columns, [[r[k] for k in keys] + [r["ack"]["p99_ms"]] for r in results])


@contextlib.asynccontextmanager
async def nodes(database_url: str, redis_url: str, count: int, **extra: str) -> Any:
    prefix, secret = deployment()
    servers: list[Server] = []
    try:
        for i in range(count):
            env = node_env(database_url, redis_url, prefix, secret, GOCHAT_NODE_ID=f"bench-{i}", **extra)
            servers.append(start_server(env, name=f"node{i}"))
        await wait_ready(servers)
        yield [s.url for s in servers]
    finally:
        for server in servers:
            server.stop()


async def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.cluster", description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--rate", default="2000", help="latency: messages/s offered on node A (a comma list: one run each)"
    )
    parser.add_argument("--duration", type=float, default=10.0, help="seconds of sending per run")
    parser.add_argument("--fanout-rate", type=float, default=300.0, help="fanout: messages/s offered")
    parser.add_argument("--subscribers", type=int, default=1000, help="fanout: receiving connections")
    parser.add_argument("--scenarios", default="latency,fanout")
    args = parser.parse_args(argv)
    scenarios = set(args.scenarios.split(","))
    load_before = load_average()
    results: dict[str, Any] = {"args": vars(args), "load_1m_before": load_before}
    extra = {"GOCHAT_WS_MAX_CONNECTIONS_PER_USER": "10000", "GOCHAT_WS_HEARTBEAT": "300"}
    with redis_server() as redis_url:
        async with bench_databases() as dbs:
            results["machine"] = machine_info(dbs.server)
            if "latency" in scenarios:
                results["latency"] = runs = []
                for rate in (float(r) for r in args.rate.split(",")):
                    async with nodes(dbs.new(), redis_url, 2, **extra) as (a, b):
                        runs.append(await latency(a, b, rate, args.duration))
                print(latency_table(runs))
            if "fanout" in scenarios:
                rows = []
                for count in (1, 2):
                    async with nodes(dbs.new(), redis_url, count, **extra) as urls:
                        res = await fanout(urls, args.fanout_rate, args.duration, args.subscribers)
                    results[f"fanout_{count}"] = res
                    rows.append(res)
                print(fanout_table(rows))
    results["load_1m_after"] = load_average()
    print(f"load average before/after: {load_before:.2f} / {results['load_1m_after']:.2f}")
    print(f"results: {write_results('cluster', results)}")
    return 0


if __name__ == "__main__":
    sys.exit(run_async(main()))
