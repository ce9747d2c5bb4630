"""Per-room ordering on one node: every event of a watched room reaches the hub once, in stream
order, whichever way it came (a local commit, the broker, a read of the log).

Each watched room tracks the last stream version it delivered. An older version is a duplicate and
is dropped; a newer one than expected means a gap (the broker may drop frames): the frames after
it wait `gap_grace` for the missing ones, then the gap is filled from the log. The baseline of a
room comes from the log before the broker subscription, and the frames published in between are
read once the subscription is in place, so nothing slips between the two.

Reads of the log go through `CurrentLog`: a message deleted or edited since is sent as history
serves it now.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass, field
from uuid import UUID

import orjson
import structlog

from ..events.model import RecordedEvent
from ..events.store import EventStore
from ..projections.current import CurrentLog
from .frames import encode_text_frame
from .hub import Hub
from .wire import REMOVALS, Frame, render

log = structlog.get_logger("gochat.relay")

FILL_PAGE = 1000


@dataclass(slots=True)
class LiveFrame:
    """One room event on its way to the hub, framed once."""

    room: UUID
    version: int  # the room stream's version: what orders the room
    event_id: int  # the log position: what clients resume from
    type: str
    member: str | None  # the user a removal (leave, kick, ban) concerns: their sockets stop receiving the room
    framed: bytes  # empty: a marker, an event subscribers are not sent (wire.UNSENT_ROOM_EVENTS)


def live_frame(e: RecordedEvent, rendered: Frame, data: bytes) -> LiveFrame:
    """The LiveFrame of a room event, from its rendered frame and that frame's JSON."""
    member = rendered["user_id"] if e.type in REMOVALS else None
    return LiveFrame(e.stream_id, e.version, e.id, e.type, member, encode_text_frame(data))


def marker(e: RecordedEvent) -> LiveFrame:
    """A room event with no frame: it moves the room's sequence and sends nothing."""
    return LiveFrame(e.stream_id, e.version, e.id, e.type, None, b"")


@dataclass(slots=True)
class RoomSequence:
    version: int  # the last stream version delivered
    last_id: int  # its event id
    waiting: dict[int, LiveFrame] = field(default_factory=dict)  # by version, after a gap
    filling: asyncio.Task[None] | None = None


class Sequencer:
    def __init__(
        self,
        hub: Hub,
        store: EventStore,
        current: CurrentLog,
        *,
        gap_grace: float = 0.05,
        on_idle: Callable[[UUID], None] = lambda room: None,
    ) -> None:
        self.hub = hub
        self.store = store
        self.current = current
        self.gap_grace = gap_grace
        # Called when a removal left a room with no local subscriber (the relay unwatches it).
        self.on_idle = on_idle
        self.rooms: dict[UUID, RoomSequence] = {}
        self.gaps_filled = 0

    async def start(self, room: UUID, subscribe: Callable[[], Awaitable[None]]) -> None:
        """Sequence a room from the log's newest event, then `subscribe` (to the broker), then
        offer what committed in between."""
        last = await self.store.last_in_stream(room)
        state = self.rooms[room] = RoomSequence(last.version, last.id) if last else RoomSequence(0, 0)
        await subscribe()
        if self.rooms.get(room) is state:
            self.offer_events(await self.current.read_stream(room, after=state.last_id))

    def stop(self, room: UUID) -> bool:
        """Forget a room; False when it was not sequenced."""
        state = self.rooms.pop(room, None)
        if state is None:
            return False
        if state.filling:
            state.filling.cancel()
        return True

    def close(self) -> None:
        for state in self.rooms.values():
            if state.filling is not None:
                state.filling.cancel()

    def head(self, room: UUID) -> int:
        """The id of the newest event of a watched room delivered to the hub (0 when none)."""
        state = self.rooms.get(room)
        return state.last_id if state else 0

    def oldest(self) -> int:
        """The lowest last-delivered id over the watched rooms: reading the log after it misses
        nothing any room is waiting for."""
        return min(s.last_id for s in self.rooms.values())

    def offer(self, frame: LiveFrame) -> None:
        state = self.rooms.get(frame.room)
        if state is None or frame.version <= state.version:
            return
        if frame.version > state.version + 1:
            state.waiting[frame.version] = frame
            if state.filling is None:
                state.filling = asyncio.get_running_loop().create_task(self._fill(frame.room, state))
            return
        self._deliver(state, frame)
        while state.version + 1 in state.waiting:
            self._deliver(state, state.waiting.pop(state.version + 1))

    def offer_events(self, events: Iterable[RecordedEvent]) -> None:
        """Offer events read from the log (a first read, a gap fill, the log tail)."""
        for e in events:
            state = self.rooms.get(e.stream_id)
            if state is None:
                continue
            rendered = render(e)
            self.offer(marker(e) if rendered is None else live_frame(e, rendered, orjson.dumps(rendered)))

    def _deliver(self, state: RoomSequence, frame: LiveFrame) -> None:
        state.version, state.last_id = frame.version, frame.event_id
        if not frame.framed:
            return  # a marker
        self.hub.publish(frame.room, frame.event_id, frame.framed, frame.type)
        if frame.member is not None:
            self.hub.drop_room_for(UUID(frame.member), frame.room)
            if frame.room not in self.hub.rooms:
                self.on_idle(frame.room)

    async def _fill(self, room: UUID, state: RoomSequence) -> None:
        try:
            await asyncio.sleep(self.gap_grace)
            while state.waiting and self.rooms.get(room) is state:
                events = await self.current.read_stream(room, after=state.last_id, limit=FILL_PAGE)
                if not events:
                    break
                self.gaps_filled += 1
                self.offer_events(events)
                state.waiting = {v: w for v, w in state.waiting.items() if v > state.version}
        except asyncio.CancelledError:
            raise
        except Exception:
            log.exception("gap_fill_failed", room=str(room))
        finally:
            state.filling = None
