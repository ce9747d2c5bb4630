"""Rebuilding projections from position 0 while the live tables keep serving, then swapping.

Projections name their tables unqualified, so a rebuild applies the ordinary `apply_batch` code
with `search_path = <shadow schema>, public`: the projection's own tables resolve to empty copies
(`CREATE TABLE ... (LIKE public.t INCLUDING ALL)`), everything else (the log, checkpoints, another
projection's tables it reads) to the live ones. Each page commits with a checkpoint of its own,
`rebuild:<name>`, so a rebuild stopped by Ctrl-C, SIGTERM or a crash resumes where it stopped.

The swap is one transaction. It takes the events table lock the writers take
(`LOCK TABLE events IN EXCLUSIVE MODE`), so no event commits meanwhile; applies the last events;
moves the live tables out to `gochat_old_<name>` and the shadow tables into `public`; recreates
their row-level security, policies and grants from the catalog (`LIKE` copies none of them);
re-binds policies of other tables that name a swapped table (a policy holds the table's OID, not
its name); moves the checkpoint; drops the old tables. A server appending at that moment waits on
the lock and then applies its batch to the new tables. Readers wait only while the tables are
renamed; a swap that cannot get its locks within `lock_timeout` (or loses a deadlock to a reader)
is rolled back and tried again after catching up once more.

Refused up front, since a swap would silently break them: views, foreign keys and triggers on a
projection's tables (gochat has none; see `_unsupported`).
"""

from __future__ import annotations

import asyncio
import re
import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Protocol

import structlog

from ..db import Cursor, Database, DeadlockDetected, LockNotAvailable
from ..events.model import RecordedEvent
from ..events.store import EventStore
from .base import Projection
from .engine import advance, read_checkpoints
from .status import REBUILD_PREFIX

log = structlog.get_logger("gochat.projections.rebuild")

ALL = "all"
SHADOW_PREFIX = "gochat_rebuild_"
OLD_PREFIX = "gochat_old_"
_NAME = re.compile(r"^[a-z][a-z0-9_]*$")  # becomes part of a schema name


class RebuildError(Exception):
    """A rebuild that cannot go on (unknown name, unsupported schema objects, swap kept failing)."""


class Progress(Protocol):
    """Fed as pages commit (gochat/tools/progress.py draws it on a terminal)."""

    def begin(self, after: int, upto: int) -> None:
        """Positions after < id <= upto are left to apply (called again when the head moves)."""

    def advance(self, position: int, events: int) -> None:
        """Applied up to `position`; `events` applied since this run started."""


class _NoProgress:
    def begin(self, after: int, upto: int) -> None:
        pass

    def advance(self, position: int, events: int) -> None:
        pass


@dataclass(frozen=True, slots=True)
class Target:
    """What one rebuild covers: one projection, or all of them in one pass over the log."""

    key: str
    projections: tuple[Projection, ...]

    @property
    def shadow(self) -> str:
        return SHADOW_PREFIX + self.key

    @property
    def old(self) -> str:
        return OLD_PREFIX + self.key

    @property
    def checkpoint(self) -> str:
        return REBUILD_PREFIX + self.key

    @property
    def tables(self) -> list[str]:
        return [t for p in self.projections for t in p.tables]

    @property
    def handles(self) -> frozenset[str]:
        return frozenset().union(*(p.handles for p in self.projections))


def target(projections: Sequence[Projection], name: str) -> Target:
    """`name` (a projection) or "all" (every one, in catalog order: receipts reads history)."""
    if name == ALL:
        return Target(ALL, tuple(projections))
    for p in projections:
        if p.name == name and _NAME.match(name):
            return Target(name, (p,))
    known = ", ".join([p.name for p in projections] + [ALL])
    raise RebuildError(f"unknown projection {name!r} (one of {known})")


