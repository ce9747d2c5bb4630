"""Message search: one room, or every room the caller reads now.

Who reads what is services/access.py's rule, applied by the query (gochat_search_hits searches
only the caller's readable rooms) and again by row-level security on every row it returns. A
former member of a private or group room finds nothing there (as its history is closed to them);
a public room is searchable by everyone it has not banned, all of its history included.
"""

from __future__ import annotations

from dataclasses import dataclass
from uuid import UUID

from ..db import Database
from ..projections import search as search_index
from .access import access_in


@dataclass(frozen=True, slots=True)
class Results:
    hits: list[search_index.Hit]
    next: search_index.After | None  # where the next page starts; None when this one is the last


class SearchService:
    def __init__(self, db: Database, language: str) -> None:
        self.db = db
        self.language = language

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
