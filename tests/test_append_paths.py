"""The append has one definition, gochat_append (docs/architecture.md, "One append path"): every
batch, whatever it holds and however the inline projections run, gets the outcome each of its groups
would get appended alone, in order. The model below is that specification, written plainly:

- a group whose first keyed event's (actor, stream, client_msg_id) is stored is a retry: it writes
  nothing and returns the event holding the key, `duplicate=True` (an event without an actor has
  no key, as the unique index holds none);
- otherwise a group whose stream is not at the version its first event on that stream expects
  writes nothing and fails with VersionConflict;
- otherwise its events take the next ids and their streams' next versions.
"""

from __future__ import annotations

import asyncio
import itertools
import random
import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import psycopg2
import pytest
from conftest import FreshDb
from test_projection_equivalence import EveryTypeLog

from gochat.db import Database, StatementBatch
from gochat.errors import VersionConflict
from gochat.events import NO_STREAM, EventStore, NewEvent, RecordedEvent, build_registry, transactions
from gochat.events.types import EventType
from gochat.projections.catalog import all_projections
from gochat.projections.engine import InlineProjections, ProjectionRunner

Key = tuple[uuid.UUID | None, uuid.UUID, str]
# ("written", ((id, version), ...)) | ("duplicate", id) | ("conflict", stream, expected, actual)
Outcome = tuple[Any, ...]


@dataclass
class AppendModel:
    """The rules of an append, one group at a time, in memory."""

    log: list[tuple[Any, ...]] = field(default_factory=list)
    versions: dict[uuid.UUID, int] = field(default_factory=dict)
    keys: dict[Key, int] = field(default_factory=dict)

    def append(self, group: Sequence[NewEvent]) -> Outcome:
        keyed = next((e for e in group if e.client_msg_id and e.actor_id is not None), None)
        if keyed is not None and (found := self.keys.get(_key(keyed))) is not None:
            return ("duplicate", found)
        seen: set[uuid.UUID] = set()
        for e in group:
            if e.expected_version is not None and e.stream_id not in seen:
                actual = self.versions.get(e.stream_id, 0)
                if e.expected_version != actual:
                    return ("conflict", e.stream_id, e.expected_version, actual)
            seen.add(e.stream_id)
        written = []
        for e in group:
            self.versions[e.stream_id] = version = self.versions.get(e.stream_id, 0) + 1
            position = len(self.log) + 1
            self.log.append((position, e.stream_id, version, e.type, e.data["content"], e.actor_id, e.client_msg_id))
            if e.client_msg_id and e.actor_id is not None:
                self.keys[_key(e)] = position
            written.append((position, version))
        return ("written", tuple(written))


def _key(e: NewEvent) -> Key:
    return (e.actor_id, e.stream_id, e.client_msg_id or "")


class Workload:
    """Batches of groups over a few streams and actors: idempotency keys drawn from a small pool
    (retries of stored events, of groups in the same batch, of groups that failed), and expected
    versions right, stale, ahead or NO_STREAM, so groups of one batch decide each other's fate."""

    def __init__(self, seed: int) -> None:
        self.rng = random.Random(seed)
        self.streams = [uuid.UUID(int=self.rng.getrandbits(128)) for _ in range(4)]
        self.actors = [uuid.UUID(int=self.rng.getrandbits(128)) for _ in range(3)]
        self.versions: dict[uuid.UUID, int] = {}  # roughly where the streams are, for plausible expectations
        self.count = 0
        self.expecting = False
        self.keys: list[Key] = []

    def batch(self) -> list[list[NewEvent]]:
        # half the batches expect no version (a retry among them is found by the unique index)
        self.expecting = self.rng.random() < 0.5
        return [self.group() for _ in range(self.rng.randint(1, 8))]

    def group(self) -> list[NewEvent]:
        size = self.rng.randint(1, 3)
        keyed_at = self.rng.randrange(size) if self.rng.random() < 0.6 else None  # one key a group at most
        events = []
        for i in range(size):
            stream, key = self.rng.choice(self.streams), None
            actor = self.rng.choice(self.actors) if self.rng.random() < 0.95 else None
            if i == keyed_at:
                if self.keys and self.rng.random() < 0.4:  # a retry of a recent key (maybe in this batch)
                    actor, stream, key = self.rng.choice(self.keys[-6:])
                else:
                    key = f"k{len(self.keys)}"
                    self.keys.append((actor, stream, key))
            self.count += 1
            events.append(
                NewEvent(
                    EventType.MESSAGE_POSTED,
                    stream,
                    {"content": f"event {self.count}"},
                    actor_id=actor,
                    client_msg_id=key,
                    expected_version=self.expectation(stream),
                )
            )
            self.versions[stream] = self.versions.get(stream, 0) + 1
        return events

    def expectation(self, stream: uuid.UUID) -> int | None:
        roll = self.rng.random()
        if not self.expecting or roll < 0.6:
            return None
        if roll < 0.75:
            return NO_STREAM
        return max(0, self.versions.get(stream, 0) + self.rng.choice((-1, 0, 0, 1)))


