"""Blob storage behind one small interface: content-addressed (a blob's key is the sha256 of its
bytes), written once from a finished local file, read whole or by byte range, deleted when no file
refers to it any more. `LocalBlobStore` keeps blobs under GOCHAT_DATA_DIR/files; `S3BlobStore`
(storage_s3.py) in an S3-compatible bucket, which every node of a cluster can read.
tests/test_blob_storage.py is the one contract suite both run.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import re
import shutil
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

CHUNK = 256 * 1024
_KEY = re.compile(r"^[0-9a-f]{64}$")


def check_key(key: str) -> str:
    """Keys are sha256 hex digests, so a key can never name a path outside the store."""
    if not _KEY.match(key):
        raise ValueError(f"not a blob key: {key!r}")
    return key


@dataclass(frozen=True, slots=True)
class BlobRange:
    """What a ranged read returns: the bytes from `start` to `end` (inclusive) of `total`."""

    start: int
    end: int
    total: int
    chunks: AsyncIterator[bytes]


class BlobStore(Protocol):
    async def put(self, key: str, source: Path) -> None:
        """Store the file's bytes under `key` (idempotent: the same key holds the same bytes).
        The store takes `source` over: it is moved into place or removed."""
        ...

    async def exists(self, key: str) -> bool: ...

    async def size(self, key: str) -> int | None:
        """The blob's length, or None when absent."""
        ...

    async def read(self, key: str, start: int = 0, end: int | None = None) -> BlobRange | None:
        """Bytes `start`..`end` (inclusive; None = to the end), streamed; None when absent."""
        ...

    async def delete(self, key: str) -> None:
        """Remove the blob; absent already is fine."""
        ...

    def local_path(self, key: str) -> Path | None:
        """A file on this machine holding the blob, for the web layer to send with sendfile."""
        ...

    async def close(self) -> None: ...


class LocalBlobStore:
    """Blobs as files `root/ab/cd/<sha256>`: written to a temporary name in the same directory,
    fsynced, then renamed, so a reader never sees half a blob and a crash leaves none."""

    def __init__(self, root: Path) -> None:
        self.root = root
        root.mkdir(parents=True, exist_ok=True)

    def path(self, key: str) -> Path:
        check_key(key)
        return self.root / key[:2] / key[2:4] / key

    async def put(self, key: str, source: Path) -> None:
        await asyncio.to_thread(self._put, self.path(key), source)

    @staticmethod
    def _put(target: Path, source: Path) -> None:
        try:
            if target.exists():
                return
            target.parent.mkdir(parents=True, exist_ok=True)
            with source.open("rb+") as src:
                os.fsync(src.fileno())
            try:
                os.replace(source, target)  # same filesystem (the upload spool): a rename
                return
            except OSError:
                pass
            tmp = target.with_name(f".{target.name}.{os.getpid()}.tmp")
            try:
                with source.open("rb") as src, tmp.open("wb") as dst:
                    shutil.copyfileobj(src, dst, CHUNK)
                    dst.flush()
                    os.fsync(dst.fileno())
                os.replace(tmp, target)
            finally:
                with contextlib.suppress(FileNotFoundError):
                    tmp.unlink()
        finally:
            with contextlib.suppress(FileNotFoundError):
                source.unlink()

    async def exists(self, key: str) -> bool:
        return self.path(key).is_file()

    async def size(self, key: str) -> int | None:
        try:
            return self.path(key).stat().st_size
        except FileNotFoundError:
            return None

    async def read(self, key: str, start: int = 0, end: int | None = None) -> BlobRange | None:
        path = self.path(key)
        try:
            fh = path.open("rb")
        except FileNotFoundError:
            return None
        total = os.fstat(fh.fileno()).st_size
        last = total - 1 if end is None else min(end, total - 1)

        async def chunks() -> AsyncIterator[bytes]:
            try:
                fh.seek(start)
                left = last - start + 1
                while left > 0:
                    chunk = await asyncio.to_thread(fh.read, min(CHUNK, left))
                    if not chunk:
                        break
                    left -= len(chunk)
                    yield chunk
            finally:
                fh.close()

        return BlobRange(start, last, total, chunks())

    async def delete(self, key: str) -> None:
        with contextlib.suppress(FileNotFoundError):
            self.path(key).unlink()

    def local_path(self, key: str) -> Path | None:
        return self.path(key)

    async def close(self) -> None:
        return None
