"""The previewer: works the queue the link_previews follower fills (outbox.py), off the send path.

Every `poll` seconds (at once when the follower queued something on this node) it claims due jobs
with a lease, so several nodes share the work and a crashed one's jobs come back, and handles them
concurrently, at most `concurrency` at a time. For a job: the message must still be there with the
text the job is for (an edit queues its own job) and its room have previews on. A URL the message
already shows keeps its preview (an edit that kept the link: nothing is fetched); each other URL's
preview comes from the cache (outbox.cached, keyed by the normalized URL) or is fetched once
(fetch.py), also when several jobs of this node want the same URL at the same moment, and cached
for `cache_ttl` seconds (`failure_ttl` when there is nothing to show). Then, if the message is
still as it was and something new is to be shown, one atomic append, in the author's name: a
`file.uploaded` (with `preview_of`) per new image, its thumbnail committed to blob storage as
uploads are, and the `message.link_preview` with all the message's previews (those kept
included), keyed `link-preview:<message id>` (`:<edit id>` for an edit's text) so a retry (a crash
after the append) appends nothing twice."""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import uuid
from typing import Any

import structlog

from ..aio import cancel_and_wait
from ..db import Database
from ..events import NewEvent
from ..events.types import EventType
from ..netguard import describe
from ..projections.base import Projection
from ..services.files import FileService
from . import outbox
from .fetch import Fetcher

log = structlog.get_logger("gochat.previews")

PREVIEW_FILE_NAME = "preview.webp"


def preview_key(message_id: int, edit_id: int | None = None) -> str:
    """The append's key: one `message.link_preview` per text of a message (as posted, each edit)."""
    return f"link-preview:{message_id}" if edit_id is None else f"link-preview:{message_id}:{edit_id}"


