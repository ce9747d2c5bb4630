"""People (step 12): GET /users/search latency, and how long a mention takes to reach the mentioned
user's socket, with --users users online (one WebSocket each, subscribed to no room).

    python -m bench.people [--users 1000] [--room-size 50] [--searches 500] [--mentions 300] [--no-save]

A real server process (`gochat serve`, rate limits off) on a fresh migrated database. Users sign up
through the API and sit in public rooms of --room-size (so everyone is findable, and the visibility
rule has rooms to look through). Every user opens a WebSocket to no room: notifications are
addressed to users, not rooms.

Search: --searches requests one at a time, as random users, for random two- and three-letter
prefixes of the generated names (`p<run><index>`: every query matches many), limit 20.

Mention delivery: --mentions posts one at a time, each `@<username>` of a random other member of
the poster's room, over HTTP; the time from sending the POST to the `notification` frame arriving
on the mentioned user's socket. It includes the notifications follower's poll (50 ms at most).

Figures are only comparable on a quiet machine (the load average is recorded beside them).
"""

from __future__ import annotations

import argparse
import asyncio
import functools
import random
import sys
import time
import uuid
from collections.abc import Sequence
from typing import Any

import aiohttp

from gochat.cli import run_async

from .common import (
    announce,
    bench_databases,
    format_table,
    latency_summary,
    load_average,
    machine_info,
    write_results,
)
from .gateway import gochat_env, server_process
from .nodes import PASSWORD, bounded


async def signup(http: aiohttp.ClientSession, url: str, name: str) -> dict[str, Any]:
    async with http.post(url + "/auth/signup", json={"username": name, "password": PASSWORD}) as resp:
        assert resp.status == 201, await resp.text()
        body: dict[str, Any] = await resp.json()
        return {"id": body["user"]["id"], "username": name, "token": body["access_token"]}


def auth(user: dict[str, Any]) -> dict[str, str]:
    return {"Authorization": f"Bearer {user['token']}"}


Room = tuple[str, list[dict[str, Any]]]  # id, members


async def setup(http: aiohttp.ClientSession, url: str, args: argparse.Namespace) -> list[Room]:
    run = uuid.uuid4().hex[:4]
    users = await bounded(8, [functools.partial(signup, http, url, f"p{run}{i:05d}") for i in range(args.users)])
    groups = [users[i : i + args.room_size] for i in range(0, len(users), args.room_size)]

    async def make(members: list[dict[str, Any]]) -> Room:
        body = {"name": "bench", "type": "public"}
        async with http.post(url + "/rooms", json=body, headers=auth(members[0])) as resp:
            assert resp.status == 201, await resp.text()
            return str((await resp.json())["id"]), members

    async def join(room_id: str, member: dict[str, Any]) -> None:
        # members named at creation are only invited (step 9): each joins the public room itself
        async with http.post(f"{url}/rooms/{room_id}/join", headers=auth(member)) as resp:
            assert resp.status in (200, 201, 204), await resp.text()

    rooms = await bounded(8, [functools.partial(make, g) for g in groups])
    await bounded(8, [functools.partial(join, room_id, m) for room_id, members in rooms for m in members[1:]])
    return rooms


async def searches(http: aiohttp.ClientSession, url: str, users: Sequence[dict[str, Any]], n: int) -> list[float]:
    rng, took = random.Random(1), []
    for _ in range(n):
        who = rng.choice(users)
        q = who["username"][: rng.choice((2, 3))]
        started = time.perf_counter()
        async with http.get(url + "/users/search", params={"q": q, "limit": "20"}, headers=auth(who)) as resp:
            await resp.read()
            assert resp.status == 200
        took.append(time.perf_counter() - started)
    return took


async def mentions(http: aiohttp.ClientSession, url: str, rooms: Sequence[Room], n: int) -> list[float]:
    sockets: dict[str, aiohttp.ClientWebSocketResponse] = {}

    async def connect(user: dict[str, Any]) -> None:
        sockets[user["id"]] = await http.ws_connect(url + "/ws", params={"token": user["token"]})

    await bounded(32, [functools.partial(connect, u) for _, members in rooms for u in members])
    rng, took = random.Random(2), []
    try:
        for _ in range(n):
            room_id, members = rng.choice(rooms)
            if len(members) < 2:
                continue
            sender, target = rng.sample(members, 2)
            ws = sockets[target["id"]]
            started = time.perf_counter()
            body = {"content": f"@{target['username']} ping"}
            async with http.post(f"{url}/rooms/{room_id}/messages", json=body, headers=auth(sender)) as resp:
                sent = await resp.json()
            deadline = time.monotonic() + 30
            while True:  # bounded: a notification that never comes fails the run instead of hanging it
                frame = await ws.receive_json(timeout=max(0.01, deadline - time.monotonic()))
                if frame.get("type") == "notification" and frame["notification"]["message_id"] == sent["id"]:
                    break
            took.append(time.perf_counter() - started)
    finally:
        await asyncio.gather(*(ws.close() for ws in sockets.values()))
    return took


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(prog="python -m bench.people", description=__doc__.split("\n\n")[0])
    p.add_argument("--users", type=int, default=1000, help="users signed up and online (default 1000)")
    p.add_argument("--room-size", type=int, default=50, help="members per public room (default 50)")
    p.add_argument("--searches", type=int, default=500, help="GET /users/search requests (default 500)")
    p.add_argument("--mentions", type=int, default=300, help="mentions timed (default 300)")
    p.add_argument("--no-save", action="store_true", help="do not write bench/results/people.json")
    return p.parse_args(argv)


async def run(args: argparse.Namespace) -> int:
    async with bench_databases() as dbs:
        machine = machine_info(dbs.server)
        announce(machine)
        dsn = await asyncio.to_thread(dbs.new)
        env = gochat_env(dsn, GOCHAT_WS_MAX_CONNECTIONS_PER_USER="4")
        async with server_process(["-m", "gochat", "serve"], env, name="people") as server:
            connector = aiohttp.TCPConnector(limit=0)
            async with aiohttp.ClientSession(connector=connector) as http:
                rooms = await setup(http, server.url, args)
                everyone = [u for _, members in rooms for u in members]
                search = latency_summary(await searches(http, server.url, everyone, args.searches))
                mention = latency_summary(await mentions(http, server.url, rooms, args.mentions))
    rows = [
        ["GET /users/search", args.searches, search["p50_ms"], search["p99_ms"], search["max_ms"]],
        ["mention -> notification frame", args.mentions, mention["p50_ms"], mention["p99_ms"], mention["max_ms"]],
    ]
    print(f"{args.users} users online, rooms of {args.room_size}, load average after {load_average():.2f}")
    print(format_table(["what", "samples", "p50 ms", "p99 ms", "max ms"], rows))
    if not args.no_save:
        params = {"users": args.users, "room_size": args.room_size, "searches": args.searches}
        payload = {"machine": machine, "params": {**params, "mentions": args.mentions}}
        path = write_results("people", {**payload, "search": search, "mention_delivery": mention})
        print(f"saved {path}")
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    return run_async(run(parse_args(argv)))


if __name__ == "__main__":
    sys.exit(main())
