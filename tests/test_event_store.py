"""Contract of the event store: what every caller of `append` and the readers may rely on."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Mapping, Sequence

import psycopg2
import pytest

from gochat.db import Database, StatementBatch
from gochat.errors import Unavailable, ValidationFailed, VersionConflict
from gochat.events import NO_STREAM, EventStore, NewEvent, RecordedEvent, build_registry
from gochat.events.catalog import MessagePosted
from gochat.events.registry import EventRegistry
from gochat.projections.catalog import all_projections
from gochat.projections.engine import InlineProjections


def msg(room: uuid.UUID, text: str = "hi", **kw: object) -> NewEvent:
    return NewEvent("message.posted", room, {"content": text}, **kw)  # type: ignore[arg-type]


async def test_append_assigns_positions_and_reads_back(store: EventStore) -> None:
    room, user = uuid.uuid4(), uuid.uuid4()
    first = await store.append_one(msg(room, "one", actor_id=user))
    second = await store.append_one(msg(room, "two", actor_id=user))
    assert (first.event.id, first.event.version) == (1, 1)
    assert (second.event.id, second.event.version) == (2, 2)
    assert not first.duplicate

    events = await store.read_stream(room)
    assert [e.data["content"] for e in events] == ["one", "two"]
    assert events[0].metadata["actor_id"] == str(user)
    assert events[0].metadata["node"] == "test"
    assert events[0].recorded_at is not None
    assert await store.head() == 2
    assert [e.id for e in await store.read_all(after=1)] == [2]
    assert (await store.get(2)) == events[1]


async def test_read_filters_by_type_and_stream(store: EventStore) -> None:
    a, b = uuid.uuid4(), uuid.uuid4()
    await store.append(msg(a), NewEvent("typing.started", a, {}), msg(b))
    assert [e.type for e in await store.read_all(types=["typing.started"])] == ["typing.started"]
    assert [e.stream_id for e in await store.read_stream(b)] == [b]
    assert len(await store.read_streams([a, b], after=1)) == 2
    assert len(await store.read_all(limit=2)) == 2


async def test_data_is_normalized_before_it_is_stored(store: EventStore) -> None:
    room = uuid.uuid4()
    appended = (await store.append_one(msg(room, "  padded  "))).event
    stored = (await store.read_stream(room))[0]
    assert appended.data == stored.data == {"content": "padded", "thread_root": None, "attachments": None}


async def test_expected_version_conflict(store: EventStore) -> None:
    room = uuid.uuid4()
    await store.append_one(msg(room, expected_version=NO_STREAM))
    with pytest.raises(VersionConflict) as info:
        await store.append_one(msg(room, expected_version=NO_STREAM))
    assert info.value.details == {"stream_id": str(room), "expected": 0, "actual": 1}
    await store.append_one(msg(room, expected_version=1))
    with pytest.raises(VersionConflict):
        await store.append_one(msg(room, expected_version=1))
    assert await store.stream_version(room) == 2


async def test_concurrent_writers_with_the_same_expected_version_one_wins(store: EventStore) -> None:
    room = uuid.uuid4()
    results = await asyncio.gather(
        *(store.append_one(msg(room, f"m{i}", expected_version=NO_STREAM)) for i in range(5)), return_exceptions=True
    )
    assert sum(not isinstance(r, Exception) for r in results) == 1
    assert all(isinstance(r, VersionConflict) for r in results if isinstance(r, Exception))
    assert len(await store.read_stream(room)) == 1


async def test_a_group_is_all_or_nothing(store: EventStore) -> None:
    room, other = uuid.uuid4(), uuid.uuid4()
    await store.append_one(msg(room))
    with pytest.raises(VersionConflict):
        await store.append(msg(other, "would be first"), msg(room, expected_version=NO_STREAM))
    assert await store.read_stream(other) == []
    assert await store.head() == 1


async def test_idempotent_retry_returns_the_original(store: EventStore) -> None:
    room, user = uuid.uuid4(), uuid.uuid4()
    original = await store.append_one(msg(room, "once", actor_id=user, client_msg_id="c-1"))
    retry = await store.append_one(msg(room, "once", actor_id=user, client_msg_id="c-1"))
    assert retry.duplicate
    assert retry.event == original.event
    # The key is per actor and stream: another user's c-1 is a new event.
    other = await store.append_one(msg(room, "once", actor_id=uuid.uuid4(), client_msg_id="c-1"))
    assert not other.duplicate
    assert len(await store.read_stream(room)) == 2


async def test_retries_racing_in_one_batch_create_one_event(store: EventStore) -> None:
    room, user = uuid.uuid4(), uuid.uuid4()
    results = await asyncio.gather(*(store.append_one(msg(room, actor_id=user, client_msg_id="k")) for _ in range(10)))
    assert len({r.event.id for r in results}) == 1
    assert sum(not r.duplicate for r in results) == 1
    assert len(await store.read_stream(room)) == 1


@pytest.mark.parametrize("inline", [True, False], ids=["projections inline", "log alone"])
async def test_a_retry_batched_with_new_appends_returns_the_original(db: Database, inline: bool) -> None:
    # With projections inline the batch of posts is one call that projects them too; without, the
    # call is the whole transaction. Either way the retry must roll it back whole, then get through.
    store = EventStore(db, build_registry())
    if inline:
        store.inline.append(InlineProjections(store, all_projections()))
    store.start()
    try:
        room, user = uuid.uuid4(), uuid.uuid4()
        original = await store.append_one(msg(room, "once", actor_id=user, client_msg_id="c-1"))
        retry, *fresh = await asyncio.gather(
            store.append_one(msg(room, "once", actor_id=user, client_msg_id="c-1")),
            *(store.append_one(msg(room, f"new {i}", actor_id=user, client_msg_id=f"c-{i + 2}")) for i in range(3)),
        )
        assert retry.duplicate
        assert retry.event == original.event
        assert [(r.duplicate, r.event.id) for r in fresh] == [(False, 2), (False, 3), (False, 4)]
        assert [e.version for e in await store.read_stream(room)] == [1, 2, 3, 4]
    finally:
        await store.close()


async def test_a_cancelled_caller_still_gets_its_accepted_append_committed(store: EventStore) -> None:
    """Cancelling a waiting caller (a closed socket) cancels its wait, not the commit it shares."""
    room = uuid.uuid4()
    abandoned = asyncio.ensure_future(store.append_one(msg(room, "abandoned")))
    others = [asyncio.ensure_future(store.append_one(msg(room, f"m{i}"))) for i in range(5)]
    await asyncio.sleep(0)  # every append is validated and queued
    abandoned.cancel()
    await asyncio.gather(*others)
    with pytest.raises(asyncio.CancelledError):
        await abandoned
    contents = sorted(e.data["content"] for e in await store.read_stream(room))
    assert contents == ["abandoned", "m0", "m1", "m2", "m3", "m4"]


async def test_unknown_type_or_bad_data_is_refused_before_the_log(store: EventStore) -> None:
    room = uuid.uuid4()
    with pytest.raises(ValidationFailed) as info:
        await store.append_one(NewEvent("message.exploded", room, {}))
    assert info.value.code == "unknown_event_type"
    with pytest.raises(ValidationFailed) as bad:
        await store.append(msg(room, "fine"), NewEvent("message.posted", room, {"content": "x" * 4001}))
    assert "content" in bad.value.details
    with pytest.raises(ValidationFailed):
        await store.append_one(NewEvent("message.posted", room, {"content": "ok", "surprise": 1}))
    assert await store.head() == 0


async def test_the_log_refuses_update_delete_and_truncate(store: EventStore, db: Database) -> None:
    await store.append_one(msg(uuid.uuid4()))
    for sql in ("UPDATE events SET type = 'message.edited'", "DELETE FROM events", "TRUNCATE events"):
        with pytest.raises(psycopg2.Error, match="append-only"):
            async with db.transaction() as cur:
                await cur.execute(sql)
    assert await store.head() == 1


async def test_concurrent_appends_are_grouped_into_few_transactions(store: EventStore) -> None:
    rooms = [uuid.uuid4() for _ in range(20)]
    before = store.stats.flushes
    await asyncio.gather(*(store.append_one(msg(rooms[i % 20], f"m{i}")) for i in range(500)))
    assert store.stats.flushes - before < 100
    events = await store.read_all(limit=1000)
    assert [e.id for e in events] == list(range(1, 501))
    for room in rooms:
        assert [e.version for e in await store.read_stream(room)] == list(range(1, 26))


async def test_what_append_returns_is_what_the_log_holds(store: EventStore) -> None:
    """ids, per-stream versions, data, metadata and time as returned equal the stored events, for a
    batch over several streams that already hold events, with and without actors and keys."""
    rooms = [uuid.uuid4() for _ in range(3)]
    user = uuid.uuid4()
    await store.append(*(msg(r, "first") for r in rooms))
    results = await asyncio.gather(
        *(
            store.append_one(msg(rooms[i % 3], f"m{i}", actor_id=user if i % 2 else None, client_msg_id=f"k{i}"))
            for i in range(40)
        )
    )
    returned = sorted((r.event for r in results), key=lambda e: e.id)
    assert returned == await store.read_all(after=3)
    for room in rooms:
        appended = sum(e.stream_id == room for e in returned)
        assert [e.version for e in await store.read_stream(room)] == list(range(1, appended + 2))


class Seen:
    """An inline projection that reads, inside the append transaction, what it was handed."""

    def __init__(self) -> None:
        self.rows: list[tuple[int, int]] = []

    checkpoint_names = ()
    posted_functions = None  # applied here, in Python, not by a function of the append

    async def apply_batch(
        self, batch: StatementBatch, events: Sequence[RecordedEvent], checkpoints: Mapping[str, int] | None = None
    ) -> None:
        await batch.flush()
        cur = batch.cursor
        await cur.execute("SELECT id, version FROM events WHERE id = ANY(%s) ORDER BY id", ([e.id for e in events],))
        stored = [tuple(r) for r in await cur.fetchall()]
        assert stored == [(e.id, e.version) for e in events]
        self.rows.extend(stored)


async def test_inline_projections_run_in_the_append_transaction(db: Database) -> None:
    seen = Seen()
    store = EventStore(db, build_registry(), inline=[seen])
    store.start()
    try:
        room, user = uuid.uuid4(), uuid.uuid4()
        await asyncio.gather(*(store.append_one(msg(room, actor_id=user, client_msg_id=f"k{i}")) for i in range(20)))
        retry = await store.append_one(msg(room, actor_id=user, client_msg_id="k3"))
        assert retry.duplicate
        assert seen.rows == [(i, i) for i in range(1, 21)]
    finally:
        await store.close()


async def test_listeners_hear_committed_events_in_order(store: EventStore) -> None:
    heard: list[int] = []
    store.add_listener(lambda events: heard.extend(e.id for e in events))
    room = uuid.uuid4()
    await asyncio.gather(*(store.append_one(msg(room)) for _ in range(30)))
    with pytest.raises(VersionConflict):
        await store.append_one(msg(room, expected_version=NO_STREAM))
    assert heard == list(range(1, 31))


async def test_two_transactions_in_flight_keep_ids_gapless_and_listeners_in_order(db: Database) -> None:
    store = EventStore(db, build_registry(), pipeline=2, max_batch=40)
    heard: list[int] = []
    store.add_listener(lambda events: heard.extend(e.id for e in events))
    store.start()
    try:
        rooms = [uuid.uuid4() for _ in range(5)]
        user = uuid.uuid4()
        results = await asyncio.gather(
            *(store.append_one(msg(rooms[i % 5], f"m{i}", actor_id=user, client_msg_id=f"k{i}")) for i in range(400))
        )
        retry = await store.append_one(msg(rooms[0], "m0", actor_id=user, client_msg_id="k0"))
    finally:
        await store.close()
    assert store.stats.flushes > 10  # several transactions, so some were in flight together
    assert sorted(r.event.id for r in results) == list(range(1, 401))
    # in start order, which is commit order unless the later transaction won the lock (see store.py)
    assert sorted(heard) == list(range(1, 401))
    assert retry.duplicate
    assert retry.event == results[0].event
    for room in rooms:
        assert [e.version for e in await store.read_stream(room)] == list(range(1, 81))


class Exploding:
    """An inline projection that fails on one particular message."""

    checkpoint_names = ()
    posted_functions = None  # applied here, in Python, not by a function of the append

    async def apply_batch(
        self, batch: StatementBatch, events: Sequence[RecordedEvent], checkpoints: Mapping[str, int] | None = None
    ) -> None:
        if any(e.data.get("content") == "boom" for e in events):
            raise RuntimeError("projection failed")


async def test_a_failing_group_does_not_sink_its_batch(db: Database) -> None:
    store = EventStore(db, build_registry(), inline=[Exploding()])
    store.start()
    try:
        room = uuid.uuid4()
        texts = ["a", "b", "boom", "c", "d"]
        results = await asyncio.gather(*(store.append_one(msg(room, t)) for t in texts), return_exceptions=True)
        assert [isinstance(r, Exception) for r in results] == [False, False, True, False, False]
        assert sorted(e.data["content"] for e in await store.read_stream(room)) == ["a", "b", "c", "d"]
    finally:
        await store.close()


async def test_closed_store_refuses_appends_after_flushing(store: EventStore) -> None:
    room = uuid.uuid4()
    pending = [asyncio.ensure_future(store.append_one(msg(room))) for _ in range(50)]
    await asyncio.sleep(0)
    await store.close()
    assert len(await asyncio.gather(*pending)) == 50
    assert await store.head() == 50
    with pytest.raises(Unavailable):
        await store.append_one(msg(room))


async def test_old_schema_versions_are_upcast_on_read(db: Database) -> None:
    class V2(MessagePosted):
        pass

    registry = EventRegistry()
    registry.register(
        "message.posted",
        V2(),
        version=2,
        upcasters={1: lambda d: {**d, "content": d.pop("text"), "thread_root": None, "attachments": None}},
    )
    room = uuid.uuid4()
    async with db.transaction() as cur:
        await cur.execute(
            "INSERT INTO events (id, stream_id, version, type, schema_version, data)"
            " VALUES (1, %s, 1, 'message.posted', 1, %s)",
            (room, '{"text": "from 2024"}'),
        )
    store = EventStore(db, registry)
    [event] = await store.read_stream(room)
    assert event.schema_version == 2
    assert event.data["content"] == "from 2024"


async def test_a_tailer_never_sees_a_gap_filled_later(database_url: str) -> None:
    """Several appenders on separate connections (as separate processes would be) race while a
    reader tails `id > last`; every read must continue exactly where the previous one ended."""
    registry = build_registry()
    writers: list[tuple[Database, EventStore]] = []
    for i in range(4):
        wdb = await Database.connect(database_url, minsize=1, maxsize=2)
        wstore = EventStore(wdb, registry, node_id=f"w{i}", max_batch=7)
        wstore.start()
        writers.append((wdb, wstore))
    reader_db = await Database.connect(database_url, minsize=1, maxsize=1)
    reader = EventStore(reader_db, registry)
    total = 4 * 150
    seen: list[int] = []
    done = asyncio.Event()

    async def write(wstore: EventStore, n: int) -> None:
        rooms = [uuid.uuid4() for _ in range(3)]
        for batch in range(15):
            await asyncio.gather(*(wstore.append_one(msg(rooms[k % 3], f"{n}-{batch}-{k}")) for k in range(10)))

    async def tail() -> None:
        last = 0
        while len(seen) < total:
            for e in await reader.read_all(after=last, limit=50):
                assert e.id == last + 1, f"gap: saw {e.id} after {last}"
                last = e.id
                seen.append(e.id)
            if done.is_set() and len(seen) < total and last == await reader.head():
                break

    try:
        tailer = asyncio.ensure_future(tail())
        await asyncio.gather(*(write(ws, n) for n, (_, ws) in enumerate(writers)))
        done.set()
        await asyncio.wait_for(tailer, 30)
        assert seen == list(range(1, total + 1))
        nodes = {e.metadata["node"] for e in await reader.read_all(limit=total)}
        assert nodes == {"w0", "w1", "w2", "w3"}
    finally:
        for wdb, wstore in writers:
            await wstore.close()
            await wdb.close()
        await reader_db.close()
