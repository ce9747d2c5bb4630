"""Filtered, batched reads of the raw log for the operators' tools (export, tail, stats).

Rows stay close to the wire: UUIDs, JSON and timestamps arrive as text, so a tool can write a
million events without building a Python object per field (see `RawEvent`). Reads page by keyset
(`id > last ORDER BY id LIMIT n`), one short autocommit query per page, which streams the log in
bounded memory and works behind transaction-pooling proxies (no server-side cursor to keep open).
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass, replace
from datetime import date, datetime
from typing import Any
from uuid import UUID

import orjson

from ..db import Database
from .keystore import TableKeyStore
from .registry import EventRegistry
from .sealing import Sealer

# id, stream_id, version, type, schema_version, data (JSON), metadata (JSON), actor_id, client_msg_id,
# recorded_at (RFC 3339, UTC, microseconds)
RawEvent = tuple[int, str, int, str, int, str, str, str | None, str | None, str]
FIELDS = (
    "id", "stream_id", "version", "type", "schema_version",
    "data", "metadata", "actor_id", "client_msg_id", "recorded_at",
)  # fmt: skip

_COLUMNS = (
    "{e}id, {e}stream_id::text, {e}version, {e}type, {e}schema_version, ({data})::text, {e}metadata::text,"
    " {e}actor_id::text, {e}client_msg_id,"
    " to_char({e}recorded_at AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS.US\"Z\"')"
)
_SELECT = "SELECT " + _COLUMNS.format(e="", data="data") + " FROM events"


@dataclass(frozen=True, slots=True)
class DataView:
    """Another `data` for each event: `data` is an SQL expression over the event `e` and whatever
    `join` brings in (projections/current.py: messages as history holds them now)."""

    join: str
    data: str


@dataclass(frozen=True, slots=True)
class LogFilter:
    """Which events: every set field must match. Positions are `after < id <= upto`, times are
    `since <= recorded_at < until`, so consecutive windows neither overlap nor leave a gap."""

    stream_id: UUID | None = None
    types: tuple[str, ...] = ()  # exact names, or "prefix.*" for every type of a family
    actor_id: UUID | None = None
    after: int = 0
    upto: int | None = None
    since: datetime | None = None
    until: datetime | None = None

    def where(self) -> tuple[str, list[Any]]:
        exact = [t for t in self.types if not t.endswith(".*")]
        # "_" is LIKE's one-character wildcard and may appear in type names: match it literally.
        prefixes = [t[:-1].replace("_", "\\_") + "%" for t in self.types if t.endswith(".*")]
        equal_or_bounded = [
            ("id > %s", self.after),
            ("id <= %s", self.upto),
            ("stream_id = %s", self.stream_id),
            ("actor_id = %s", self.actor_id),
            ("recorded_at >= %s", self.since),
            ("recorded_at < %s", self.until),
        ]
        clauses: list[tuple[str, tuple[Any, ...]]] = [(sql, (v,)) for sql, v in equal_or_bounded if v is not None]
        # Only the alternatives asked for: an empty "type LIKE ANY('{}')" still costs a check per row.
        either = [(sql, v) for sql, v in (("type = ANY(%s)", exact), ("type LIKE ANY(%s)", prefixes)) if v]
        if either:
            clauses.append((f"({' OR '.join(sql for sql, _ in either)})", tuple(v for _, v in either)))
        return " AND ".join(sql for sql, _ in clauses), [p for _, params in clauses for p in params]


class LogScan:
    def __init__(
        self,
        db: Database,
        registry: EventRegistry,
        *,
        batch_size: int = 10_000,
        view: DataView | None = None,
        sealer: Sealer | None = None,
    ) -> None:
        self.db = db
        self.registry = registry
        self.batch_size = batch_size
        self.view = view
        # opens personal fields (events/sealing.py), by default with keys stored unwrapped (as EventStore)
        self.sealer = sealer if sealer is not None else Sealer(TableKeyStore(db))
        # Only types with upcasters cost anything per row; today's log needs none.
        self._current = {t: v for t in registry.types if (v := registry.spec(t).version) > 1}

    async def head(self) -> int:
        return int(await self.db.fetchval("SELECT coalesce(max(id), 0) FROM events"))

    async def pin(self, flt: LogFilter) -> LogFilter:
        """The filter bounded by today's head: a scan of it ends even while the log grows."""
        head = await self.head()
        return replace(flt, upto=head if flt.upto is None else min(flt.upto, head))

    async def batches(self, flt: LogFilter) -> AsyncIterator[list[RawEvent]]:
        """Matching events in id order, in lists of at most `batch_size`, upcast to current versions."""
        after = flt.after
        while True:
            where, params = replace(flt, after=after).where()
            # A connection per page, none held while the consumer works: a consumer that stops early
            # (a closed pipe) leaves nothing checked out of the pool.
            async with self.db.cursor() as cur:
                await cur.execute(self._query(where, "ASC"), (*params, self.batch_size))
                rows: list[RawEvent] = await cur.fetchall()
            if not rows:
                return
            yield self._upcast(await self._open(rows))
            if len(rows) < self.batch_size:
                return
            after = rows[-1][0]

    async def last(self, flt: LogFilter, n: int) -> list[RawEvent]:
        """The last `n` matching events, oldest first."""
        where, params = flt.where()
        async with self.db.cursor() as cur:
            await cur.execute(self._query(where, "DESC"), (*params, n))
            rows: list[RawEvent] = await cur.fetchall()
        return self._upcast(await self._open(rows[::-1]))

    async def daily_counts(self, flt: LogFilter) -> list[tuple[date, str, int]]:
        """(UTC day, type, events) for every day and type with at least one matching event."""
        where, params = flt.where()
        async with self.db.cursor() as cur:
            await cur.execute(
                "SELECT date_trunc('day', recorded_at AT TIME ZONE 'UTC')::date AS day, type, count(*)"
                f" FROM events WHERE {where} GROUP BY 1, 2 ORDER BY 1, 2",
                params,
            )
            return [(day, type_, int(n)) for day, type_, n in await cur.fetchall()]

    def _query(self, where: str, order: str) -> str:
        if self.view is None:
            return f"{_SELECT} WHERE {where} ORDER BY id {order} LIMIT %s"
        columns = _COLUMNS.format(e="e.", data=self.view.data)
        return (
            f"SELECT {columns} FROM (SELECT * FROM events WHERE {where} ORDER BY id {order} LIMIT %s) e"
            f"{self.view.join} ORDER BY e.id {order}"
        )

    async def _open(self, rows: list[RawEvent]) -> list[RawEvent]:
        sealer = self.sealer
        await sealer.prepare(r[5] for r in rows)
        return [(*r[:5], sealer.open_text(r[3], r[1], r[5]), *r[6:]) if '"sealed"' in r[5] else r for r in rows]  # type: ignore[misc]

    def _upcast(self, rows: list[RawEvent]) -> list[RawEvent]:
        if not self._current:
            return rows
        return [self._upcast_row(r) if r[4] < self._current.get(r[3], 0) else r for r in rows]

    def _upcast_row(self, row: RawEvent) -> RawEvent:
        id_, stream, version, type_, sv, data, metadata, actor, cmid, at = row
        sv, upcast = self.registry.upcast(type_, sv, orjson.loads(data))
        return (id_, stream, version, type_, sv, orjson.dumps(upcast).decode(), metadata, actor, cmid, at)
