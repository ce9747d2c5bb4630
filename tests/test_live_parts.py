"""The live side's small parts on their own: the envelope nodes exchange, the outbox that keeps
what the broker refused, the heartbeat sweep, and presence fan-out."""

from __future__ import annotations

import dataclasses
import uuid
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime

from conftest import eventually

from gochat.events import EventStore
from gochat.events.model import RecordedEvent
from gochat.events.types import EventType
from gochat.live.broker import MemoryBroker, MemoryBus
from gochat.live.connection import CLOSE_TOKEN_EXPIRED, Connection
from gochat.live.envelope import Header, decode, encode_control, encode_event
from gochat.live.frames import PING_FRAME
from gochat.live.heartbeat import sweep
from gochat.live.hub import Hub
from gochat.live.outbox import MAX_UNSENT_PER_CHANNEL, Outbox
from gochat.live.presence import PRESENCE_SEEN, EventHook, PresenceFanout
from gochat.live.tasks import Tasks


def event(kind: EventType = EventType.MESSAGE_POSTED) -> RecordedEvent:
    return RecordedEvent(
        id=42,
        stream_id=uuid.UUID(int=7),
        version=3,
        type=kind,
        schema_version=1,
        data={},
        metadata={},
        actor_id=None,
        client_msg_id=None,
        recorded_at=datetime(2026, 1, 1, tzinfo=UTC),
    )


# --- envelope ---------------------------------------------------------------------------------------
def test_an_envelope_is_one_readable_header_line_then_the_frame() -> None:
    """The bytes every node of a cluster must agree on: changing them needs every node upgraded."""
    payload = encode_event("n1", event(), "u9", b'{"type":"message"}')
    assert payload == b'n1|42|3|00000000-0000-0000-0000-000000000007|message.posted|u9\n{"type":"message"}'
    header, data = decode(payload)
    assert header == Header("n1", "42", "3", str(uuid.UUID(int=7)), "message.posted", "u9", None)
    assert header.member_id() == "u9"
    assert data == b'{"type":"message"}'


def test_an_envelope_carries_the_trace_only_when_there_is_one() -> None:
    header, data = decode(encode_event("n1", event(), None, b"{}", "00-abc-def-01"))
    assert header.traceparent == "00-abc-def-01"
    assert header.member == "-"
    assert header.member_id() is None
    assert data == b"{}"


def test_presence_and_control_payloads_are_a_header_alone() -> None:
    presence, nothing = decode(encode_event("n2", event(EventType.PRESENCE_CHANGED), None, b""))
    assert (presence.node, presence.id, presence.type, nothing) == ("n2", "42", "presence.changed", b"")
    session = uuid.uuid4()
    control, nothing = decode(encode_control("n3", session))
    assert (control.node, control.id, nothing) == ("n3", str(session), b"")


# --- outbox -----------------------------------------------------------------------------------------
class Listener:
    def __init__(self, broker: MemoryBroker) -> None:
        self.heard: list[tuple[str, bytes]] = []
        broker.set_handler(lambda channel, payload: self.heard.append((channel, payload)))


async def two_nodes() -> tuple[MemoryBroker, MemoryBroker, Listener]:
    bus = MemoryBus()
    sender, receiver = MemoryBroker(bus), MemoryBroker(bus)
    for broker in (sender, receiver):
        await broker.start()
    listener = Listener(receiver)
    await receiver.subscribe("a")
    await receiver.subscribe("b")
    return sender, receiver, listener


async def test_the_outbox_publishes_in_order_per_channel() -> None:
    sender, _, listener = await two_nodes()
    outbox = Outbox(sender)
    for n in range(5):
        outbox.put("a" if n % 2 else "b", str(n).encode())
    outbox.flush()
    await eventually(lambda: len(listener.heard) == 5, what="published")
    assert listener.heard == [("b", b"0"), ("a", b"1"), ("b", b"2"), ("a", b"3"), ("b", b"4")]
    await outbox.close()


async def test_what_the_broker_refused_is_kept_and_sent_first_on_recovery() -> None:
    sender, _, listener = await two_nodes()
    outbox = Outbox(sender)
    sender.set_healthy(False)  # this node's link is down: nothing goes out
    outbox.send("a", b"1")
    outbox.send("a", b"2")
    await eventually(lambda: outbox.unsent("a") == 2, what="kept")
    assert listener.heard == []
    sender.set_healthy(True)
    outbox.send("a", b"3")
    await eventually(lambda: len(listener.heard) == 3, what="sent on recovery")
    assert listener.heard == [("a", b"1"), ("a", b"2"), ("a", b"3")]
    assert outbox.unsent("a") == 0
    await outbox.close()


async def test_the_outbox_keeps_a_bounded_number_per_channel_the_newest() -> None:
    sender, _, listener = await two_nodes()
    outbox = Outbox(sender)
    sender.set_healthy(False)
    for n in range(MAX_UNSENT_PER_CHANNEL + 10):
        outbox.put("a", str(n).encode())
    outbox.send("b", b"b")
    await eventually(lambda: outbox.unsent("b") == 1, what="kept")
    assert outbox.unsent("a") == MAX_UNSENT_PER_CHANNEL
    sender.set_healthy(True)
    outbox.flush()
    await eventually(lambda: len(listener.heard) == MAX_UNSENT_PER_CHANNEL + 1, what="sent")
    sent_a = [payload for channel, payload in listener.heard if channel == "a"]
    assert sent_a[0] == b"10"  # the oldest went: a receiver fills what precedes the newest from the log
    assert sent_a[-1] == str(MAX_UNSENT_PER_CHANNEL + 9).encode()
    await outbox.close()


