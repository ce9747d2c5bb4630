"""Presence fan-out: a user's presence change goes to this node's connections subscribed to any
room the user is in, once per connection.

A change is heard up to three ways: committed here, over the broker's presence channel (which
carries only the event id: the receiver reads the event), and from the log while the broker is
down (log_tail.py). The ids heard lately are remembered so each is delivered once.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Awaitable, Callable, Iterable
from uuid import UUID

import orjson

from ..events.model import RecordedEvent
from ..events.store import EventStore
from ..events.types import EventType
from .frames import encode_text_frame
from .hub import Hub
from .tasks import Tasks
from .wire import presence_frame

PRESENCE_TYPES = (EventType.PRESENCE_CHANGED,)
# Presence ids remembered to drop the same change heard twice (broker and log tail overlap).
PRESENCE_SEEN = 4096
PAGE = 1000

RoomsOf = Callable[[UUID], Awaitable[Iterable[UUID]]]
EventHook = Callable[[RecordedEvent], None]


class PresenceFanout:
    def __init__(self, hub: Hub, store: EventStore, rooms_of: RoomsOf, hooks: list[EventHook], tasks: Tasks) -> None:
        self.hub = hub
        self.store = store
        self.rooms_of = rooms_of
        self.hooks = hooks  # the relay's: a remote change is an event these hear too
        self.tasks = tasks
        self.after = 0  # the newest presence event heard: the log is read after it
        self._seen: set[int] = set()
        self._order: deque[int] = deque()

    async def start(self) -> None:
        self.after = await self.store.head()

    def committed(self, e: RecordedEvent) -> None:
        """A change committed on this node (its hooks ran already)."""
        self.heard(e.id)
        self.tasks.spawn(self._fan_out(UUID(e.data["user_id"]), self._framed(e)))

    def announced(self, event_id: int) -> None:
        """Another node committed a change (the broker's presence channel)."""
        if self.heard(event_id):
            self.tasks.spawn(self._read_and_deliver(event_id))

    async def catch_up(self) -> None:
        """Deliver the changes in the log not heard yet (the broker was down)."""
        while True:
            events = await self.store.read_all(after=self.after, limit=PAGE, types=PRESENCE_TYPES)
            for e in events:
                if self.heard(e.id):
                    self._deliver(e)
            if len(events) < PAGE:
                return

    def heard(self, event_id: int) -> bool:
        """Note a change; False when it was heard already (broker and tail overlap)."""
        if event_id in self._seen:
            return False
        self._seen.add(event_id)
        self._order.append(event_id)
        if len(self._order) > PRESENCE_SEEN:
            self._seen.discard(self._order.popleft())
        self.after = max(self.after, event_id)
        return True

    async def _read_and_deliver(self, event_id: int) -> None:
        e = await self.store.get(event_id)
        if e is not None:
            self._deliver(e)

    def _deliver(self, e: RecordedEvent) -> None:
        for hook in self.hooks:
            hook(e)
        self.tasks.spawn(self._fan_out(UUID(e.data["user_id"]), self._framed(e)))

    @staticmethod
    def _framed(e: RecordedEvent) -> bytes:
        return encode_text_frame(orjson.dumps(presence_frame(e.data["user_id"], e.data["status"], e.recorded_at)))

    async def _fan_out(self, user_id: UUID, framed: bytes) -> None:
        sent: set[int] = set()
        for room in await self.rooms_of(user_id):
            for conn in self.hub.rooms.get(room, ()):
                if id(conn) not in sent:
                    sent.add(id(conn))
                    self.hub.send(conn, framed, "presence")