@dataclass(frozen=True, slots=True)
class Outcome:
    key: str
    started_at: int  # the position this run resumed from (0 for a fresh rebuild)
    position: int  # where the rebuilt tables are: the head at the swap, or where it stopped
    events: int  # events applied by this run
    seconds: float
    swapped: bool  # False: stopped before the swap; run again to resume


class Rebuild:
    def __init__(
        self,
        db: Database,
        store: EventStore,
        what: Target,
        *,
        page: int = 5000,
        progress: Progress | None = None,
        lock_timeout: float = 5.0,
        swap_attempts: int = 5,
        keep_old: bool = False,
    ) -> None:
        self.db = db
        self.store = store
        self.what = what
        self.page = page
        self.progress = progress or _NoProgress()
        self.lock_timeout = lock_timeout
        self.swap_attempts = swap_attempts
        self.keep_old = keep_old
        self.applied = 0
        self.started_at = 0
        self.pages = 0

    async def run(self, stop: asyncio.Event | None = None, *, fresh: bool = False) -> Outcome:
        """Prepare (or resume), catch up to the head, swap. Returns early, without swapping, once
        `stop` is set (checked between pages: what was applied is kept for the next run)."""
        stop = stop or asyncio.Event()
        started = time.perf_counter()
        start = self.started_at = await self.prepare(fresh=fresh)
        position = start
        for attempt in range(1, self.swap_attempts + 1):
            position = await self.catch_up(stop)
            if stop.is_set():
                break
            try:
                position = await self.swap()
            except (LockNotAvailable, DeadlockDetected) as exc:
                log.warning("rebuild_swap_retry", projection=self.what.key, attempt=attempt, reason=str(exc).strip())
                continue
            self.progress.advance(position, self.applied)
            return Outcome(self.what.key, start, position, self.applied, time.perf_counter() - started, True)
        else:
            raise RebuildError(f"could not swap {self.what.key} in after {self.swap_attempts} attempts (lock timeouts)")
        return Outcome(self.what.key, start, position, self.applied, time.perf_counter() - started, False)

    # --- shadow tables --------------------------------------------------------------------------
    async def prepare(self, *, fresh: bool = False) -> int:
        """The position to continue from: the shadow checkpoint when an earlier run left a usable
        shadow schema, else 0 with the shadow tables created empty."""
        w = self.what
        async with self.db.transaction() as cur:
            await cur.execute("SELECT pg_advisory_xact_lock(hashtext(%s))", (w.checkpoint,))
            await _refuse_unsupported(cur, w.tables)
            if not fresh and await self._resumable(cur):
                return (await read_checkpoints(cur, [w.checkpoint]))[w.checkpoint]
            await cur.execute(f"DROP SCHEMA IF EXISTS {w.shadow} CASCADE; CREATE SCHEMA {w.shadow}")
            for table in w.tables:
                await cur.execute(f"CREATE TABLE {w.shadow}.{table} (LIKE public.{table} INCLUDING ALL)")
                await _name_indexes_as_live(cur, w.shadow, table)
            await advance(cur, [w.checkpoint], 0)
            return 0

    async def _resumable(self, cur: Cursor) -> bool:
        """An earlier run's shadow tables exist, with the live tables' columns (a migration in
        between would make them stale), and its checkpoint too."""
        await cur.execute("SELECT 1 FROM projection_checkpoints WHERE name = %s", (self.what.checkpoint,))
        if await cur.fetchone() is None:
            return False
        for table in self.what.tables:
            live = await _columns(cur, "public", table)
            if await _columns(cur, self.what.shadow, table) != live:
                return False
        return True

    # --- catching up ----------------------------------------------------------------------------
    async def catch_up(self, stop: asyncio.Event) -> int:
        """Apply pages until the head read at a page's start is reached (or `stop`); returns the
        shadow checkpoint."""
        while True:
            async with self.db.transaction() as cur:
                head, reached = await self._apply_page(cur)
            self.pages += 1
            if self.pages & (self.pages - 1) == 0 or reached >= head:
                await self._vacuum()
            self.progress.begin(self.started_at, head)
            self.progress.advance(reached, self.applied)
            if reached >= head or stop.is_set():
                return reached

    async def _vacuum(self) -> None:
        """VACUUM ANALYZE the shadow tables after pages 1, 2, 4, 8... and at the head. They start
        empty, without statistics, and pages rewrite the same rows many times (read markers)
        faster than autovacuum comes by: without this, receipts' statements scanned ever more dead
        rows and `rebuild all` took four times as long (docs/benchmarks.md). Each run costs more
        as the tables grow, so the doubling interval keeps the total a small share."""
        async with self.db.cursor() as cur:
            for table in self.what.tables:
                await cur.execute(f"VACUUM ANALYZE {self.what.shadow}.{table}")

    async def _apply_page(self, cur: Cursor) -> tuple[int, int]:
        """One page in the caller's transaction: (head, checkpoint after)."""
        w = self.what
        await cur.execute("SELECT set_config('search_path', %s, true)", (f"{w.shadow}, public",))
        position = (await read_checkpoints(cur, [w.checkpoint]))[w.checkpoint]
        head = await self.store.head(cur)
        events = await self.store.read_all(after=position, limit=self.page, types=w.handles, cur=cur)
        full = len(events) == self.page
        events = [e for e in events if e.id <= head]
        await self._apply(cur, events)
        reached = events[-1].id if full and events else head
        await advance(cur, [w.checkpoint], reached)
        return head, reached

    async def _apply(self, cur: Cursor, events: Sequence[RecordedEvent]) -> None:
        if events:
            for projection in self.what.projections:
                await projection.apply_batch(cur, events)
            self.applied += len(events)

    # --- the swap -------------------------------------------------------------------------------
    async def swap(self) -> int:
        """Apply the residue and swap, in one transaction holding the writers' lock; the position
        the new tables are at."""
        w = self.what
        async with self.db.transaction() as cur:
            await cur.execute("SELECT set_config('lock_timeout', %s, true)", (f"{int(self.lock_timeout * 1000)}ms",))
            await cur.execute("SHOW search_path")
            (path,) = await cur.fetchone()
            await cur.execute("LOCK TABLE events IN EXCLUSIVE MODE")
            await _refuse_unsupported(cur, w.tables)
            while True:  # the residue: short, as a catch-up just ran
                head, reached = await self._apply_page(cur)
                if reached >= head:
                    break
            await cur.execute("SELECT set_config('search_path', %s, true)", (path,))
            # Deparsed now, with the search_path the policies will be created under again.
            own = await _policy_statements(cur, w.tables, own=True)
            foreign = await _policy_statements(cur, w.tables, own=False)
            security = await _security_statements(cur, w.tables)
            live = ", ".join(f"public.{t}" for t in w.tables)
            await cur.execute(f"LOCK TABLE {live} IN ACCESS EXCLUSIVE MODE")
            await cur.execute(f"DROP SCHEMA IF EXISTS {w.old} CASCADE; CREATE SCHEMA {w.old}")
            for table in w.tables:
                await cur.execute(f"ALTER TABLE public.{table} SET SCHEMA {w.old}")
            for table in w.tables:
                await cur.execute(f"ALTER TABLE {w.shadow}.{table} SET SCHEMA public")
            # After every move, so that names in policy expressions bind to the new tables.
            for statement in [*security, *own, *foreign]:
                await cur.execute(statement)
            if not self.keep_old:
                # No CASCADE: anything still depending on an old table fails the swap loudly.
                await cur.execute(f"DROP TABLE {', '.join(f'{w.old}.{t}' for t in w.tables)}")
                await cur.execute(f"DROP SCHEMA {w.old}")
            await cur.execute(f"DROP SCHEMA {w.shadow}")
            await advance(cur, [p.name for p in w.projections], reached)
            await cur.execute("DELETE FROM projection_checkpoints WHERE name = %s", (w.checkpoint,))
            return reached


