"""SqlProjection: a projection whose rules are one SQL function, called alike one by one and in batches."""

from __future__ import annotations

import uuid

from gochat.db import Database
from gochat.events import EventStore
from gochat.events.model import NewEvent
from gochat.projections.base import SqlProjection


class RoomNames(SqlProjection):
    name = "test_room_names"
    tables = ("test_room_names",)
    handles = frozenset({"room.created", "room.updated"})
    inline = False
    function = "gochat_apply_test_room_names"


_SCHEMA = """
CREATE TABLE test_room_names (room_id uuid PRIMARY KEY, name text NOT NULL, renames int NOT NULL);
CREATE FUNCTION gochat_apply_test_room_names(e events) RETURNS void LANGUAGE plpgsql AS $$
BEGIN
    CASE e.type
    WHEN 'room.created' THEN
        INSERT INTO test_room_names VALUES (e.stream_id, e.data->>'name', 0);
    WHEN 'room.updated' THEN
        UPDATE test_room_names SET name = coalesce(e.data->>'name', name), renames = renames + 1
        WHERE room_id = e.stream_id;
    END CASE;
END $$;
"""


async def _rows(db: Database) -> list[tuple[object, ...]]:
    async with db.cursor() as cur:
        await cur.execute("SELECT room_id, name, renames FROM test_room_names ORDER BY room_id")
        return list(await cur.fetchall())


async def test_one_by_one_equals_one_batch_in_id_order(db: Database, store: EventStore) -> None:
    async with db.transaction() as cur:
        await cur.execute(_SCHEMA)
    a, b = uuid.uuid4(), uuid.uuid4()
    await store.append(
        NewEvent("room.created", a, {"name": "one", "type": "public"}),
        NewEvent("room.created", b, {"name": "two", "type": "public"}),
        NewEvent("message.posted", a, {"content": "skipped: not handled"}),
        NewEvent("room.updated", a, {"name": "uno"}),
        NewEvent("room.updated", a, {"name": "eins"}),
    )
    events = await store.read_all(after=0, limit=100)
    projection = RoomNames()

    async with db.transaction() as cur:
        await projection.apply_batch(cur, events)
    batched = await _rows(db)
    async with db.transaction() as cur:
        await cur.execute("TRUNCATE test_room_names")
        for event in events:
            if event.type in projection.handles:
                await projection.apply(cur, event)

    assert await _rows(db) == batched
    assert sorted(batched, key=lambda r: str(r[1])) == [(a, "eins", 2), (b, "two", 0)]