class Recorder:
    """An inline projection applied in Python after the call (the transaction's second round trip),
    checking that it is handed exactly the events written, as stored."""

    checkpoint_names = ()
    posted_functions = None

    def __init__(self) -> None:
        self.seen: list[tuple[int, int]] = []

    async def apply_batch(
        self, batch: StatementBatch, events: Sequence[RecordedEvent], checkpoints: Mapping[str, int] | None = None
    ) -> None:
        await batch.flush()
        await batch.cursor.execute(
            "SELECT id, version FROM events WHERE id = ANY(%s) ORDER BY id", ([e.id for e in events],)
        )
        stored = [tuple(r) for r in await batch.cursor.fetchall()]
        assert stored == [(e.id, e.version) for e in events]
        self.seen.extend(stored)


async def _outcome(store: EventStore, future: asyncio.Future[Any]) -> Outcome:
    try:
        results = await future
    except VersionConflict as exc:
        return ("conflict", uuid.UUID(exc.details["stream_id"]), exc.details["expected"], exc.details["actual"])
    if results[0].duplicate:
        assert len(results) == 1  # a retry returns its original alone
        original = results[0].event
        assert original == await store.get(original.id)
        return ("duplicate", original.id)
    assert not any(r.duplicate for r in results)
    return ("written", tuple((r.event.id, r.event.version) for r in results))


# name: (max_batch, inline projections)
MODES: dict[str, tuple[int, str | None]] = {
    "log alone": (1000, None),
    "each group its own transaction": (1, None),
    "projections in the call": (1000, "all"),
    "projection after the call": (1000, "recorder"),
}


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("seed", [1, 2, 3])
async def test_every_batch_gets_the_outcomes_of_its_groups_appended_alone(db: Database, mode: str, seed: int) -> None:
    max_batch, inline = MODES[mode]
    store = EventStore(db, build_registry(), node_id="test", max_batch=max_batch)
    recorder = Recorder()
    if inline == "all":
        store.inline.append(InlineProjections(store, all_projections()))
    elif inline == "recorder":
        store.inline.append(recorder)
    model, workload = AppendModel(), Workload(seed)
    outcomes: list[Outcome] = []
    expected: list[Outcome] = []
    retried_in_batch = 0  # retries of a group flushed in the same batch
    retried_unplanned = 0  # batches expecting no version, holding a retry (found by the unique index)
    store.start()
    try:
        for _ in range(60):
            groups = workload.batch()
            # submitted without yielding: the groups wait together and are flushed as one batch
            futures = [store.submit(*g) for g in groups]
            outcomes += [await _outcome(store, f) for f in futures]
            head = len(model.log)
            expected += [model.append(g) for g in groups]
            mine = expected[-len(groups) :]
            retried_in_batch += sum(o[0] == "duplicate" and o[1] > head for o in mine)
            if all(e.expected_version is None for g in groups for e in g):
                retried_unplanned += any(o[0] == "duplicate" for o in mine)
    finally:
        await store.close()
    assert outcomes == expected
    kinds = {o[0] for o in expected}
    assert kinds == {"written", "duplicate", "conflict"}, "the workload no longer exercises every outcome"
    assert retried_in_batch > 0
    assert retried_unplanned > 0
    assert [
        (e.id, e.stream_id, e.version, e.type, e.data["content"], e.actor_id, e.client_msg_id)
        for e in await store.read_all(limit=10_000)
    ] == model.log
    if inline == "recorder":
        assert recorder.seen == [(row[0], row[2]) for row in model.log]


