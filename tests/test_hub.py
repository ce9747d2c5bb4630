"""The hub on its own: what it writes to each connection's transport, and when it closes one."""

from __future__ import annotations

import asyncio
import time
import uuid
from dataclasses import dataclass, field

from gochat.live.connection import CLOSE_SLOW_CONSUMER, CLOSE_TOKEN_EXPIRED, Connection
from gochat.live.frames import PING_FRAME, encode_text_frame
from gochat.live.hub import Hub


@dataclass(eq=False)
class Peer:
    """Both ends the hub sees of one client: the transport it writes to, the socket it closes."""

    written: list[bytes] = field(default_factory=list)
    buffered: int = 0
    closed_with: int | None = None
    aborted: bool = False

    def write(self, data: bytes) -> None:
        self.written.append(data)

    def get_write_buffer_size(self) -> int:
        return self.buffered

    def is_closing(self) -> bool:
        return self.closed_with is not None or self.aborted

    def abort(self) -> None:
        self.aborted = True

    async def close(self, *, code: int = 1000, message: bytes = b"") -> bool:
        self.closed_with = code
        return True


def connect(hub: Hub, room: uuid.UUID, *, expires_at: float = float("inf")) -> Peer:
    peer = Peer()
    conn = Connection(uuid.uuid4(), None, peer, peer, expires_at=expires_at)
    hub.add(conn)
    hub.subscribe(conn, room)
    return peer


async def test_frames_of_one_loop_turn_leave_in_one_write_per_connection() -> None:
    hub, room = Hub(), uuid.uuid4()
    a, b = connect(hub, room), connect(hub, room)
    frames = [encode_text_frame(f'{{"n":{n}}}'.encode()) for n in range(3)]
    for n, data in enumerate(frames):
        hub.publish(room, n + 1, data)
    await asyncio.sleep(0)
    assert a.written == b.written == [b"".join(frames)]
    assert hub.deliveries == 6


async def test_a_connection_past_its_buffer_is_closed_as_a_slow_consumer() -> None:
    hub, room = Hub(max_buffer=100), uuid.uuid4()
    slow, fine = connect(hub, room), connect(hub, room)
    slow.buffered = 101
    hub.publish(room, 1, encode_text_frame(b"{}"))
    await asyncio.sleep(0.01)
    assert (slow.closed_with, fine.closed_with) == (CLOSE_SLOW_CONSUMER, None)


async def test_a_connection_whose_token_expired_is_closed_by_the_sweep() -> None:
    hub, room = Hub(expiry_sweep=0.02), uuid.uuid4()
    now = time.time()
    expiring, lasting = connect(hub, room, expires_at=now + 1.0), connect(hub, room, expires_at=now + 3600)
    await asyncio.sleep(0)
    assert not expiring.is_closing()
    deadline = time.monotonic() + 2
    while not expiring.is_closing() and time.monotonic() < deadline:
        await asyncio.sleep(0.01)
    assert (expiring.closed_with, lasting.closed_with) == (CLOSE_TOKEN_EXPIRED, None)
    await hub.shutdown()


async def test_a_silent_connection_is_pinged_then_aborted_as_a_dead_peer() -> None:
    # heartbeat 1 s: the talker's 10 ms stamps keep it heard even when the loop stalls a while
    hub, room = Hub(expiry_sweep=0.01, heartbeat=1.0), uuid.uuid4()
    silent, talking = connect(hub, room), connect(hub, room)
    (talker,) = (c for c in hub.rooms[room] if c.transport is talking)
    loop = asyncio.get_running_loop()
    start = loop.time()
    while loop.time() - start < 1.5:  # past one heartbeat, short of two
        talker.heard = loop.time()  # as ws/reader.py stamps each frame it reads
        await asyncio.sleep(0.01)
    assert PING_FRAME in silent.written
    assert not silent.aborted
    while loop.time() - start < 2.5:  # past two heartbeats
        talker.heard = loop.time()
        await asyncio.sleep(0.01)
    assert silent.aborted
    assert hub.dead_closed == 1
    assert not talking.aborted
    assert PING_FRAME not in talking.written
    await hub.shutdown()


