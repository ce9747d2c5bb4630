"""The link preview queue: a follower of the log that turns each message with URLs into a job
(`link_preview_jobs`), and the SQL the previewer (worker.py) works it and the URL cache with.

A follower, not inline: posting never waits for it, and its checkpoint (`link_previews`) commits
with the jobs it wrote, so a restart resumes where it stopped. A job is written for a post that is
not end-to-end encrypted, did not opt out (`no_previews`), and has links to preview (links.py; a
link in angle brackets is not previewed); an edit replaces its message's job with one for the new
text (`edit_id`), or removes it when the new text has nothing to preview (the history projection
has already dropped the previews of the links it removed). A job goes when its
`message.link_preview` is in the log, when the message is deleted or its author erased, and when
the previewer is done with it. Whether the room has previews on is checked by the previewer when it
takes the job (a room turned off meanwhile gets none). Rebuilding it queues again the messages
whose text never got a preview (nothing shows them twice: each preview is appended once per text,
by its key).
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import orjson

from ..db import Cursor, Database, Executor
from ..events.model import RecordedEvent
from ..events.types import EventType
from ..projections.base import Projection
from .links import offered, preview_links

NAME = "link_previews"
MAX_URLS = 3

# An edit's job takes the place of the message's job, whether the previewer holds it or not: done()
# removes only the text it was for.
_INSERT = (
    "INSERT INTO link_preview_jobs (message_id, edit_id, room_id, author_id, urls, attempts, next_attempt_at,"
    " created_at)"
    " SELECT (j->>'id')::bigint, (j->>'edit')::bigint, (j->>'room')::uuid, (j->>'author')::uuid,"
    " ARRAY(SELECT jsonb_array_elements_text(j->'urls')), 0, (j->>'at')::timestamptz, (j->>'at')::timestamptz"
    " FROM jsonb_array_elements(%s::jsonb) j ON CONFLICT (message_id) DO UPDATE SET edit_id = EXCLUDED.edit_id,"
    " author_id = EXCLUDED.author_id, urls = EXCLUDED.urls, attempts = 0, next_attempt_at = EXCLUDED.next_attempt_at"
    " WHERE link_preview_jobs.room_id = EXCLUDED.room_id"
)
_DROP = "DELETE FROM link_preview_jobs WHERE message_id = %s AND room_id = %s"
# A message's previews for the text a job was for are in the log: that job is done (the previews an
# edit kept, appended with it for an older text, finish nothing).
_DONE = "DELETE FROM link_preview_jobs WHERE message_id = %s AND room_id = %s AND edit_id IS NOT DISTINCT FROM %s"
_DROP_AUTHOR = "DELETE FROM link_preview_jobs WHERE author_id = %s"
# An erased author's links leave the cache too (the URL is their text: docs/operations.md,
# "Erasure"); the cascade takes every user's record of those URLs, and a later message with one of
# them fetches it again.
_FORGET_AUTHOR = (
    "DELETE FROM link_preview_cache WHERE url IN (SELECT url FROM link_preview_cache_users WHERE user_id = %s)"
)


class LinkPreviewOutbox(Projection):
    name = NAME
    tables = ("link_preview_jobs",)
    handles = frozenset(
        {
            EventType.MESSAGE_POSTED,
            EventType.MESSAGE_EDITED,
            EventType.MESSAGE_DELETED,
            EventType.MESSAGE_LINK_PREVIEW,
            EventType.USER_ERASED,
        }
    )
    inline = False

    def __init__(self, *, enabled: bool = True, max_urls: int = MAX_URLS) -> None:
        # Off (GOCHAT_PREVIEWS=off): the follower still moves its checkpoint, and queues nothing.
        self.enabled = enabled
        self.max_urls = max_urls

    def job(self, e: RecordedEvent) -> dict[str, Any] | None:
        """The job of a post or an edit (`edit`: its id), or None when its text has nothing to preview."""
        d = e.data
        if not self.enabled or e.actor_id is None:
            return None
        urls = preview_links(offered(d), self.max_urls)
        if not urls:
            return None
        edited = e.type == EventType.MESSAGE_EDITED
        return {"id": d["message_id"] if edited else e.id, "edit": e.id if edited else None,
                "room": str(e.stream_id), "author": str(e.actor_id), "urls": urls,
                "at": e.recorded_at.isoformat()}  # fmt: skip

    async def apply(self, cur: Executor, event: RecordedEvent) -> None:
        await self.apply_batch(cur, [event])

    async def apply_batch(self, cur: Executor, events: Sequence[RecordedEvent]) -> None:
        """Posts and edits in runs (one INSERT each: a message's last text wins), everything else
        one statement, in log order."""
        jobs: dict[int, dict[str, Any]] = {}
        for e in events:
            if e.type in (EventType.MESSAGE_POSTED, EventType.MESSAGE_EDITED):
                if (job := self.job(e)) is not None:
                    jobs[job["id"]] = job
                elif e.type == EventType.MESSAGE_EDITED and self.enabled:
                    jobs.pop(e.data["message_id"], None)  # the new text has no links to preview
                    await cur.execute(_DROP, (e.data["message_id"], e.stream_id))
                continue
            if e.type not in self.handles:
                continue
            if jobs:
                await cur.execute(_INSERT, (orjson.dumps(list(jobs.values())).decode(),))
                jobs = {}
            if e.type == EventType.USER_ERASED:
                await cur.execute(_DROP_AUTHOR, (e.stream_id,))
                await cur.execute(_FORGET_AUTHOR, (e.stream_id,))
            elif e.type == EventType.MESSAGE_LINK_PREVIEW:
                await cur.execute(_DONE, (e.data["message_id"], e.stream_id, e.data.get("edit_id")))
            else:  # message.deleted
                await cur.execute(_DROP, (e.data["message_id"], e.stream_id))
        if jobs:
            await cur.execute(_INSERT, (orjson.dumps(list(jobs.values())).decode(),))


# --- the previewer's queries (gochat's own role: these tables are not for users) ------------------
@dataclass(frozen=True, slots=True)
class Job:
    message_id: int
    room_id: uuid.UUID
    author_id: uuid.UUID
    urls: list[str]
    attempts: int
    edit_id: int | None  # the edit whose text it previews (None: the message as posted)


async def claim_due(cur: Cursor, *, limit: int, lease: float, max_attempts: int) -> list[Job]:
    """Take due jobs, oldest first, leased for `lease` seconds (no other node, nor this one, takes
    them meanwhile); jobs tried `max_attempts` times already are dropped instead."""
    await cur.execute(
        "DELETE FROM link_preview_jobs WHERE attempts >= %s AND next_attempt_at <= now()", (max_attempts,)
    )
    await cur.execute(
        "UPDATE link_preview_jobs j SET attempts = j.attempts + 1, next_attempt_at = now() + %s * interval '1 second'"
        " FROM (SELECT message_id FROM link_preview_jobs WHERE next_attempt_at <= now()"
        "       ORDER BY next_attempt_at, message_id LIMIT %s FOR UPDATE SKIP LOCKED) due"
        " WHERE j.message_id = due.message_id"
        " RETURNING j.message_id, j.room_id, j.author_id, j.urls, j.attempts, j.edit_id",
        (lease, limit),
    )
    return sorted((Job(*row) for row in await cur.fetchall()), key=lambda j: j.message_id)


async def done(cur: Cursor, job: Job) -> None:
    """The job is done; an edit's job that took its place meanwhile stays."""
    await cur.execute(_DONE, (job.message_id, job.room_id, job.edit_id))


async def release(cur: Cursor, message_ids: Sequence[int]) -> None:
    """Jobs cut short (shutdown): due again now, the attempt not counted."""
    await cur.execute(
        "UPDATE link_preview_jobs SET next_attempt_at = now(), attempts = greatest(attempts - 1, 0)"
        " WHERE message_id = ANY(%s)",
        (list(message_ids),),
    )


async def shown(cur: Cursor, job: Job) -> dict[str, dict[str, Any]] | None:
    """The previews the message shows now, by URL, if the job is still wanted: the message is
    still there with the text the job is for, and its room has previews on (the history and
    people projections). None otherwise."""
    await cur.execute(
        "SELECT NOT m.deleted AND coalesce(p.enabled, true) AND m.edited_id IS NOT DISTINCT FROM %s, m.previews"
        " FROM messages m LEFT JOIN room_link_previews p ON p.room_id = m.room_id"
        " WHERE m.room_id = %s AND m.id = %s",
        (job.edit_id, job.room_id, job.message_id),
    )
    row = await cur.fetchone()
    if not (row and row[0]):
        return None
    return {p["url"]: p for p in row[1] or ()}


@dataclass(frozen=True, slots=True)
class Cached:
    """A URL's preview as last fetched: its fields (None: nothing to show) and thumbnail."""

    fields: dict[str, str] | None
    image: bytes | None
    image_meta: dict[str, Any] | None  # width, height, content_type


async def cached(cur: Cursor, urls: Sequence[str]) -> dict[str, Cached]:
    await cur.execute(
        "SELECT url, preview, image FROM link_preview_cache WHERE url = ANY(%s) AND expires_at > now()", (list(urls),)
    )
    out = {}
    for url, preview, image in await cur.fetchall():
        if preview is None:
            out[url] = Cached(None, None, None)
        else:
            thumbnail = bytes(image) if image is not None else None
            out[url] = Cached(dict(preview["fields"]), thumbnail, preview.get("image"))
    return out


async def remember(cur: Cursor, url: str, entry: Cached, ttl: float) -> None:
    preview = None if entry.fields is None else {"fields": entry.fields, "image": entry.image_meta}
    await cur.execute(
        "INSERT INTO link_preview_cache (url, preview, image, fetched_at, expires_at)"
        " VALUES (%s, %s::jsonb, %s, now(), now() + %s * interval '1 second')"
        " ON CONFLICT (url) DO UPDATE SET preview = EXCLUDED.preview, image = EXCLUDED.image,"
        " fetched_at = EXCLUDED.fetched_at, expires_at = EXCLUDED.expires_at",
        (url, orjson.dumps(preview).decode() if preview else None, entry.image, ttl),
    )


async def credit(db: Database, author: uuid.UUID, urls: Sequence[str]) -> None:
    """Record that `author` posted these cached URLs (link_preview_cache_users), so their erasure
    finds them; then, if they were erased meanwhile, drop the entries at once. Two statements, each
    committed: an erasure committed before the second is seen by it, and one committed after it is
    followed by the follower's `_FORGET_AUTHOR`, which then sees the first's rows."""
    async with db.transaction() as cur:
        await cur.execute(
            "INSERT INTO link_preview_cache_users (user_id, url)"
            " SELECT %s, url FROM link_preview_cache WHERE url = ANY(%s) ON CONFLICT DO NOTHING",
            (author, list(urls)),
        )
    async with db.transaction() as cur:
        await cur.execute(
            "DELETE FROM link_preview_cache WHERE url = ANY(%s)"
            " AND EXISTS (SELECT 1 FROM users WHERE id = %s AND erased)",
            (list(urls), author),
        )


async def forget_expired(cur: Cursor) -> int:
    await cur.execute("DELETE FROM link_preview_cache WHERE expires_at <= now()")
    return int(cur.rowcount or 0)
