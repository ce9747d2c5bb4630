"""Resume under load: readers hopping between two nodes with `since` while writers post over HTTP and
WebSocket on both get every message of the room once, in id order, over all their sockets.

Bounded for CI (a few seconds of writing); `GOCHAT_STRESS_SECONDS=120` runs it longer by hand.
"""

from __future__ import annotations

import asyncio
import os
from collections.abc import Awaitable, Callable

import aiohttp
from faults import Reader, Writers, logged_messages, stopper
from test_cluster import Cluster, cluster, people, uid  # noqa: F401  (fixtures)

from gochat.client import GochatClient

SECONDS = float(os.environ.get("GOCHAT_STRESS_SECONDS", "4"))


async def test_readers_hopping_between_nodes_get_the_log_once_in_order(
    cluster: Cluster,  # noqa: F811
    people: Callable[[str], Awaitable[GochatClient]],  # noqa: F811
    database_url: str,
) -> None:
    a, b = await cluster(2)
    urls = [a.url, b.url]
    owner = await people(a.url)
    room = (await owner.create_room("stress", "public"))["id"]
    http_writers = [await people(u) for u in urls]
    ws_writers = [await people(u) for u in urls]
    readers = []
    for n in range(4):
        chat = await people(urls[n % 2])
        await chat.join(room)
        assert chat.access_token is not None
        readers.append(Reader(chat.access_token, room))
    for chat in http_writers + ws_writers:
        await chat.join(room)

    writers = Writers(room)
    stop = stopper(SECONDS)
    async with aiohttp.ClientSession() as http:
        hopping = [asyncio.ensure_future(r.hop(http, urls, stop)) for r in readers]
        await asyncio.gather(
            *(writers.over_http(c, stop) for c in http_writers),
            *(writers.over_ws(c, stop) for c in ws_writers),
        )
        await asyncio.gather(*hopping)
        # The last word: a message sent after everything else. A reader that has it has had every
        # chance to receive anything twice.
        last = (await owner.post(room, "the end"))["id"]
        for n, reader in enumerate(readers):
            await reader.read_once(http, urls[n % 2], until_id=last)

    log = logged_messages(database_url, room)
    assert not writers.failures, writers.failures[:3]
    assert set(writers.acked) <= set(log)
    assert len(writers.acked) > 20 * SECONDS  # the writers did write
    for reader in readers:
        assert len(reader.sockets) > 3  # and the readers did hop
        reader.check(log)
