"""Frames addressed to users rather than rooms, on every node: `notification` (to each socket of
the recipient, whatever rooms it subscribes to) and `user_updated` (a profile or status changed: to
the sockets of the user's rooms, and the user's own).

Notifications: the notifications projection is a follower; after each page it commits, the runner
tells `on_applied`, which reads the notifications those events created (`event_id` in the page),
sends them to this node's sockets of the recipient, and publishes them on the `user` channel for
the other nodes (the relay's outbox: in order, kept while the broker is down). Only the node that
applied a page delivers it, so each notification is sent once per socket. The broker may drop a
frame: GET /notifications is the truth, as the log is for rooms.

Profiles: the relay's commit hook sees user.profile_updated and user.status_set on the node that
appended them; that node and every other (told over the `profile` channel) render the user afresh
and send the frame to their own sockets.
"""

from __future__ import annotations

from uuid import UUID

import orjson

from ..db import Database
from ..events.model import RecordedEvent
from ..events.types import EventType
from ..people_wire import jsonable, notification_json, user_json, users_map
from ..projections import notifications as notification_queries
from ..projections import people as people_queries
from ..projections.base import Projection
from .envelope import decode_from, encode_from
from .frames import encode_text_frame
from .hub import Hub
from .presence import RoomsOf
from .relay import Relay
from .tasks import Tasks

USER_CHANNEL = "user"
PROFILE_CHANNEL = "profile"
PROFILE_EVENTS = frozenset({EventType.USER_PROFILE_UPDATED, EventType.USER_STATUS_SET})


class PeopleLive:
    def __init__(self, hub: Hub, relay: Relay, db: Database, *, node_id: str, rooms_of: RoomsOf) -> None:
        self.hub = hub
        self.relay = relay
        self.db = db
        self.node_id = node_id
        self.rooms_of = rooms_of
        self.tasks = Tasks("people_live_task_failed")
        self.delivered = 0

    async def start(self) -> None:
        self.relay.channel_handlers[USER_CHANNEL] = self._on_user
        self.relay.channel_handlers[PROFILE_CHANNEL] = self._on_profile
        self.relay.hooks.append(self._on_commit)
        await self.relay.broker.subscribe(USER_CHANNEL)
        await self.relay.broker.subscribe(PROFILE_CHANNEL)

    async def close(self) -> None:
        self.tasks.cancel()

    # --- notifications ---------------------------------------------------------------------------
    async def on_applied(self, projection: Projection, after: int, upto: int) -> None:
        if projection.name != "notifications":
            return
        async with self.db.cursor() as cur:
            fresh = await notification_queries.fresh(cur, after, upto)
            if not fresh:
                return
            actors = {n.actor_id for n in fresh if n.actor_id is not None}
            people = users_map(
                await people_queries.with_collisions(cur, await people_queries.people(cur, sorted(actors)))
            )
        for n in fresh:
            body = notification_json(n)
            body["actor"] = people.get(str(n.actor_id))
            data = orjson.dumps(jsonable({"type": "notification", "notification": body}))
            self._to_user(n.user_id, data)
            self.relay.publish(USER_CHANNEL, encode_from(self.node_id, data, str(n.user_id)))

    def _to_user(self, user_id: UUID, data: bytes) -> None:
        if user_id in self.hub.users:
            self.delivered += 1
            self.hub.send_to_user(user_id, encode_text_frame(data))

    def _on_user(self, payload: bytes) -> None:
        node, user, data = decode_from(payload)
        if node != self.node_id:
            self._to_user(UUID(user), data)

    # --- profiles --------------------------------------------------------------------------------
    def _on_commit(self, e: RecordedEvent) -> None:
        if e.type in PROFILE_EVENTS:
            self.tasks.spawn(self._profile(e.stream_id))
            self.relay.publish(PROFILE_CHANNEL, encode_from(self.node_id, key=str(e.stream_id)))

    def _on_profile(self, payload: bytes) -> None:
        node, user, _ = decode_from(payload)
        if node != self.node_id:
            self.tasks.spawn(self._profile(UUID(user)))

    async def _profile(self, user_id: UUID) -> None:
        local = set(self.hub.users)
        rooms = [r for r in await self.rooms_of(user_id) if r in self.hub.rooms]
        if not rooms and user_id not in local:
            return
        async with self.db.cursor() as cur:
            found = await people_queries.with_collisions(cur, await people_queries.people(cur, [user_id]))
        if not found:
            return
        framed = encode_text_frame(orjson.dumps(jsonable({"type": "user_updated", "user": user_json(found[0])})))
        sent: set[int] = set()
        conns = [c for r in rooms for c in self.hub.rooms.get(r, ())] + list(self.hub.users.get(user_id, ()))
        for conn in conns:
            if id(conn) not in sent:
                sent.add(id(conn))
                self.hub.send(conn, framed)