async def discard(db: Database, what: Target) -> bool:
    """Drop an interrupted rebuild's shadow tables and checkpoint; True if there was one."""
    async with db.transaction() as cur:
        await cur.execute("SELECT pg_advisory_xact_lock(hashtext(%s))", (what.checkpoint,))
        await cur.execute("DELETE FROM projection_checkpoints WHERE name = %s RETURNING 1", (what.checkpoint,))
        found = await cur.fetchone() is not None
        await cur.execute(f"DROP SCHEMA IF EXISTS {what.shadow} CASCADE")
        return found


# --- the catalog -----------------------------------------------------------------------------------
async def _columns(cur: Cursor, schema: str, table: str) -> list[tuple[str, str, bool]]:
    await cur.execute(
        "SELECT a.attname, format_type(a.atttypid, a.atttypmod), a.attnotnull FROM pg_attribute a"
        " JOIN pg_class c ON c.oid = a.attrelid JOIN pg_namespace n ON n.oid = c.relnamespace"
        " WHERE n.nspname = %s AND c.relname = %s AND a.attnum > 0 AND NOT a.attisdropped ORDER BY a.attnum",
        (schema, table),
    )
    return [(r[0], r[1], r[2]) for r in await cur.fetchall()]


async def _name_indexes_as_live(cur: Cursor, shadow: str, table: str) -> None:
    """LIKE names indexes after their columns; give each the live index's name (matched by
    definition), so the tables swapped in keep the names migrations refer to."""
    await cur.execute(
        "SELECT format('ALTER INDEX %%I.%%I RENAME TO %%I', %s, s.relname, l.relname)"
        " FROM pg_index si JOIN pg_class s ON s.oid = si.indexrelid,"
        "      pg_index li JOIN pg_class l ON l.oid = li.indexrelid"
        " WHERE si.indrelid = format('%%I.%%I', %s, %s)::regclass AND li.indrelid = format('public.%%I', %s)::regclass"
        "   AND si.indisprimary = li.indisprimary AND si.indisunique = li.indisunique"
        "   AND regexp_replace(pg_get_indexdef(si.indexrelid), '^.* USING ', '')"
        "     = regexp_replace(pg_get_indexdef(li.indexrelid), '^.* USING ', '')"
        "   AND s.relname <> l.relname",
        (shadow, shadow, table, table),
    )
    for (statement,) in await cur.fetchall():
        await cur.execute(statement)


