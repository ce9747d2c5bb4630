"""Where each projection stands: its checkpoint, how far behind the head, its rows, and any
rebuild in progress (`gochat projections status`)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from ..db import Database
from .base import Projection

REBUILD_PREFIX = "rebuild:"


@dataclass(frozen=True, slots=True)
class ProjectionStatus:
    name: str
    inline: bool
    position: int  # the checkpoint: the last event applied
    updated_at: datetime | None  # when the checkpoint last moved
    lag: int  # positions between the checkpoint and the head
    rows: dict[str, int]  # table -> exact row count


@dataclass(frozen=True, slots=True)
class Status:
    head: int
    projections: list[ProjectionStatus]
    rebuilds: dict[str, int]  # an interrupted or running rebuild ("history", "all") -> its position


async def status(db: Database, projections: Sequence[Projection]) -> Status:
    """Counts are exact (`count(*)`): on very large tables this reads them once each."""
    async with db.transaction() as cur:
        # One snapshot, so the head, checkpoints and counts agree with each other.
        await cur.execute("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ, READ ONLY")
        await cur.execute("SELECT coalesce(max(id), 0) FROM events")
        (head,) = await cur.fetchone()
        await cur.execute("SELECT name, position, updated_at FROM projection_checkpoints")
        checkpoints = {name: (int(pos), at) for name, pos, at in await cur.fetchall()}
        found = []
        for p in projections:
            rows = {}
            for table in p.tables:
                await cur.execute(f"SELECT count(*) FROM {table}")
                (rows[table],) = await cur.fetchone()
            position, at = checkpoints.get(p.name, (0, None))
            found.append(ProjectionStatus(p.name, p.inline, position, at, head - position, rows))
    rebuilds = {
        n.removeprefix(REBUILD_PREFIX): pos for n, (pos, _) in checkpoints.items() if n.startswith(REBUILD_PREFIX)
    }
    return Status(int(head), found, rebuilds)


async def lags(db: Database, names: Sequence[str]) -> dict[str, int]:
    """Events after each named projection's checkpoint (for the metrics; one cheap query)."""
    async with db.cursor() as cur:
        await cur.execute(
            "SELECT n, (SELECT coalesce(max(id), 0) FROM events) - coalesce(c.position, 0)"
            " FROM unnest(%s::text[]) AS n LEFT JOIN projection_checkpoints c ON c.name = n",
            (list(names),),
        )
        return {name: int(lag) for name, lag in await cur.fetchall()}
