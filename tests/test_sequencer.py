"""The room sequencer on its own (live/sequencer.py), on a real event log: whatever order frames
arrive in, and whatever the broker dropped, the hub is handed each event of a watched room once,
in stream order."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator, Callable
from uuid import UUID

import orjson
import pytest
from conftest import eventually

from gochat.events import EventStore, NewEvent
from gochat.events.model import RecordedEvent
from gochat.events.types import EventType
from gochat.live.connection import Connection
from gochat.live.hub import Hub
from gochat.live.sequencer import LiveFrame, Sequencer, live_frame
from gochat.live.wire import RENDER, UNSENT_ROOM_EVENTS, render
from gochat.projections.current import CurrentLog


class RecordingHub(Hub):
    def __init__(self) -> None:
        super().__init__()
        self.got: list[int] = []

    def publish(self, room: UUID, event_id: int, data: bytes, kind: str = "event") -> None:
        self.got.append(event_id)
        super().publish(room, event_id, data, kind)


class FakePeer:
    def write(self, data: bytes) -> None:
        pass

    def get_write_buffer_size(self) -> int:
        return 0

    def is_closing(self) -> bool:
        return False

    def abort(self) -> None:
        pass

    async def close(self, *, code: int = 1000, message: bytes = b"") -> bool:
        return True


MakeSequencer = Callable[..., Sequencer]


@pytest.fixture
async def make_sequencer(store: EventStore) -> AsyncIterator[MakeSequencer]:
    made: list[Sequencer] = []

    def make(*, gap_grace: float = 0.01, on_idle: Callable[[UUID], None] = lambda room: None) -> Sequencer:
        sequencer = Sequencer(RecordingHub(), store, CurrentLog(store), gap_grace=gap_grace, on_idle=on_idle)
        made.append(sequencer)
        return sequencer

    yield make
    for sequencer in made:
        sequencer.close()


async def nothing() -> None:
    return None


def got(sequencer: Sequencer) -> list[int]:
    assert isinstance(sequencer.hub, RecordingHub)
    return sequencer.hub.got


async def typing_in(store: EventStore, room: UUID) -> RecordedEvent:
    return (await store.append_one(NewEvent(EventType.TYPING_STARTED, room, {}, actor_id=uuid.uuid4()))).event


def frame_of(e: RecordedEvent) -> LiveFrame:
    rendered = render(e)
    assert rendered is not None
    return live_frame(e, rendered, orjson.dumps(rendered))


def made_up(room: UUID, version: int, *, member: UUID | None = None) -> LiveFrame:
    """A frame as the broker would bring it; its id is 100 + its version."""
    kind = EventType.MEMBER_KICKED if member else EventType.TYPING_STARTED
    return LiveFrame(room, version, 100 + version, kind, str(member) if member else None, b"frame")


async def test_frames_arriving_out_of_order_or_twice_reach_the_hub_once_in_stream_order(
    make_sequencer: MakeSequencer,
) -> None:
    sequencer, room = make_sequencer(gap_grace=60.0), uuid.uuid4()  # no fill: the frames themselves close the gap
    await sequencer.start(room, nothing)
    for version in (2, 1, 1, 3, 2, 5, 4):
        sequencer.offer(made_up(room, version))
    assert got(sequencer) == [101, 102, 103, 104, 105]
    assert sequencer.head(room) == 105
    assert sequencer.gaps_filled == 0


async def test_an_event_with_no_frame_moves_the_sequence_and_sends_nothing(make_sequencer: MakeSequencer) -> None:
    sequencer, room = make_sequencer(gap_grace=60.0), uuid.uuid4()  # a gap would hold frame 3 for a minute
    await sequencer.start(room, nothing)
    sequencer.offer(made_up(room, 1))
    sequencer.offer(LiveFrame(room, 2, 102, EventType.MESSAGE_REPORTED, None, b""))  # a marker
    sequencer.offer(made_up(room, 3))
    assert got(sequencer) == [101, 103]
    assert sequencer.head(room) == 103
    assert sequencer.gaps_filled == 0


#: Types whose stream is a user (or a name, a presence stream): never in a room's sequence.
USER_STREAM_TYPES = {
    EventType.USER_REGISTERED, EventType.USERNAME_CLAIMED, EventType.USER_PROFILE_UPDATED, EventType.USER_ERASED,
    EventType.PRESENCE_CHANGED, EventType.BOT_CREATED, EventType.USER_ADMIN_SET, EventType.USER_DEACTIVATED,
    EventType.USER_REACTIVATED, EventType.USER_STATUS_SET, EventType.NOTIFICATION_LEVEL_SET,
    EventType.NOTIFICATION_READ, EventType.NOTIFICATION_READ_ALL, EventType.USER_DND_SET, EventType.USER_BLOCKED,
    EventType.USER_UNBLOCKED, EventType.USER_SKELETON_SET,
}  # fmt: skip


def test_every_room_event_type_is_a_frame_or_a_marker() -> None:
    """A new room event type must say which: one that is neither leaves a gap every node waits on."""
    for type_ in EventType:
        if type_ not in USER_STREAM_TYPES:
            assert (type_ in RENDER) != (type_ in UNSENT_ROOM_EVENTS), type_


async def test_a_gap_the_broker_left_is_filled_from_the_log(store: EventStore, make_sequencer: MakeSequencer) -> None:
    sequencer, room = make_sequencer(), uuid.uuid4()
    await sequencer.start(room, nothing)
    first, second, third = [await typing_in(store, room) for _ in range(3)]
    sequencer.offer(frame_of(third))  # the first two were dropped on the way
    assert got(sequencer) == []  # held: it follows a gap
    await eventually(lambda: got(sequencer) == [first.id, second.id, third.id], what="gap filled")
    assert sequencer.gaps_filled == 1
    sequencer.offer(frame_of(second))  # late: a duplicate now
    assert got(sequencer) == [first.id, second.id, third.id]


async def test_what_commits_between_the_baseline_and_the_subscription_is_read_once_subscribed(
    store: EventStore, make_sequencer: MakeSequencer
) -> None:
    sequencer, room = make_sequencer(), uuid.uuid4()
    before = await typing_in(store, room)
    window: list[RecordedEvent] = []

    async def subscribe() -> None:  # the broker subscription takes a while; a commit lands meanwhile
        window.append(await typing_in(store, room))

    await sequencer.start(room, subscribe)
    assert got(sequencer) == [window[0].id]  # not `before`: the baseline, sent by nobody now
    assert sequencer.head(room) == window[0].id > before.id


async def test_a_removal_unsubscribes_the_member_and_reports_the_room_idle(make_sequencer: MakeSequencer) -> None:
    idle: list[UUID] = []
    sequencer, room, member = make_sequencer(on_idle=idle.append), uuid.uuid4(), uuid.uuid4()
    hub = sequencer.hub
    peer = FakePeer()
    conn = Connection(member, None, peer, peer)
    hub.add(conn)
    hub.subscribe(conn, room)
    await sequencer.start(room, nothing)
    sequencer.offer(made_up(room, 1))
    assert idle == []
    sequencer.offer(made_up(room, 2, member=member))
    assert room not in conn.rooms
    assert idle == [room]  # the member was the node's last subscriber: the relay may unwatch
    hub.remove(conn)


async def test_a_stopped_room_takes_no_frames(make_sequencer: MakeSequencer) -> None:
    sequencer, room = make_sequencer(gap_grace=60.0), uuid.uuid4()
    await sequencer.start(room, nothing)
    sequencer.offer(made_up(room, 2))  # waits for a fill
    assert sequencer.stop(room)
    assert not sequencer.stop(room)
    sequencer.offer(made_up(room, 1))
    assert got(sequencer) == []
    assert sequencer.head(room) == 0
