"""Time travel (`GET /rooms/:id/state?at=`) through its service, at random past positions of a room.

    python -m bench.timetravel [--members 50] [--messages 5000] [--samples 300] [--limit 100]

The room is written through the real append path (EventStore with every inline projection): its
members join, then messages are posted in batches, a tenth of them edited, a tenth reacted to, a
fiftieth deleted. Each sample asks TimeTravel.room for a random position of the room's life, as a
room admin, one at a time: the room and members as of then, and the newest `--limit` messages
posted by then as they were then. The code under test builds those in a rolled-back scratch schema
with the projections' own rules (gochat/projections/asof.py); to compare with another commit, copy
this file into a checkout of it and run it there (it uses only what both have).
"""

from __future__ import annotations

import argparse
import random
import time
import uuid
from collections.abc import Sequence
from typing import Any

from gochat.db import Database
from gochat.events import EventStore, NewEvent, build_registry
from gochat.log import configure_logging
from gochat.projections.catalog import all_projections
from gochat.projections.engine import InlineProjections
from gochat.services.timetravel import TimeTravel
from gochat.tools.run import run_async

from .common import announce, bench_databases, format_table, latency_summary, machine_info, write_results

BATCH = 200


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m bench.timetravel", description=__doc__.split("\n\n")[0])
    parser.add_argument("--members", type=int, default=50)
    parser.add_argument("--messages", type=int, default=5000)
    parser.add_argument("--samples", type=int, default=300)
    parser.add_argument("--limit", type=int, default=100, help="messages per answer (the API's default)")
    return parser.parse_args(argv)


async def _write_room(store: EventStore, members: int, messages: int, rng: random.Random) -> tuple[uuid.UUID, int]:
    """A room with its owner first among `members`; returns the room and its first event's id."""
    room, users = uuid.uuid4(), [uuid.uuid4() for _ in range(members)]
    first = await store.append(
        NewEvent("room.created", room, {"name": "bench", "type": "public", "topic": ""}, actor_id=users[0]),
        *(
            NewEvent("member.joined", room, {"user_id": str(u), "role": "owner" if i == 0 else "member"}, actor_id=u)
            for i, u in enumerate(users)
        ),
    )
    posted: list[int] = []
    for start in range(0, messages, BATCH):
        batch = [
            NewEvent("message.posted", room, {"content": f"message {n}: lunch at noon?"}, actor_id=rng.choice(users))
            for n in range(start, min(start + BATCH, messages))
        ]
        posted += [r.event.id for r in await store.append(*batch)]
        touches: list[NewEvent] = []
        for message in posted[-len(batch) :]:
            roll = rng.random()
            if roll < 0.1:
                touches.append(NewEvent("message.edited", room, {"message_id": message, "content": "edited"}))
            elif roll < 0.2:
                data = {"message_id": message, "emoji": "👍"}
                touches.append(NewEvent("reaction.added", room, data, actor_id=rng.choice(users)))
            elif roll < 0.22:
                touches.append(NewEvent("message.deleted", room, {"message_id": message}, actor_id=users[0]))
        if touches:
            await store.append(*touches)
    return room, first[0].event.id


async def run(args: argparse.Namespace) -> int:
    configure_logging("warning", "console")
    rng = random.Random(1)
    async with bench_databases() as dbs:
        machine = machine_info(dbs.server)
        announce(machine)
        db = await Database.connect(dbs.new(), minsize=1, maxsize=4)
        store = EventStore(db, build_registry(), node_id="bench")
        store.inline.append(InlineProjections(store, all_projections()))
        store.start()
        try:
            room, first = await _write_room(store, args.members, args.messages, rng)
            head = await store.head()
            async with db.cursor() as cur:
                await cur.execute("VACUUM ANALYZE")
            await cur_owner_check(db, room)
            travel = TimeTravel(db, store)
            owner = await _owner(db, room)
            seconds: list[float] = []
            for _ in range(args.samples):
                at = rng.randint(first + args.members, head)
                started = time.perf_counter()
                await travel.room(owner, room, at, limit=args.limit)
                seconds.append(time.perf_counter() - started)
        finally:
            await store.close()
            await db.close()
    summary = latency_summary(seconds)
    rows = [("TimeTravel.room", args.messages, args.members, args.limit, args.samples, *summary.values())]
    print(format_table(("call", "messages", "members", "limit", "samples", "p50 ms", "p99 ms", "max ms"), rows))
    payload: dict[str, Any] = {"machine": machine, "args": vars(args), "latency": summary}
    print(f"results: {write_results('timetravel', payload)}")
    return 0


async def cur_owner_check(db: Database, room: uuid.UUID) -> None:
    """The room exists in the projections (the writes above were projected inline)."""
    if await db.fetchval("SELECT count(*) FROM rooms WHERE id = %s", (room,)) != 1:
        raise SystemExit("the room was not projected")


async def _owner(db: Database, room: uuid.UUID) -> uuid.UUID:
    owner: uuid.UUID = await db.fetchval(
        "SELECT user_id FROM memberships WHERE room_id = %s AND role = 'owner' LIMIT 1", (room,)
    )
    return owner


def main(argv: Sequence[str] | None = None) -> int:
    return run_async(run(parse_args(argv)))


if __name__ == "__main__":
    raise SystemExit(main())