# Every literal % is doubled: these run with parameters.
_POLICIES = """
SELECT format('%%s POLICY %%I ON public.%%I%%s%%s%%s',
              CASE WHEN %(own)s THEN 'CREATE' ELSE 'ALTER' END, p.policyname, p.tablename,
              CASE WHEN %(own)s THEN format(' AS %%s FOR %%s TO %%s', p.permissive, p.cmd,
                   array_to_string(ARRAY(SELECT CASE WHEN r = 'public' THEN 'PUBLIC' ELSE quote_ident(r) END
                                         FROM unnest(p.roles) AS r), ', ')) ELSE '' END,
              CASE WHEN p.qual IS NOT NULL THEN format(' USING (%%s)', p.qual) ELSE '' END,
              CASE WHEN p.with_check IS NOT NULL THEN format(' WITH CHECK (%%s)', p.with_check) ELSE '' END)
FROM pg_policies p
WHERE p.schemaname = 'public' AND CASE WHEN %(own)s THEN p.tablename = ANY(%(tables)s)
      ELSE p.tablename <> ALL(%(tables)s) AND EXISTS (
          SELECT 1 FROM pg_policy pp JOIN pg_depend d ON d.classid = 'pg_policy'::regclass AND d.objid = pp.oid
          WHERE pp.polname = p.policyname AND pp.polrelid = format('public.%%I', p.tablename)::regclass
            AND d.refobjid IN (SELECT format('public.%%I', t)::regclass FROM unnest(%(tables)s::text[]) AS t))
      END
ORDER BY p.tablename, p.policyname
"""