async def test_an_event_sent_by_a_resume_s_replay_is_not_sent_again_when_it_arrives_live() -> None:
    """The replay read the log, which holds events committed but not yet published: when those
    arrive live after the release, the connection's high-water mark for the room drops them."""
    hub, room, other = Hub(), uuid.uuid4(), uuid.uuid4()
    resuming = Connection(uuid.uuid4(), None, peer := Peer(), peer)
    hub.add(resuming)
    listener = connect(hub, room)
    resuming.held = []
    hub.subscribe(resuming, room)
    hub.subscribe(resuming, other)
    hub.publish(room, 10, b"10")  # live while the replay runs: held
    for event_id in (9, 10, 11):  # the replay's read went as far as 11, not yet published
        assert hub.send_event(resuming, room, event_id, str(event_id).encode())
    hub.release(resuming, 11, [room])
    hub.publish(room, 11, b"11")  # late, live: dropped
    hub.publish(room, 12, b"12")
    hub.publish(other, 5, b"o5")  # another room's ids are its own
    hub.publish(room, 12, b"12")  # heard twice: dropped
    await asyncio.sleep(0)
    assert peer.written == [b"91011" + b"12" + b"o5"]
    assert listener.written == [b"10" + b"11" + b"12"]


async def test_a_replay_sends_nothing_of_a_room_the_connection_no_longer_subscribes_to() -> None:
    hub, room = Hub(), uuid.uuid4()
    peer = Peer()
    conn = Connection(uuid.uuid4(), None, peer, peer)
    hub.add(conn)
    hub.subscribe(conn, room)
    conn.held = []
    hub.publish(room, 3, b"3")
    hub.unsubscribe(conn, room)  # kicked meanwhile
    assert not hub.send_event(conn, room, 2, b"2")
    hub.release(conn, 2, [room])
    await asyncio.sleep(0)
    assert peer.written == []


async def test_overlapping_resumes_hold_live_frames_until_the_last_one_ends() -> None:
    hub, first, second = Hub(), uuid.uuid4(), uuid.uuid4()
    peer = Peer()
    conn = Connection(uuid.uuid4(), None, peer, peer)
    hub.add(conn)
    hub.hold(conn)
    hub.subscribe(conn, first)
    hub.hold(conn)  # a second join's resume starts before the first ends
    hub.subscribe(conn, second)
    hub.publish(first, 7, b"f7")
    hub.publish(second, 3, b"s3")
    assert hub.send_event(conn, first, 6, b"f6")
    hub.release(conn, 6, [first])
    await asyncio.sleep(0)
    assert peer.written == [b"f6"]  # the second resume still runs: live frames wait
    assert hub.send_event(conn, second, 2, b"s2")
    assert hub.send_event(conn, second, 3, b"s3")  # committed, read by the replay, also held live
    hub.release(conn, 3, [second])
    await asyncio.sleep(0)
    assert peer.written == [b"f6", b"s2s3f7"]  # the held s3 is not sent twice
    assert conn.held is None


@dataclass(eq=False)
class ClosedUnderUs(Peer):
    """A transport closed by the loop without the hub being told yet: uvloop raises on a write."""

    def is_closing(self) -> bool:
        return False  # the hub has not heard: the write is what fails

    def write(self, data: bytes) -> None:
        raise RuntimeError("unable to perform operation on <TCPTransport closed=True>; the handler is closed")


async def test_a_transport_closed_under_the_hub_does_not_stop_the_sweep() -> None:
    """Found by the soak: one failed ping ended the sweep's timer for good, and with it every later
    ping, dead-peer check and token expiry on the node."""
    hub, room = Hub(expiry_sweep=0.01, heartbeat=0.05), uuid.uuid4()
    broken = ClosedUnderUs()
    conn = Connection(uuid.uuid4(), None, broken, broken)
    hub.add(conn)
    hub.subscribe(conn, room)
    expiring = connect(hub, room, expires_at=time.time() + 0.5)
    (talker,) = (c for c in hub.rooms[room] if c.transport is expiring)
    loop = asyncio.get_running_loop()
    deadline = time.monotonic() + 3
    while not expiring.is_closing() and time.monotonic() < deadline:
        talker.heard = loop.time()  # it talks, so only its token can end it
        await asyncio.sleep(0.01)
    assert broken.aborted  # pinged (the write failed), then dropped as dead
    assert expiring.closed_with == CLOSE_TOKEN_EXPIRED  # the sweep went on past the failed ping
    await hub.shutdown()
