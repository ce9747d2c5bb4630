"""Typing notifications: an event in the log like every action, sent to the room's members.

Debouncing (one per user and room per interval) happens per connection in ws.py; clients expire a
typing indicator on their own after 5 s without a new one (docs/api.md).
"""

from __future__ import annotations

from uuid import UUID

from ..db import Database
from ..events import EventStore, NewEvent
from .access import room_access


async def typing(db: Database, store: EventStore, user_id: UUID, room_id: UUID) -> None:
    (await room_access(db, user_id, room_id)).require_post()
    await store.append(NewEvent("typing.started", room_id, {}, actor_id=user_id))