class FlakyBroker(MemoryBroker):
    """Healthy, but refuses the first `refusals` batches (a publish timed out)."""

    def __init__(self, refusals: int = 1) -> None:
        super().__init__(MemoryBus())
        self.refusals = refusals
        self.batches: list[int] = []

    async def publish_many(self, items: Sequence[tuple[str, bytes]]) -> int:
        self.batches.append(len(items))
        if self.refusals:
            self.refusals -= 1
            return 0
        return await super().publish_many(items)


async def test_a_transient_refusal_is_retried_while_the_broker_stays_healthy() -> None:
    broker = FlakyBroker()
    await broker.start()
    listener = Listener(broker)
    await broker.subscribe("a")
    outbox = Outbox(broker, retry_interval=0.01)
    outbox.send("a", b"1")
    await eventually(lambda: listener.heard == [("a", b"1")], what="retried")
    assert broker.batches == [1, 1]
    await outbox.close()


# --- heartbeat --------------------------------------------------------------------------------------
@dataclass(eq=False)
class Peer:
    written: list[bytes] = field(default_factory=list)
    aborted: bool = False

    def write(self, data: bytes) -> None:
        self.written.append(data)

    def get_write_buffer_size(self) -> int:
        return 0

    def is_closing(self) -> bool:
        return self.aborted

    def abort(self) -> None:
        self.aborted = True

    async def close(self, *, code: int = 1000, message: bytes = b"") -> bool:
        return True


def socket(*, heard: float, pinged: float = 0.0, expires_at: float = float("inf")) -> tuple[Connection, Peer]:
    peer = Peer()
    conn = Connection(uuid.uuid4(), None, peer, peer, expires_at=expires_at, heard=heard, pinged=pinged, jitter=1.0)
    return conn, peer


def test_the_sweep_pings_the_idle_aborts_the_dead_and_closes_the_expired() -> None:
    fresh, fresh_peer = socket(heard=95.0)
    idle, idle_peer = socket(heard=80.0)
    just_pinged, just_pinged_peer = socket(heard=80.0, pinged=99.0)
    dead, dead_peer = socket(heard=40.0)
    expired, expired_peer = socket(heard=100.0, expires_at=1000.0)
    closed: list[tuple[Connection, int]] = []
    dead_count = sweep(
        [fresh, idle, just_pinged, dead, expired],
        lambda conn, code, reason: closed.append((conn, code)),
        now=1000.0,
        tick=100.0,
        heartbeat=10.0,
    )
    assert fresh_peer.written == []
    assert idle_peer.written == [PING_FRAME]
    assert idle.pinged == 100.0
    assert just_pinged_peer.written == []  # one ping per half heartbeat at most
    assert dead_peer.aborted
    assert dead.closing
    assert dead_count == 1
    assert closed == [(expired, CLOSE_TOKEN_EXPIRED)]
    assert expired_peer.written == []


def test_without_a_heartbeat_the_sweep_only_closes_expired_tokens() -> None:
    silent, peer = socket(heard=0.0)
    assert sweep([silent], lambda conn, code, reason: None, now=0.0, tick=1e6, heartbeat=None) == 0
    assert peer.written == []
    assert not peer.aborted


# --- presence fan-out -------------------------------------------------------------------------------
async def test_a_presence_change_reaches_each_connection_in_the_user_s_rooms_once(store: EventStore) -> None:
    user, first, second, elsewhere = uuid.uuid4(), uuid.uuid4(), uuid.uuid4(), uuid.uuid4()

    async def rooms_of(who: uuid.UUID) -> list[uuid.UUID]:
        return [first, second] if who == user else []

    hub = Hub()
    both, both_peer = socket(heard=0.0)
    other, other_peer = socket(heard=0.0)
    for conn, rooms in ((both, (first, second)), (other, (elsewhere,))):
        hub.add(conn)
        for room in rooms:
            hub.subscribe(conn, room)
    hooks: list[EventHook] = []
    tasks = Tasks("test_task_failed")
    fanout = PresenceFanout(hub, store, rooms_of, hooks, tasks)
    change = event(EventType.PRESENCE_CHANGED)
    change = dataclasses.replace(change, data={"user_id": str(user), "status": "online"})
    fanout.committed(change)
    await eventually(lambda: len(both_peer.written) == 1, what="presence sent")
    assert b'"type":"presence"' in both_peer.written[0]
    assert other_peer.written == []
    await eventually(lambda: len(tasks) == 0, what="fan-out done")
    fanout.announced(change.id)  # the same change over the broker: heard already, nothing to do
    assert len(tasks) == 0
    assert fanout.after == change.id
    for conn in (both, other):
        hub.remove(conn)


async def no_rooms(user: uuid.UUID) -> list[uuid.UUID]:
    return []


async def test_presence_remembers_a_bounded_number_of_changes_heard(store: EventStore) -> None:
    fanout = PresenceFanout(Hub(), store, no_rooms, [], Tasks("test_task_failed"))
    assert fanout.heard(1)
    assert not fanout.heard(1)
    for event_id in range(2, PRESENCE_SEEN + 2):
        assert fanout.heard(event_id)
    assert fanout.heard(1)  # forgotten, the oldest: the log tail reads after `after` anyway
    assert fanout.after == PRESENCE_SEEN + 1
