"""Sealing events written before their personal fields were sealed (an upgraded database), in place.

The log is append-only, and this is the one change made to stored events: `data` alone is rewritten,
under `SET LOCAL gochat.reseal = 'on'`, which the append-only trigger (sql/functions/
events_refuse_change.sql) accepts for an UPDATE that leaves every other column as it was. What an
event means does not change: opened, it reads as before (or, its owner erased, blank, as it would
read sealed with a destroyed key). Run for the whole log by `gochat keys seal-log` (resumable: a
sealed event is not selected again), and for one user's events by every erasure.

Rows rewritten leave their old versions behind until VACUUM reclaims them (docs/operations.md).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any
from uuid import UUID

from ..db import Database, json_text
from .sealing import PERSONAL, PERSONAL_TYPES, Sealer

_BY_ACTOR = sorted(str(t) for t, p in PERSONAL.items() if p.by_actor)
_BY_STREAM = sorted(str(t) for t, p in PERSONAL.items() if not p.by_actor)
_SELECT = (
    "SELECT id, stream_id, type, data, actor_id FROM events WHERE id > %(after)s AND id <= %(upto)s"
    " AND type = ANY(%(types)s) AND NOT data ? 'sealed' {owner} ORDER BY id LIMIT %(page)s"
)
# an owner's events: what they wrote in rooms (by actor), and their own stream's (by stream)
_OWNER = (
    " AND ((actor_id = %(owner)s AND type = ANY(%(by_actor)s))"
    " OR (stream_id = %(owner)s AND type = ANY(%(by_stream)s)))"
)
_UPDATE = (
    "SET LOCAL gochat.reseal = 'on';"
    " UPDATE events e SET data = r.data FROM jsonb_to_recordset(%s::jsonb) AS r(id bigint, data jsonb)"
    " WHERE e.id = r.id"
)


async def reseal(
    db: Database,
    sealer: Sealer,
    *,
    owner: UUID | None = None,
    page: int = 2000,
    progress: Callable[[int, int], None] | None = None,
) -> int:
    """Seal every stored event of a personal type that is not sealed yet; how many were rewritten.
    `progress(position, rewritten)` after each page.

    The whole log (an event of an old node that wrote in clear after the upgrade is found too), then
    `log_sealing.clear_upto` goes to 0; or, with `owner` (an erasure), that user's events up to
    `clear_upto` only: none at all once the whole log was sealed, or on a database made sealed."""
    if owner is None:
        upto = 2**62
    else:
        upto = int(await db.fetchval("SELECT clear_upto FROM log_sealing"))
        if upto == 0:
            return 0
    query = _SELECT.format(owner="" if owner is None else _OWNER)
    params: dict[str, Any] = {"types": sorted(PERSONAL_TYPES), "page": page, "owner": owner, "upto": upto,
                              "by_actor": _BY_ACTOR, "by_stream": _BY_STREAM}  # fmt: skip
    after, rewritten = 0, 0
    while True:
        async with db.cursor() as cur:
            await cur.execute(query, {**params, "after": after})
            rows = await cur.fetchall()
        if not rows:
            break
        stored = await sealer.seal_all((type_, stream, actor, data) for _, stream, type_, data, actor in rows)
        # unchanged: nobody's (no actor), or blanked already (an erased owner's, by an earlier run)
        changed = [{"id": row[0], "data": new} for row, new in zip(rows, stored, strict=True) if new != row[3]]
        if changed:
            async with db.transaction(statement_timeout=0) as cur:
                await cur.execute(_UPDATE, (json_text(changed),))
            rewritten += len(changed)
        after = rows[-1][0]
        if progress is not None:
            progress(after, rewritten)
        if len(rows) < page:
            break
    if owner is None:
        # what was there when the scan began is sealed, and what came later was sealed as it came
        async with db.cursor() as cur:
            await cur.execute("UPDATE log_sealing SET clear_upto = 0")
    return rewritten