class Previewer:
    def __init__(
        self,
        db: Database,
        files: FileService,
        fetcher: Fetcher,
        *,
        cache_ttl: float = 24 * 3600.0,
        failure_ttl: float = 3600.0,
        poll: float = 1.0,
        concurrency: int = 4,
        max_attempts: int = 3,
        lease: float = 60.0,
    ) -> None:
        self.db, self.files, self.fetcher = db, files, fetcher
        self.cache_ttl, self.failure_ttl = cache_ttl, failure_ttl
        self.poll, self.concurrency, self.max_attempts, self.lease = poll, concurrency, max_attempts, lease
        self._wake = asyncio.Event()
        self._stop = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self._fetching: dict[str, asyncio.Future[outbox.Cached]] = {}
        self._working: set[int] = set()
        self.fetches = 0  # URLs fetched (not served from the cache) since start: tests and logs

    # --- lifecycle --------------------------------------------------------------------------------
    def start(self) -> None:
        self._task = asyncio.get_running_loop().create_task(self._run(), name="gochat-link-previews")

    async def on_applied(self, projection: Projection, after: int, upto: int) -> None:
        """Runner listener: the follower queued jobs on this node: take them now."""
        if projection.name == outbox.NAME:
            self._wake.set()

    async def close(self, grace: float = 2.0) -> None:
        """Stop claiming; jobs in hand get `grace` seconds, then are released for the next claim.
        (The loop is asked to stop rather than cancelled mid-query, as the webhook deliverer is.)"""
        self._stop.set()
        self._wake.set()
        if self._task is None:
            return
        done, _ = await asyncio.wait((self._task,), timeout=grace)
        if not done:
            cut = list(self._working)
            await cancel_and_wait(self._task)
            if cut:
                with contextlib.suppress(Exception):  # their leases end by themselves otherwise
                    async with self.db.transaction() as cur:
                        await outbox.release(cur, cut)
        await self.fetcher.client.close()

    async def _run(self) -> None:
        failures = 0
        sweep = 0
        while not self._stop.is_set():
            self._wake.clear()
            try:
                claimed = await self.run_once()
                failures = 0
                sweep += 1
                if sweep % 600 == 1:
                    async with self.db.transaction() as cur:
                        await outbox.forget_expired(cur)
            except Exception as exc:  # the database away (or going): back off, quietly
                failures += 1
                log.warning("link_preview_claim_failed", error=describe(exc), failures=failures)
                claimed = 0
                await self._pause(min(5.0, self.poll * 2**failures))
                continue
            if not claimed:
                await self._pause(self.poll)

    async def _pause(self, seconds: float) -> None:
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._wake.wait(), seconds)

    # --- one round ----------------------------------------------------------------------------------
    async def run_once(self) -> int:
        """Claim due jobs and do them; returns how many were claimed."""
        async with self.db.transaction() as cur:
            jobs = await outbox.claim_due(cur, limit=self.concurrency, lease=self.lease,
                                          max_attempts=self.max_attempts)  # fmt: skip
        if jobs:
            self._working.update(j.message_id for j in jobs)
            try:
                await asyncio.gather(*(self._job(j) for j in jobs))
            finally:
                self._working.difference_update(j.message_id for j in jobs)
        return len(jobs)

    async def _job(self, job: outbox.Job) -> None:
        try:
            await self._do(job)
        except Exception as exc:  # the lease ends and the job is tried again (up to max_attempts)
            log.warning("link_preview_failed", message_id=job.message_id, error=describe(exc), attempt=job.attempts)
            return
        async with self.db.transaction() as cur:
            await outbox.done(cur, job)

    async def _shown(self, job: outbox.Job) -> dict[str, dict[str, Any]] | None:
        async with self.db.cursor() as cur:
            return await outbox.shown(cur, job)

    async def _do(self, job: outbox.Job) -> None:
        shown = await self._shown(job)
        if shown is None:
            return
        # a link the message already shows keeps its preview (an edit that kept it): not fetched again
        todo = [url for url in job.urls if url not in shown]
        if not todo:
            return
        found = {url: await self.preview(url) for url in todo}
        await outbox.credit(self.db, job.author_id, todo)  # their erasure takes the cached entries
        shown = await self._shown(job)  # edited or deleted while fetching: the newer job has it, or nobody
        if shown is None:
            return
        previews: list[dict[str, Any]] = []
        blobs: list[tuple[str, bytes]] = []
        events: list[NewEvent] = []
        for url in job.urls:
            if url in shown:
                previews.append(shown[url])
                continue
            entry = found.get(url)
            if entry is None or entry.fields is None:
                continue
            preview: dict[str, Any] = {"url": url, **entry.fields}
            if entry.image is not None and entry.image_meta is not None:
                digest = hashlib.sha256(entry.image).hexdigest()
                file_id = str(uuid.uuid4())
                image = {"id": file_id, "url": f"/files/{file_id}", **entry.image_meta}
                attachment = {"id": file_id, "name": PREVIEW_FILE_NAME, "size": len(entry.image),
                              "content_type": entry.image_meta["content_type"], "kind": "image",
                              "url": image["url"], "width": image["width"], "height": image["height"],
                              "preview_of": job.message_id}  # fmt: skip
                upload = {"file_id": file_id, "name": PREVIEW_FILE_NAME, "size": len(entry.image),
                        "content_type": attachment["content_type"], "kind": "image", "blob": digest,
                        "thumbnail_blob": None, "preview_of": job.message_id, "attachment": attachment}  # fmt: skip
                events.append(NewEvent(EventType.FILE_UPLOADED, job.room_id, upload, actor_id=job.author_id))
                blobs.append((digest, entry.image))
                preview["image"] = image
            previews.append(preview)
        if not any(p["url"] in found and p["url"] not in shown for p in previews):
            return  # nothing new to show
        data: dict[str, Any] = {"message_id": job.message_id, "previews": previews}
        if job.edit_id is not None:
            data["edit_id"] = job.edit_id
        key = preview_key(job.message_id, job.edit_id)
        author = job.author_id
        events.append(NewEvent(EventType.MESSAGE_LINK_PREVIEW, job.room_id, data, actor_id=author, client_msg_id=key))
        await self.files.commit_generated(blobs, events)

    # --- one URL ------------------------------------------------------------------------------------
    async def preview(self, url: str) -> outbox.Cached:
        """The URL's preview from the cache, or fetched: once per node however many jobs want it."""
        pending = self._fetching.get(url)
        if pending is not None:
            return await asyncio.shield(pending)
        async with self.db.cursor() as cur:
            hit = (await outbox.cached(cur, [url])).get(url)
        if hit is not None:
            return hit
        pending = self._fetching.get(url)  # another job started it while this one read the cache
        if pending is not None:
            return await asyncio.shield(pending)
        future: asyncio.Future[outbox.Cached] = asyncio.get_running_loop().create_future()
        self._fetching[url] = future
        try:
            entry = await self._fetch(url)
            future.set_result(entry)
            return entry
        except asyncio.CancelledError:
            future.cancel()
            raise
        except Exception as exc:
            future.set_exception(exc)
            future.exception()  # retrieved: whoever waits on it gets it; nobody else need
            raise
        finally:
            self._fetching.pop(url, None)

    async def _fetch(self, url: str) -> outbox.Cached:
        self.fetches += 1
        fetched = await self.fetcher.fetch(url)
        if fetched is None:
            entry = outbox.Cached(None, None, None)
        elif fetched.image is None:
            entry = outbox.Cached(fetched.fields, None, None)
        else:
            img = fetched.image
            meta = {"content_type": img.content_type, "width": img.width, "height": img.height}
            entry = outbox.Cached(fetched.fields, img.data, meta)
        async with self.db.transaction() as cur:
            await outbox.remember(cur, url, entry, self.failure_ttl if entry.fields is None else self.cache_ttl)
        return entry