async def test_a_key_repeated_inside_a_group_fails_that_group_alone(store: EventStore) -> None:
    # Not a retry (the group's first key is new): the unique index refuses the group; the batch's
    # other groups still commit.
    room, user = uuid.uuid4(), uuid.uuid4()

    def post(text: str, key: str) -> NewEvent:
        return NewEvent(EventType.MESSAGE_POSTED, room, {"content": text}, actor_id=user, client_msg_id=key)

    before, bad, after = (
        store.submit(post("a", "k1")),
        store.submit(post("b", "k2"), post("c", "k2")),
        store.submit(post("d", "k3")),
    )
    assert [r.event.version for r in await before] == [1]
    with pytest.raises(psycopg2.IntegrityError):
        await bad
    assert [r.event.version for r in await after] == [2]
    assert [e.data["content"] for e in await store.read_stream(room)] == ["a", "d"]


# Every projection table and the log, row by row, without the columns that hold the time of the
# append (the two databases append at different moments).
_ROWS = """
SELECT coalesce(jsonb_agg(r ORDER BY r::text), '[]')::text FROM (
    SELECT jsonb_object_agg(k, v) AS r FROM {table} t, jsonb_each(to_jsonb(t)) AS c(k, v)
    WHERE NOT (jsonb_typeof(v) = 'string' AND v #>> '{{}}' ~ '^\\d{{4}}-\\d\\d-\\d\\dT')
    GROUP BY t.ctid) x
"""


# The log's rows with their sealed fields taken out (each database seals under keys of its own, with
# random nonces: events/sealing.py), and which rows had them; what they seal is compared opened.
_EVENTS = (
    "SELECT coalesce(jsonb_agg(to_jsonb(e) ORDER BY e.id), '[]')::text FROM (SELECT id, stream_id, version, type,"
    " schema_version, data - 'sealed' AS data, data ? 'sealed' AS sealed, metadata, actor_id, client_msg_id"
    " FROM events) e"
)


async def _tables(db: Database) -> dict[str, Any]:
    found: dict[str, Any] = {}
    async with db.cursor() as cur:
        await cur.execute(_EVENTS)
        found["events"] = (await cur.fetchone())[0]
        for table in (t for p in all_projections() for t in p.tables):
            await cur.execute(_ROWS.format(table=table))
            found[table] = (await cur.fetchone())[0]
    opened = await EventStore(db, build_registry()).read_all(limit=100_000)
    found["events opened"] = [(e.id, dict(e.data)) for e in opened]
    return found


async def _append_in_batches(db: Database, *, in_the_call: bool, monkeypatch: pytest.MonkeyPatch) -> int:
    """Appends a random log (every event type) in runs of up to 40 events of a kind (posts, or
    others); returns how many batches of posts the append call projected itself."""
    store = EventStore(db, build_registry(), node_id="test")
    store.inline.append(InlineProjections(store, all_projections()))
    projected_in_the_call: list[int] = []
    posted_functions = transactions._posted_functions

    def posted(batch: Any, inline: Any) -> list[str] | None:
        functions = posted_functions(batch, inline) if in_the_call else None
        projected_in_the_call.extend([len(batch)] if functions else [])
        return functions

    with monkeypatch.context() as patch:
        patch.setattr(transactions, "_posted_functions", posted)
        store.start()
        try:
            log, sizes, appended = EveryTypeLog(seed=5), random.Random(5), 0
            while appended < 900:
                events = [log.next_event() for _ in range(sizes.randint(1, 40))]
                # each run of posts, and of other events, one batch: many a batch of posts alone
                for _, run in itertools.groupby(events, key=lambda e: e.type == EventType.MESSAGE_POSTED):
                    batch = list(run)
                    for event, result in zip(batch, await store.append(*batch), strict=True):
                        log.appended(event, result.event.id)
                appended += len(events)
            followers = ProjectionRunner(db, store, [p for p in all_projections() if not p.inline])
            for projection in followers.projections:
                await followers.catch_up(projection)
        finally:
            await store.close()
    return len(projected_in_the_call)


async def test_posts_projected_in_the_call_and_after_it_give_the_same_rows(
    fresh_db: FreshDb, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The inline projections run two ways on the one append: by their posted functions inside the
    call (a batch of posts alone), or by `apply_batch` after it in the same transaction."""
    in_call_db, after_db = await fresh_db(), await fresh_db()
    assert await _append_in_batches(in_call_db, in_the_call=True, monkeypatch=monkeypatch) > 50
    assert await _append_in_batches(after_db, in_the_call=False, monkeypatch=monkeypatch) == 0
    in_call, after = await _tables(in_call_db), await _tables(after_db)
    assert in_call.keys() == after.keys()
    for table in in_call:
        assert in_call[table] == after[table], f"{table} differs"
    # and the log meant something
    assert len(in_call["events"]) > 10_000
    assert len(in_call["events opened"]) > 800
    assert len(in_call["messages"]) > 1_000
