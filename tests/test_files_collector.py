"""The blob collector stops when its service closes, whatever it was doing at that moment."""

from __future__ import annotations

import asyncio
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from gochat.db import Database
from gochat.events import EventStore
from gochat.media.storage import LocalBlobStore
from gochat.services.files import FileService
from gochat.services.messages import MessageService


async def test_closing_stops_the_collector_at_any_point_of_its_sweep(
    db: Database, store: EventStore, tmp_path: Path
) -> None:
    pool = ThreadPoolExecutor(1)
    for ticks in range(0, 60, 3):  # closed before, during and after the start-up sweep's queries
        files = FileService(
            db, store, MessageService(db, store), LocalBlobStore(tmp_path / "files"), spool_dir=tmp_path / "up",
            pool=pool, max_upload_bytes=1, quota_bytes=0, image_max_pixels=1, thumbnail_px=16, media_workers=1,
        )  # fmt: skip
        files.start()
        for _ in range(ticks):
            await asyncio.sleep(0)
        async with asyncio.timeout(10):
            await files.close()
    pool.shutdown()
