"""Typing notifications: an event in the log like every action, sent to the room's members.

Debouncing: one per user and room per interval on a node, whichever of the user's sockets sends it
(TypingDebounce, asked by ws/handlers.py); clients expire a typing indicator on their own after 5 s without
a new one (docs/api.md).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from uuid import UUID

from ..db import Database
from ..events import EventStore, NewEvent
from ..events.types import EventType
from .access import room_access


async def typing(db: Database, store: EventStore, user_id: UUID, room_id: UUID) -> None:
    (await room_access(db, user_id, room_id)).require_post()
    await store.append(NewEvent(EventType.TYPING_STARTED, room_id, {}, actor_id=user_id))


class TypingDebounce:
    """At most one typing event per (user, room) per `interval` on this node.

    Entries are kept in insertion order, which is time order, so the stale ones are dropped from
    the front as calls come: the map holds only the last interval's typists."""

    def __init__(self, interval: float, clock: Callable[[], float] = time.monotonic) -> None:
        self.interval = interval
        self.clock = clock
        self._last: dict[tuple[UUID, UUID], float] = {}

    def allow(self, user_id: UUID, room_id: UUID) -> bool:
        now = self.clock()
        last = self._last
        while last:
            key = next(iter(last))
            if now - last[key] < self.interval:
                break
            del last[key]
        if (user_id, room_id) in last:
            return False
        last[(user_id, room_id)] = now
        return True
