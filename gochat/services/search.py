"""Message search: one room, or every room the caller reads now.

Who reads what is services/access.py's rule, applied by the query (gochat_search_hits searches
only the caller's readable rooms) and again by row-level security on every row it returns. A
former member of a private or group room finds nothing there (as its history is closed to them);
a public room is searchable by everyone it has not banned, all of its history included.

Read-your-writes: the index is a followed projection, a moment behind the log. A search first
waits, up to `wait_for_own_writes` seconds, until the index has taken in the caller's own last
post, edit or delete; others' writes are not waited for (past the bound it answers with what is
indexed, rather than hang on a stalled follower).
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from uuid import UUID

import structlog

from ..db import Database
from ..projections import search as search_index
from .access import access_in

log = structlog.get_logger("gochat.search")


@dataclass(frozen=True, slots=True)
class Results:
    hits: list[search_index.Hit]
    next: search_index.After | None  # where the next page starts; None when this one is the last


class SearchService:
    def __init__(self, db: Database, language: str, *, wait_for_own_writes: float = 2.0) -> None:
        self.db = db
        self.language = language
        self.wait_for_own_writes = wait_for_own_writes

    async def _own_writes_indexed(self, user_id: UUID) -> None:
        pending = await search_index.own_pending_write(self.db, user_id)
        if pending is None:
            return
        loop = asyncio.get_running_loop()
        deadline, pause = loop.time() + self.wait_for_own_writes, 0.005
        while await search_index.indexed_up_to(self.db) < pending:
            if loop.time() >= deadline:
                log.warning("search_index_behind", waited_for=pending)
                return
            await asyncio.sleep(pause)
            pause = min(pause * 2, 0.05)

    async def search(
        self,
        user_id: UUID,
        query: str,
        filters: search_index.Filters,
        *,
        after: search_index.After | None = None,
        recent: bool = False,
        limit: int = 20,
    ) -> Results:
        """A page of matches, best first (newest first with `recent`). With `filters.room_id`,
        that room only: unknown or unreadable is NotFound (a banned member of a public room is
        Forbidden), as for its history."""
        await self._own_writes_indexed(user_id)
        async with self.db.read(user_id) as cur:
            if filters.room_id is not None:
                (await access_in(cur, user_id, filters.room_id)).require_read()
            hits = await search_index.search(
                cur, user_id, self.language, query, filters, after=after, recent=recent, limit=limit + 1
            )
        if len(hits) <= limit:
            return Results(hits, None)
        last = hits[limit - 1]
        return Results(hits[:limit], search_index.After(last.rank, last.message.id))
