"""Subscribing with resume, without gap or duplicate.

A connection subscribes first with its live frames held, reads the log after `since`, sends that,
then releases the held frames newer than the last one sent. The hub keeps, per connection and
room, the id of the newest event sent (live/hub.py, publish), and drops anything at or below it:
an event the replay read from the log may still be on its way live.
"""

from __future__ import annotations

import contextlib
from uuid import UUID

from ..events.model import RecordedEvent, uuid_text
from ..events.types import EventType
from ..keys import CURRENT_LOG, RELAY, SETTINGS, STORE
from ..live.frames import frame
from ..live.wire import REMOVALS, render
from .session import Session


class Removals:
    """A replay's view of the user's own membership: after the user left or was removed from a room,
    that room's events are not sent (the removal itself is), until the user joins it again."""

    __slots__ = ("rooms", "user")

    def __init__(self, user: UUID) -> None:
        self.user = uuid_text(user)
        self.rooms: set[UUID] = set()

    def skips(self, e: RecordedEvent) -> bool:
        room = e.stream_id
        if e.type == EventType.MEMBER_JOINED and e.data.get("user_id") == self.user:
            self.rooms.discard(room)
        elif room in self.rooms:
            return True
        elif e.type in REMOVALS and e.data.get("user_id") == self.user:
            self.rooms.add(room)
        return False


async def subscribe(session: Session, rooms: list[UUID], since: int | None) -> None:
    """`subscribed` per room, then (with `since`) the missed events in id order, then live.

    `subscribed` carries `head`: every event of the room after it follows on this connection, so a
    client without a cursor for the room can resume from there after a drop."""
    conn, hub, relay = session.conn, session.hub, session.app[RELAY]
    hub.hold(conn)
    last = 0
    try:
        for room in rooms:
            hub.subscribe(conn, room)
            await relay.watch(room)
            session.send({"type": "subscribed", "room_id": str(room), "head": relay.head(room)})
        last = 0 if since is None else await _replay(session, rooms, since)
    except BaseException:
        # The replay failed (the database down): these rooms' live frames would follow a gap.
        # Unsubscribe them; the error goes to the client, which joins again later.
        for room in rooms:
            if room in conn.rooms:
                hub.unsubscribe(conn, room)
                session.send({"type": "unsubscribed", "room_id": str(room)})
        with contextlib.suppress(Exception):
            for room in rooms:
                await relay.unwatch_if_idle(room)
        raise
    finally:
        hub.release(conn, last, rooms)
    for room in rooms:
        if room not in conn.rooms:  # removed inside the stretch replayed
            await relay.unwatch_if_idle(room)


async def _replay(session: Session, rooms: list[UUID], since: int) -> int:
    """Send the rooms' events after `since`; returns the id the replay read up to."""
    app, conn, hub = session.app, session.conn, session.hub
    cap = app[SETTINGS].ws_resume_max
    # What history serves now (tombstones, current text), not the log's original text.
    events = await app[CURRENT_LOG].read_streams(rooms, after=since, limit=cap + 1)
    if len(events) > cap:
        head = await app[STORE].head()
        session.send({"type": "resync_required", "id": head, "room_ids": [str(r) for r in rooms]})
        return head
    last = since
    removed = Removals(session.user)
    for e in events:
        if removed.skips(e):
            continue
        rendered = render(e)
        if rendered is not None and not conn.hides(data := frame(rendered)):
            hub.send_event(conn, e.stream_id, e.id, data, e.type)
        last = e.id
    for room in removed.rooms:  # not a member at the end of the stretch: nothing live either
        hub.unsubscribe(conn, room)
    return last
