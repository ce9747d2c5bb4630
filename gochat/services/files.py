"""File use cases: upload (and share as a message), attach to a message, download, and the blob
collector that removes stored bytes nothing refers to any more.

An upload is streamed to a spool file (media/spool.py), typed by its bytes (media/sniff.py),
scanned by clamd when configured, cleaned (images re-encoded without metadata, audio and video
probed), committed to blob storage under its digest, and only then appended to the log: first
`file.uploaded`, then (unless the client only uploads now and attaches later) the
`message.posted` carrying it, both in one atomic append. A retry with the same client_msg_id gets
the original back. Whatever fails on the way leaves nothing behind: the spool is removed, and a
blob committed for an append that did not happen is deleted again.
"""

from __future__ import annotations

import asyncio
import contextlib
import uuid
from collections.abc import Sequence
from concurrent.futures import Executor
from dataclasses import dataclass
from functools import partial
from pathlib import Path
from typing import Any
from uuid import UUID

import structlog

from ..aio import cancel_and_wait
from ..db import Cursor, Database
from ..errors import NotFound, PayloadTooLarge, ValidationFailed
from ..events import EventStore, NewEvent, RecordedEvent
from ..events.catalog import MESSAGE_MAX
from ..events.types import EventType
from ..media import audio, images
from ..media.clamd import Clamd
from ..media.names import clean_name
from ..media.sniff import sniff
from ..media.spool import Spool, sha256_file
from ..media.storage import BlobRange, BlobStore
from ..projections import files as file_queries
from ..projections import history as history_queries
from ..projections import rooms as rooms_q
from .access import access_in
from .messages import MessageService, message_from_event

log = structlog.get_logger("gochat.files")
MAX_ATTACHMENTS = 10
GC_INTERVAL = 600.0  # seconds between sweeps that also catch erasures made by another process
_DROPPING = frozenset((EventType.FILE_DELETED, EventType.USER_ERASED, EventType.MESSAGE_DELETED))


@dataclass(frozen=True, slots=True)
class Upload:
    """What the client sent besides the bytes."""

    name: str | None
    caption: str = ""
    client_msg_id: str | None = None
    voice: bool = False
    send: bool = True  # False: store only; the file is attached to a later message


@dataclass(frozen=True, slots=True)
class Uploaded:
    file: dict[str, Any]  # the attachment
    message: history_queries.Message | None
    duplicate: bool


@dataclass(frozen=True, slots=True)
class Download:
    file: file_queries.StoredFile
    blob: str
    content_type: str
    inline: bool  # an image we re-encoded or audio we probed: safe to show in place
    local_path: Path | None
    blobs: BlobStore

    async def read(self, start: int = 0, end: int | None = None) -> BlobRange:
        got = await self.blobs.read(self.blob, start, end)
        if got is None:
            raise _file_not_found()
        return got


def _file_not_found() -> NotFound:
    return NotFound("file not found", code="file_not_found")


def _lock(cur: Cursor, blob: str) -> Any:
    # One blob's commit and its collection exclude each other: a collector never deletes bytes an
    # upload is about to reference (the upload holds this until its append committed).
    return cur.execute("SELECT pg_advisory_xact_lock(hashtextextended(%s, 7211))", (blob,))


