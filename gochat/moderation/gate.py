"""The check every post passes (MessageService.gate): the author is not muted in the room, and
slow mode lets them post now. Room admins and owners are exempt.

A post must stay cheap (the WebSocket path reads nothing before its append), so a room's rules are
read at most once per `ttl` per node and kept; this node's own moderation events drop its copy at
once (a store listener), other nodes' within `ttl`. Slow mode is a token bucket per member and room
in the shared limiter (Redis when configured), so it holds across nodes.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from uuid import UUID

from ..db import Database
from ..errors import Forbidden, RateLimited
from ..events import RecordedEvent
from ..events.types import EventType
from ..live.wire import timestamp
from ..ratelimit import Limit, RateLimiter
from .projection import RoomRules, room_rules

# Events after which a room's rules must be read again.
_CHANGES = frozenset(
    {
        EventType.MEMBER_MUTED,
        EventType.MEMBER_UNMUTED,
        EventType.ROOM_SLOW_MODE_SET,
        EventType.MEMBER_ROLE_CHANGED,
        EventType.MEMBER_LEFT,
        EventType.MEMBER_KICKED,
        EventType.MEMBER_BANNED,
        EventType.MEMBER_JOINED,
    }
)


class ModerationGate:
    def __init__(
        self, db: Database, limiter: RateLimiter, *, ttl: float = 1.0, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self.db = db
        self.limiter = limiter
        self.ttl = ttl
        self.clock = clock
        self._rules: dict[UUID, tuple[float, RoomRules]] = {}

    def committed(self, events: Sequence[RecordedEvent]) -> None:
        """Store listener: forget the rules of rooms whose moderation just changed here."""
        for e in events:
            if e.type in _CHANGES:
                self._rules.pop(e.stream_id, None)

    async def _get(self, room_id: UUID) -> RoomRules:
        now = self.clock()
        cached = self._rules.get(room_id)
        if cached is not None and now - cached[0] < self.ttl:
            return cached[1]
        async with self.db.cursor() as cur:
            rules = await room_rules(cur, room_id)
        if len(self._rules) >= 100_000:
            self._rules.clear()
        self._rules[room_id] = (now, rules)
        return rules

    async def check(self, user_id: UUID, room_id: UUID) -> None:
        rules = await self._get(room_id)
        if user_id in rules.moderators:
            return
        until = rules.muted_until.get(user_id)
        if until is not None and until > datetime.now(UTC):
            raise Forbidden("you are muted in this room", code="muted", details={"until": timestamp(until)})
        seconds = rules.slow_mode_seconds
        if seconds:
            wait = await self.limiter.acquire(f"slow:{room_id}:{user_id}", Limit(1, 1 / seconds))
            if wait:
                raise RateLimited(f"slow mode: one message per {seconds} s", retry_after=wait, code="slow_mode")
