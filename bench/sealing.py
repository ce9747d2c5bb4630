"""Crypto-shredding's own CPU cost per event, without the database: sealing a chat message for the log
(what the writer adds to each append) and opening it again (what every read of the log adds).

    python -m bench.sealing [--events 200000] [--users 100] [--size 80]

The keys come from an in-memory key store, as they do from the sealer's cache once warm; the
append's and the reads' end-to-end cost is `python -m bench.append` (and `bench.ws_fanout`) run on
this branch and on the one before it (docs/operations.md, "Keys").
"""

from __future__ import annotations

import argparse
import asyncio
import os
import time
import uuid
from collections.abc import Collection
from typing import Any

from gochat.events.keystore import DataKey
from gochat.events.sealing import Sealer
from gochat.events.types import EventType


class MemoryKeys:
    """A KeyStore of the process's own (the bench measures the cipher, not the table)."""

    def __init__(self) -> None:
        self.keys: dict[uuid.UUID, bytes] = {}

    async def current(self, owners: Collection[uuid.UUID]) -> dict[uuid.UUID, DataKey]:
        return {o: DataKey(o, 1, self.keys.setdefault(o, os.urandom(32))) for o in owners}

    async def get(
        self, wanted: Collection[tuple[uuid.UUID, int]], cur: Any = None
    ) -> dict[tuple[uuid.UUID, int], DataKey]:
        return {(o, v): DataKey(o, v, self.keys[o]) for o, v in wanted}

    async def destroy(self, owner: uuid.UUID) -> int:
        return int(self.keys.pop(owner, None) is not None)

    async def rotate(self, owners: Collection[uuid.UUID] | None = None) -> int:
        return 0

    async def rewrap(self) -> int:
        return 0


async def main(args: argparse.Namespace) -> None:
    sealer = Sealer(MemoryKeys())
    users = [uuid.uuid4() for _ in range(args.users)]
    room = uuid.uuid4()
    posted = EventType.MESSAGE_POSTED.value
    text = ("lorem ipsum dolor sit amet " * (args.size // 27 + 1))[: args.size]
    events: list[tuple[str, uuid.UUID, uuid.UUID | None, dict[str, Any]]] = [
        (posted, room, users[i % len(users)], {"content": text, "thread_root": None, "attachments": None})
        for i in range(args.events)
    ]
    await sealer.seal_all(events[: len(users)])  # warm: every key cached, as on a running node

    started = time.perf_counter()
    stored = await sealer.seal_all(events)
    sealing = time.perf_counter() - started

    await sealer.prepare(stored)
    started = time.perf_counter()
    for (type_, stream, _, _), data in zip(events, stored, strict=True):
        sealer.open(type_, stream, dict(data))
    opening = time.perf_counter() - started

    print(f"{args.events} message.posted of {args.size} characters, {args.users} authors")
    print(f"seal: {sealing / args.events * 1e6:.2f} us/event ({args.events / sealing:,.0f} events/s on one core)")
    print(f"open: {opening / args.events * 1e6:.2f} us/event ({args.events / opening:,.0f} events/s on one core)")


if __name__ == "__main__":
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--events", type=int, default=200_000, help="events sealed and opened (200000)")
    p.add_argument("--users", type=int, default=100, help="authors, one key each (100)")
    p.add_argument("--size", type=int, default=80, help="characters per message (80)")
    asyncio.run(main(p.parse_args()))