class FileService:
    def __init__(
        self,
        db: Database,
        store: EventStore,
        messages: MessageService,
        blobs: BlobStore,
        *,
        spool_dir: Path,
        pool: Executor,
        max_upload_bytes: int,
        quota_bytes: int,
        image_max_pixels: int,
        thumbnail_px: int,
        media_workers: int,
        clamd: Clamd | None = None,
    ) -> None:
        self.db, self.store, self.messages, self.blobs = db, store, messages, blobs
        self.spool_dir, self.pool, self.clamd = spool_dir, pool, clamd
        self.max_upload_bytes, self.quota_bytes = max_upload_bytes, quota_bytes
        self.image_max_pixels, self.thumbnail_px = image_max_pixels, thumbnail_px
        self._media = asyncio.Semaphore(media_workers)
        # Each commit holds a pooled connection (the blob lock) while the append takes another.
        self._commits = asyncio.Semaphore(4)
        self._wake = asyncio.Event()
        self._collector: asyncio.Task[None] | None = None
        self._closed = False

    # --- upload ---------------------------------------------------------------------------------
    def spool(self) -> Spool:
        return Spool(self.spool_dir, self.max_upload_bytes)

    async def check_can_upload(self, user_id: UUID, room_id: UUID) -> int:
        """Before any byte is read: a member who may post, with quota left (returns the bytes used)."""
        async with self.db.read(user_id) as cur:
            (await access_in(cur, user_id, room_id)).require_post()
        if await rooms_q.is_encrypted(self.db, room_id):
            # the server would read the file, its name and its caption: not in an end-to-end room
            raise ValidationFailed("files cannot be shared in an end-to-end encrypted room yet",
                                   code="encryption_required")  # fmt: skip
        async with self.db.cursor() as cur:
            used = await file_queries.stored_bytes(cur, user_id)
        if self.quota_bytes and used >= self.quota_bytes:
            raise PayloadTooLarge("your storage quota is used up", code="quota_exceeded",
                                  details={"quota_bytes": self.quota_bytes, "used_bytes": used})  # fmt: skip
        return used

    async def upload(self, user_id: UUID, room_id: UUID, spool: Spool, meta: Upload) -> Uploaded:
        """The spooled bytes, checked, cleaned, stored and appended (the caller removes the spool)."""
        if len(meta.caption) > MESSAGE_MAX:
            raise ValidationFailed("invalid request", details={"content": [f"Longer than {MESSAGE_MAX} characters."]})
        used = await self.check_can_upload(user_id, room_id)  # again: the upload took a while
        if self.quota_bytes and used + spool.size > self.quota_bytes:
            raise PayloadTooLarge("this file would exceed your storage quota", code="quota_exceeded",
                                  details={"quota_bytes": self.quota_bytes, "used_bytes": used})  # fmt: skip
        if self.clamd is not None:
            verdict = await self.clamd.scan(spool.path)
            if not verdict.clean:
                log.warning("upload_infected", user_id=str(user_id), signature=verdict.signature)
                raise ValidationFailed("the file contains malware", code="file_infected",
                                       details={"file": [f"Infected: {verdict.signature}."]})  # fmt: skip
        file_id = uuid.uuid4()
        name = clean_name(meta.name)
        attachment, stored, thumbnail = await self._prepare(spool, file_id, name, voice=meta.voice)
        data: dict[str, Any] = {
            "file_id": str(file_id),
            "name": name,
            "size": attachment["size"],
            "content_type": attachment["content_type"],
            "kind": attachment["kind"],
            "blob": stored[0],
            "thumbnail_blob": thumbnail[0] if thumbnail else None,
            "attachment": attachment,
        }
        uploaded = NewEvent(EventType.FILE_UPLOADED, room_id, data, actor_id=user_id,
                            client_msg_id=None if meta.send else meta.client_msg_id)  # fmt: skip
        events = [uploaded]
        if meta.send:
            post: dict[str, Any] = {"content": meta.caption, "attachments": [attachment]}
            if meta.caption and self.messages.annotate is not None:  # a caption's mentions notify
                post.update(await self.messages.annotate(user_id, room_id, meta.caption))
            events.append(
                NewEvent(EventType.MESSAGE_POSTED, room_id, post, actor_id=user_id, client_msg_id=meta.client_msg_id)
            )
        results = await self._commit([stored, *([thumbnail] if thumbnail else [])], events)
        if results[0].duplicate:
            return await self._original(user_id, room_id, results[0].event)
        message = message_from_event(results[1].event) if meta.send else None
        return Uploaded(attachment, message, False)

    async def _original(self, user_id: UUID, room_id: UUID, event: RecordedEvent) -> Uploaded:
        if event.type == EventType.FILE_UPLOADED:
            return Uploaded(event.data["attachment"], None, True)
        message = await self.messages.get(user_id, room_id, event.id)
        attachments = event.data.get("attachments") or [{}]
        return Uploaded(attachments[0], message, True)

    async def _prepare(
        self, spool: Spool, file_id: UUID, name: str, *, voice: bool
    ) -> tuple[dict[str, Any], tuple[str, Path], tuple[str, Path] | None]:
        """The attachment, the blob to store (digest, file) and the thumbnail's, if any."""
        sniffed = await asyncio.to_thread(sniff, spool.path)
        content_type, kind = sniffed.content_type, sniffed.kind
        url = f"/files/{file_id}"
        extra: dict[str, Any] = {}
        stored: tuple[str, Path] = (spool.sha256, spool.path)
        thumbnail: tuple[str, Path] | None = None
        if kind == "image":
            async with self._media:
                work = partial(
                    images.process_image,
                    spool.path,
                    spool.dir,
                    max_pixels=self.image_max_pixels,
                    thumbnail_px=self.thumbnail_px,
                )
                img = await asyncio.get_running_loop().run_in_executor(self.pool, work)
                stored = (await asyncio.to_thread(sha256_file, img.path), img.path)
                thumbnail = (await asyncio.to_thread(sha256_file, img.thumbnail), img.thumbnail)
            content_type = img.content_type
            extra = {"width": img.width, "height": img.height, "animated": img.animated,
                     "thumbnail_url": f"{url}/thumbnail", "thumbnail_width": img.thumbnail_width,
                     "thumbnail_height": img.thumbnail_height}  # fmt: skip
        elif kind in ("audio", "video") and audio.available():
            async with self._media:
                probed = await audio.probe(spool.path, content_type, kind)
                content_type, kind = probed.content_type, probed.kind
                if probed.duration is not None:
                    extra["duration"] = probed.duration
                if kind == "audio":
                    heard = await audio.listen(spool.path)
                    extra["waveform"] = heard.peaks
                    if "duration" not in extra and heard.seconds:  # a recording without one (MediaRecorder's WebM)
                        extra["duration"] = heard.seconds
        if voice:
            if kind != "audio":
                raise ValidationFailed("a voice message must be audio", code="not_audio",
                                       details={"kind": ["Voice messages must be audio."]})  # fmt: skip
            kind = "voice"
        size = (await asyncio.to_thread(stored[1].stat)).st_size
        attachment = {"id": str(file_id), "name": name, "size": size, "content_type": content_type, "kind": kind,
                      "url": url, **extra}  # fmt: skip
        return attachment, stored, thumbnail

    async def _commit(self, blobs: Sequence[tuple[str, Path]], events: Sequence[NewEvent]) -> list[Any]:
        """Blobs into storage, then the events, under the blobs' locks; blobs the append did not
        end up referencing (a retry's) are removed again before the locks go."""
        async with self._commits, self.db.transaction() as cur:
            for blob in sorted({b for b, _ in blobs}):
                await _lock(cur, blob)
            for blob, path in blobs:
                await self.blobs.put(blob, path)
            appended = False
            try:
                results = await self.store.append(*events)
                appended = not results[0].duplicate
            finally:
                if not appended:
                    for blob, _ in blobs:
                        if not await file_queries.blob_referenced(cur, blob):
                            await self.blobs.delete(blob)
            return results

    async def commit_generated(self, blobs: Sequence[tuple[str, bytes]], events: Sequence[NewEvent]) -> list[Any]:
        """Bytes the server made (a link preview's thumbnail: gochat/previews/) into storage under
        their digests, then the events that refer to them, as an upload commits (`_commit`)."""
        self.spool_dir.mkdir(parents=True, exist_ok=True)
        paths: list[tuple[str, Path]] = []
        try:
            for digest, data in blobs:
                path = self.spool_dir / f"generated-{uuid.uuid4().hex}"
                await asyncio.to_thread(path.write_bytes, data)
                paths.append((digest, path))
            return await self._commit(paths, events)
        finally:
            for _, path in paths:  # put() took over those it stored
                await asyncio.to_thread(path.unlink, True)

    # --- attach and download --------------------------------------------------------------------
    async def attachments(self, user_id: UUID, room_id: UUID, ids: Sequence[str]) -> list[dict[str, Any]]:
        """The attachments for a message: files the sender uploaded to this room, not deleted."""
        if len(ids) > MAX_ATTACHMENTS:
            raise ValidationFailed("too many attachments", details={"attachments": [f"At most {MAX_ATTACHMENTS}."]})
        try:
            wanted = list(dict.fromkeys(UUID(str(i)) for i in ids))
        except ValueError:
            raise ValidationFailed("invalid attachments", details={"attachments": ["Not a valid UUID."]}) from None
        async with self.db.read(user_id) as cur:
            found = {
                f.id: f
                for f in await file_queries.live_files(cur, room_id, wanted)
                if f.uploader_id == user_id and "preview_of" not in f.attachment  # a link preview's is not theirs
            }
        missing = [str(i) for i in wanted if i not in found]
        if missing:
            details = {"attachments": [f"No file {i} of yours in this room." for i in missing]}
            raise ValidationFailed("unknown attachments", code="unknown_attachment", details=details)
        return [found[i].attachment for i in wanted]

    async def download(self, user_id: UUID, file_id: UUID, *, thumbnail: bool = False) -> Download:
        """Members of the file's room only; anyone else (a former member too) gets the 404 a
        missing file gets."""
        async with self.db.read(user_id) as cur:
            found = await file_queries.live_file(cur, file_id)
            if found is None or not (await access_in(cur, user_id, found.room_id)).joined:
                raise _file_not_found()
        if thumbnail:
            if found.thumbnail_blob is None:
                raise _file_not_found()
            blob, content_type, inline = found.thumbnail_blob, images.THUMBNAIL_TYPE, True
        else:
            blob, content_type = found.blob, found.content_type
            # shown in place only what we re-encoded (images) or decoded (audio, which has a duration)
            inline = found.kind == "image" or (found.kind in ("audio", "voice") and "duration" in found.attachment)
        return Download(found, blob, content_type, inline, self.blobs.local_path(blob), self.blobs)

    # --- collection -----------------------------------------------------------------------------
    def on_commit(self, events: Sequence[RecordedEvent]) -> None:
        """Store listener: a file dropped (a message deleted, a user erased) wakes the collector
        (message.deleted itself: a link preview's image goes with its message, gochat/previews/)."""
        if any(e.type in _DROPPING for e in events):
            self._wake.set()

    def start(self) -> None:
        self._collector = asyncio.create_task(self._collect_forever(), name="blob-collector")

    async def close(self) -> None:
        # The flag too, not only the cancel: a cancelled database call may surface as another
        # error (Unavailable), which the loop must not take for a reason to carry on.
        self._closed = True
        self._wake.set()
        if self._collector is not None:
            await cancel_and_wait(self._collector)

    async def _collect_forever(self) -> None:
        # A sweep at start-up too: what was dropped while no node ran (an erasure from the CLI).
        while not self._closed:
            self._wake.clear()
            try:
                await self.collect()
            except Exception:
                if self._closed:
                    return
                log.exception("blob_collection_failed")
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), GC_INTERVAL)

    async def collect(self) -> int:
        """Delete every blob whose count reached zero; returns how many went."""
        async with self.db.cursor() as cur:
            candidates = await file_queries.unreferenced_blobs(cur)
        removed = 0
        for blob in candidates:
            async with self.db.transaction() as cur:
                await _lock(cur, blob)
                if await file_queries.blob_referenced(cur, blob):
                    continue
                await self.blobs.delete(blob)
                await file_queries.forget_blob(cur, blob)
                removed += 1
        if removed:
            log.info("blobs_collected", count=removed)
        return removed