async def _policy_statements(cur: Cursor, tables: Sequence[str], *, own: bool) -> list[str]:
    """own: CREATE POLICY for every policy of `tables`, to recreate on the new tables. Otherwise
    ALTER POLICY, with the same expressions, for policies of other tables whose expressions name
    one of `tables`: parsed again after the swap, they bind to the new tables."""
    await cur.execute(_POLICIES, {"own": own, "tables": list(tables)})
    return [r[0] for r in await cur.fetchall()]


_SECURITY = """
WITH t AS (SELECT c.* FROM pg_class c WHERE c.oid IN (SELECT format('public.%%I', x)::regclass
                                                       FROM unnest(%(tables)s::text[]) AS x))
SELECT s FROM (
    SELECT relname, 0 AS o, format('ALTER TABLE public.%%I %%s ROW LEVEL SECURITY', relname,
           CASE WHEN relrowsecurity THEN 'ENABLE' ELSE 'DISABLE' END) AS s FROM t
    UNION ALL
    SELECT relname, 1, format('ALTER TABLE public.%%I %%s FORCE ROW LEVEL SECURITY', relname,
           CASE WHEN relforcerowsecurity THEN '' ELSE 'NO' END) FROM t
    UNION ALL
    SELECT relname, 2, format('ALTER TABLE public.%%I OWNER TO %%I', relname, pg_get_userbyid(relowner))
    FROM t WHERE pg_get_userbyid(relowner) <> current_user
    UNION ALL
    SELECT relname, 3, format('GRANT %%s ON public.%%I TO %%s%%s', a.privilege_type, relname,
           CASE WHEN a.grantee = 0 THEN 'PUBLIC' ELSE quote_ident(pg_get_userbyid(a.grantee)) END,
           CASE WHEN a.is_grantable THEN ' WITH GRANT OPTION' ELSE '' END)
    FROM t CROSS JOIN LATERAL aclexplode(t.relacl) AS a WHERE a.grantee <> t.relowner
) x ORDER BY relname, o, s
"""


async def _security_statements(cur: Cursor, tables: Sequence[str]) -> list[str]:
    """Row-level security switches, owner and grants of the live tables, to repeat on the new ones
    (which, created by LIKE, have default privileges only)."""
    await cur.execute(_SECURITY, {"tables": list(tables)})
    return [r[0] for r in await cur.fetchall()]


async def _refuse_unsupported(cur: Cursor, tables: Sequence[str]) -> None:
    """Views, foreign keys and triggers would be lost or left pointing at the old tables."""
    await cur.execute(
        "WITH t AS (SELECT format('public.%%I', x)::regclass AS oid FROM unnest(%s::text[]) x)"
        " SELECT format('%%s on %%s', what, rel) FROM ("
        "  SELECT DISTINCT 'a view' AS what, d.refobjid::regclass::text AS rel FROM pg_depend d"
        "  JOIN t ON t.oid = d.refobjid WHERE d.classid = 'pg_rewrite'::regclass"
        "  UNION ALL SELECT 'a foreign key', c.conrelid::regclass::text FROM pg_constraint c"
        "  WHERE c.contype = 'f' AND (c.conrelid IN (SELECT oid FROM t) OR c.confrelid IN (SELECT oid FROM t))"
        "  UNION ALL SELECT 'a trigger', tg.tgrelid::regclass::text FROM pg_trigger tg"
        "  WHERE NOT tg.tgisinternal AND tg.tgrelid IN (SELECT oid FROM t)) x",
        (list(tables),),
    )
    found = [r[0] for r in await cur.fetchall()]
    if found:
        raise RebuildError(f"cannot swap tables with {', '.join(found)}: rebuild would lose or orphan them")
