"""`user_erased`: an erasure reaches the open sockets that show the erased user's content, on every
node: one frame per room where history changed (the user's messages there are tombstones now,
their reactions went), telling the client to show them so and to forget the user's name.

`gochat users erase` runs in a process with no sockets and no broker, so no commit hook of a server
sees the event; and it catches every projection of the catalog up itself, so no catalog follower's
page tells a server either. `ErasureFrames` is a follower of the servers' runner alone (app.py): a
checkpoint and nothing else. Whatever process appended the erasure, one server node applies it, once
(the runner locks the checkpoint); the runner tells `ErasureLive.on_applied`, which reads the
erasures in the page and the rooms each changed (projections/history.py, `erasures`), sends the
frames to this node's sockets subscribed there, and publishes the erasure on the `erased` channel
for the other nodes (the relay's outbox: kept while the broker is down). So each socket gets it
once. The broker may lose it (or a node may apply it while starting, before it listens): then a
reload, which reads history, is the truth, and a resume from before the erasure serves tombstones.

The erased user's own sockets, on every node, close then with 4401, as a revoked login's do (the
erasure revoked them all, and they are in no room any more); until then they were open, subscribed
to rooms that no longer list them as members.

The frame is not a room event: no `id`, so it moves no client's resume cursor, and no replay sends
it. It names a room and a user, both known to the room's members: nothing of the user's content.
"""

from __future__ import annotations

from typing import Any
from uuid import UUID

import orjson

from ..db import Database, Executor
from ..events.model import RecordedEvent
from ..events.types import EventType
from ..projections import history
from ..projections.base import Projection
from .connection import CLOSE_REVOKED
from .envelope import decode_from, encode_from
from .frames import encode_text_frame
from .hub import Hub
from .relay import Relay

ERASED_CHANNEL = "erased"


class ErasureFrames(Projection):
    """A cursor over the log's erasures, not a table: its checkpoint is what makes one server node,
    once, announce each (`ErasureLive.on_applied` acts on its pages)."""

    name = "erasure_frames"
    tables = ()
    handles = frozenset({EventType.USER_ERASED})
    inline = False

    async def apply(self, cur: Executor, event: RecordedEvent) -> None:
        pass  # history tombstoned the user's messages when the erasure was appended (inline)


class ErasureLive:
    def __init__(self, hub: Hub, relay: Relay, db: Database, *, node_id: str) -> None:
        self.hub = hub
        self.relay = relay
        self.db = db
        self.node_id = node_id

    async def start(self) -> None:
        self.relay.channel_handlers[ERASED_CHANNEL] = self._on_erased
        await self.relay.broker.subscribe(ERASED_CHANNEL)

    async def on_applied(self, projection: Projection, after: int, upto: int) -> None:
        if projection.name != ErasureFrames.name:
            return
        async with self.db.cursor() as cur:
            found = await history.erasures(cur, after, upto)
        for erasure in found:
            body = {
                "user_id": str(erasure.user_id),
                "event_id": erasure.event_id,
                "rooms": [str(r) for r in erasure.rooms],
            }
            self._deliver(body)
            self.relay.publish(ERASED_CHANNEL, encode_from(self.node_id, orjson.dumps(body)))

    def _on_erased(self, payload: bytes) -> None:
        node, _, body = decode_from(payload)
        if node != self.node_id:
            self._deliver(orjson.loads(body))

    def _deliver(self, body: dict[str, Any]) -> None:
        """The erased user's sockets here close (their logins are revoked; they are in no room any
        more), then one frame per room of the erasure, to this node's sockets subscribed there."""
        self.hub.close_where(CLOSE_REVOKED, b"user erased", user_id=UUID(body["user_id"]))
        for room in body["rooms"]:
            conns = self.hub.rooms.get(UUID(room))
            if conns:
                frame = {
                    "type": "user_erased",
                    "room_id": room,
                    "user_id": body["user_id"],
                    "event_id": body["event_id"],
                }
                data = encode_text_frame(orjson.dumps(frame))
                for conn in list(conns):
                    self.hub.send(conn, data, "user_erased")
