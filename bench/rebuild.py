"""Projection rebuild: events/s of `gochat projections rebuild` over a generated log of 1,000,000 events.

    python -m bench.rebuild [--events 1000000] [--page 5000] [--only history,all]

The log is bench/export.py's (its INSERT ... SELECT generate_series: 500 rooms, 1,000 users, 80%
message.posted, 10% reaction.added, 10% receipt.read), after a prelude that makes it a chat the
projections have work in: the 1,000 users registered, the 500 rooms created, and 10 members joined
to each (among them the two users who write there), so posts move read markers and unread counts.
Each scenario runs the rebuild engine in-process (the command minus argument parsing) on the same
database: catch-up from position 0 into shadow tables, then the swap. Last (after `all`), one user
with about 1,000 messages is erased through a store with the inline projections, as `gochat users
erase` does: the time the append (and so the writers' lock) takes with a million events projected.
"""

from __future__ import annotations

import argparse
import sys
import time
import uuid
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from typing import Any

from gochat.db import Database
from gochat.events import EventStore, NewEvent, build_registry
from gochat.projections.catalog import all_projections
from gochat.projections.engine import InlineProjections
from gochat.projections.rebuild import Rebuild, target
from gochat.tools.run import run_async

from .common import announce, bench_databases, format_row, format_table, machine_info, write_results
from .export import _GENERATE, CHUNK, ROOMS, USERS

MEMBERS = 10  # per room
# user.registered for every user, room.created for every room, then MEMBERS joins per room. The
# body's versions (id / ROOMS + 1) start above these (a prelude of 6,500 events puts them at 14+).
_PRELUDE = """
INSERT INTO events (id, stream_id, version, type, schema_version, data, actor_id, recorded_at)
SELECT u + 1, md5('user' || u)::uuid, 1, 'user.registered', 1,
       jsonb_build_object('username', 'user' || u, 'username_norm', 'user' || u, 'display_name', 'User ' || u,
                          'password_hash', NULL),
       md5('user' || u)::uuid, now() - %(events)s * interval '1 second'
FROM generate_series(0, %(users)s - 1) AS u;
INSERT INTO events (id, stream_id, version, type, schema_version, data, actor_id, recorded_at)
SELECT %(users)s + r + 1, md5('room' || r)::uuid, 1, 'room.created', 1,
       jsonb_build_object('name', 'Room ' || r, 'type', 'public', 'topic', '', 'members', NULL),
       md5('user' || r)::uuid, now() - %(events)s * interval '1 second'
FROM generate_series(0, %(rooms)s - 1) AS r;
INSERT INTO events (id, stream_id, version, type, schema_version, data, actor_id, recorded_at)
SELECT %(users)s + %(rooms)s + r * %(members)s + m + 1, md5('room' || r)::uuid, m + 2, 'member.joined', 1,
       jsonb_build_object('user_id', md5('user' || mod(r + 100 * m, %(users)s))::text,
                          'role', CASE WHEN m = 0 THEN 'owner' ELSE 'member' END),
       md5('user' || mod(r + 100 * m, %(users)s))::uuid, now() - %(events)s * interval '1 second'
FROM generate_series(0, %(rooms)s - 1) AS r, generate_series(0, %(members)s - 1) AS m;
"""
PRELUDE = USERS + ROOMS + ROOMS * MEMBERS

COLUMNS = ["scenario", "log events", "events applied", "seconds", "events/s", "log positions/s"]


@dataclass(slots=True)
class Outcome:
    scenario: str
    log_events: int
    applied: int
    seconds: float

    def row(self) -> list[Any]:
        return [self.scenario, self.log_events, self.applied, self.seconds,
                self.applied / self.seconds, self.log_events / self.seconds]  # fmt: skip


async def generate(db: Database, events: int) -> None:
    """The prelude, then the export benchmark's body for positions PRELUDE + 1 .. events."""
    async with db.cursor() as cur:
        params = {"events": events, "users": USERS, "rooms": ROOMS, "members": MEMBERS}
        await cur.execute(_PRELUDE, params)
        for first in range(PRELUDE + 1, events + 1, CHUNK):
            last = min(first + CHUNK - 1, events)
            await cur.execute(_GENERATE, {**params, "first": first, "last": last})
        await cur.execute("ANALYZE events")


async def rebuild(db: Database, name: str, page: int) -> Outcome:
    store = EventStore(db, build_registry())
    started = time.perf_counter()
    outcome = await Rebuild(db, store, target(all_projections(), name), page=page).run(fresh=True)
    seconds = time.perf_counter() - started
    async with db.cursor() as cur:
        await cur.execute("VACUUM ANALYZE")  # as autovacuum would, before the next scenario
    return Outcome(f"rebuild {name}", outcome.position, outcome.events, seconds)


async def erase_one(db: Database) -> Outcome:
    """Erase the author of room 7's posts (user 7): inline, under the writers' lock."""
    store = EventStore(db, build_registry())
    store.inline.append(InlineProjections(store, [p for p in all_projections() if p.inline]))
    store.start()
    user = uuid.UUID(await db.fetchval("SELECT md5('user7')"))
    written = int(await db.fetchval("SELECT count(*) FROM messages WHERE user_id = %s", (user,)))
    started = time.perf_counter()
    try:
        await store.append_one(NewEvent("user.erased", user, {}))
    finally:
        await store.close()
    return Outcome(f"erase a user with {written:,} messages", 1, 1, time.perf_counter() - started)


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(prog="python -m bench.rebuild", description=__doc__.split("\n\n")[0])
    p.add_argument("--events", type=int, default=1_000_000, help="events in the log (1000000)")
    p.add_argument("--page", type=int, default=5000, help="events per transaction, as --page (5000)")
    p.add_argument("--only", default="history,all", help="projections to rebuild, in order (history,all)")
    p.add_argument("--no-save", action="store_true", help="do not write bench/results/rebuild.json")
    return p.parse_args(argv)


async def run(args: argparse.Namespace) -> int:
    outcomes: list[Outcome] = []
    async with bench_databases() as dbs:
        machine = machine_info(dbs.server)
        announce(machine)
        db = await Database.connect(dbs.new(), minsize=1, maxsize=4)
        try:
            started = time.perf_counter()
            await generate(db, args.events)
            print(f"generated {args.events:,} events in {time.perf_counter() - started:.1f} s", flush=True)
            names = [n.strip() for n in args.only.split(",")]
            for name in names:
                outcomes.append(await rebuild(db, name, args.page))
                print(", ".join(f"{c} {v}" for c, v in zip(COLUMNS, format_row(outcomes[-1].row()), strict=True)))
            # Only with every projection at the head: the append would fill the others' gap first.
            if "all" in names:
                outcomes.append(await erase_one(db))
        finally:
            await db.close()

    print()
    print(format_table(COLUMNS, [o.row() for o in outcomes]))
    if not args.no_save:
        payload = {"machine": machine, "args": {k: v for k, v in vars(args).items() if k != "no_save"},
                   "results": [asdict(o) for o in outcomes]}  # fmt: skip
        print(f"wrote {write_results('rebuild', payload)}")
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    return run_async(run(parse_args(argv)))


if __name__ == "__main__":
    sys.exit(main())
