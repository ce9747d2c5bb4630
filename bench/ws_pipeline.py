"""One WebSocket sending as fast as its acks allow: messages/s persisted and acked over one socket
(ws/pipeline.py pipelines a socket's frames; the target is >= 5,000/s).

    python -m bench.ws_pipeline [--seconds 10] [--window 256] [--as bot|user] [--content-bytes 64]

The server runs in its own process (`gochat serve`, one node, a fresh database); the sender keeps
`--window` frames unacked (the server bounds what it takes per socket itself: GOCHAT_WS_MAX_INFLIGHT
and its backpressure), sends the next as each ack arrives, and checks that acks come back in send
order. `--as bot` (the default) sends with a bot's API token under the server's bot rate limit
(GOCHAT_BOT_RATE_LIMIT; rate limits stay on); `--as user` sends as a person with limits off.
Afterwards the log is counted: every acked message must be there exactly once.

Figures are only worth recording on a quiet machine (the load average is printed and saved).
"""

from __future__ import annotations

import argparse
import asyncio
import sys
import time
from collections.abc import Sequence
from typing import Any

import aiohttp
import orjson
import psycopg2

from gochat.cli import run_async

from . import wsraw
from .common import bench_databases, latency_summary, load_average, machine_info, write_results
from .gateway import CpuWindow, gochat_env, make_rooms, server_process
from .nodes import HOST, signup_users

TARGET = 5000.0


class Sender:
    """Keeps `window` frames unacked on one socket; records ack order and latency."""

    def __init__(self, room: str, window: int, content: str) -> None:
        self.room, self.window, self.content = room, window, content
        self.ws: wsraw.RawWebSocket | None = None
        self.next = 0
        self.acked = 0
        self.out_of_order = 0
        self.errors: list[dict[str, Any]] = []
        self.sent_at: dict[str, float] = {}
        self.latencies: list[float] = []
        self.measuring = False
        self.stopping = False
        self.done = asyncio.get_running_loop().create_future()

    def on_text(self, payload: bytes, now: float) -> None:
        if b'"ack"' not in payload and b'"error"' not in payload:
            return  # the room's own copies of what we sent
        frame = orjson.loads(payload)
        if frame["type"] == "error":
            self.errors.append(frame)
            return
        if frame["type"] != "ack":
            return
        cmid = frame["client_msg_id"]
        if cmid != f"p{self.acked}":
            self.out_of_order += 1
        sent = self.sent_at.pop(cmid, None)
        if self.measuring and sent is not None:
            self.latencies.append(now - sent)
        self.acked += 1
        self.fill()

    def fill(self) -> None:
        assert self.ws is not None
        while not self.stopping and self.next - self.acked < self.window:
            cmid = f"p{self.next}"
            self.sent_at[cmid] = time.time()
            body = {"type": "message", "room_id": self.room, "content": self.content, "client_msg_id": cmid}
            self.ws.send_text(orjson.dumps(body))
            self.next += 1
        if self.stopping and self.acked == self.next and not self.done.done():
            self.done.set_result(None)


async def _bot_token(url: str, owner_token: str, room: str) -> str:
    """A bot made in the room by its owner, with a token scoped to that room."""
    headers = {"Authorization": f"Bearer {owner_token}"}
    async with aiohttp.ClientSession() as http:
        body = {"username": f"bench-bot-{int(time.time() * 1000) % 10**9}", "display_name": "bench bot"}
        async with http.post(f"{url}/rooms/{room}/bots", json=body, headers=headers) as resp:
            assert resp.status == 201, await resp.text()
            bot = (await resp.json())["bot"]
        token_body = {"name": "bench", "rooms": [room], "scopes": ["read", "write"]}
        async with http.post(f"{url}/bots/{bot['id']}/tokens", json=token_body, headers=headers) as resp:
            assert resp.status == 201, await resp.text()
            return str((await resp.json())["token"])


async def run(args: argparse.Namespace) -> int:
    async with bench_databases() as dbs:
        machine = machine_info(dbs.server)
        dsn = await asyncio.to_thread(dbs.new)
        env = gochat_env(dsn, GOCHAT_RATE_LIMITS="on" if args.as_ == "bot" else "off")
        async with server_process(["-m", "gochat", "serve"], env, name="ws_pipeline") as server:
            (owner,) = await signup_users(server.url, 1)
            (room,) = await make_rooms(server.url, [[owner]])
            token = owner.token if args.as_ == "user" else await _bot_token(server.url, owner.token, room)
            sender = Sender(room, args.window, "x" * args.content_bytes)
            sender.ws = await wsraw.connect(HOST, server.port, "/ws", {"token": token, "room_id": room}, sender.on_text)
            sender.fill()
            await asyncio.sleep(args.warmup)
            start_acked, start = sender.acked, time.perf_counter()
            sender.measuring = True
            cpu = CpuWindow(lambda: [server.pid])
            cpu.start()
            await asyncio.sleep(args.seconds)
            cpu.stop()
            acked, elapsed = sender.acked - start_acked, time.perf_counter() - start
            sender.measuring = False
            sender.stopping = True
            sender.fill()
            await asyncio.wait_for(sender.done, 60)
            sender.ws.close()
        stored = await asyncio.to_thread(_count_posts, dsn, room)
    rate = acked / elapsed
    result = {
        "as": args.as_,
        "window": args.window,
        "content_bytes": args.content_bytes,
        "seconds": round(elapsed, 2),
        "acked_per_s": round(rate),
        "ack_latency": latency_summary(sorted(sender.latencies)),
        "server_cpu_share": round(cpu.shares, 3),
        "sent": sender.next,
        "acked_total": sender.acked,
        "stored": stored,
        "out_of_order_acks": sender.out_of_order,
        "errors": len(sender.errors),
        "load_1m_after": load_average(),
    }
    print(orjson.dumps(result, option=orjson.OPT_INDENT_2).decode())
    ok = sender.out_of_order == 0 and not sender.errors and stored == sender.acked
    verdict = "met" if rate >= TARGET else "MISSED"
    print(f"persisted and acked over one socket: {rate:,.0f}/s (target >= {TARGET:,.0f}/s: {verdict})")
    print("every ack in send order, every acked message stored once" if ok else "CHECK FAILED: see above")
    if sender.errors:
        print(f"first error: {sender.errors[0]}")
    if not args.no_save:
        print(f"wrote {write_results('ws_pipeline', {'machine': machine, 'result': result})}")
    return 0 if ok else 1


def _count_posts(dsn: str, room: str) -> int:
    with psycopg2.connect(dsn) as conn, conn.cursor() as cur:
        cur.execute("SELECT count(*) FROM events WHERE type = 'message.posted' AND stream_id = %s", (room,))
        row = cur.fetchone()
        assert row is not None
        return int(row[0])


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    p = argparse.ArgumentParser(prog="python -m bench.ws_pipeline", description=__doc__.split("\n\n")[0])
    p.add_argument("--seconds", type=float, default=10.0)
    p.add_argument("--warmup", type=float, default=2.0)
    p.add_argument("--window", type=int, default=256, help="frames the client keeps unacked")
    p.add_argument("--content-bytes", type=int, default=64)
    p.add_argument("--as", dest="as_", choices=("bot", "user"), default="bot")
    p.add_argument("--no-save", action="store_true", help="do not write bench/results/ws_pipeline.json")
    return p.parse_args(argv)


def main(argv: Sequence[str] | None = None) -> int:
    return run_async(run(parse_args(argv)))


if __name__ == "__main__":
    sys.exit(main())
