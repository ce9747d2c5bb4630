"""An upload on its way in: streamed chunk by chunk into a temporary file while it is hashed and
counted, so no upload is ever whole in memory; past the size limit the partial file is removed
and PayloadTooLarge raised. Each upload gets a working directory of its own (for the cleaned
image and the thumbnail too), removed when the upload is done, whatever happened."""

from __future__ import annotations

import asyncio
import hashlib
import shutil
import tempfile
from collections.abc import AsyncIterator
from pathlib import Path
from types import TracebackType

from ..errors import PayloadTooLarge


def sha256_file(path: Path) -> str:
    """Blocking: call off the event loop."""
    digest = hashlib.sha256()
    with path.open("rb") as fh:
        while chunk := fh.read(1024 * 1024):
            digest.update(chunk)
    return digest.hexdigest()


def too_large(limit: int) -> PayloadTooLarge:
    message = f"the file is larger than {limit} bytes"
    return PayloadTooLarge(message, code="file_too_large", details={"max_bytes": limit})


class Spool:
    def __init__(self, root: Path, max_bytes: int) -> None:
        root.mkdir(parents=True, exist_ok=True)
        self.dir = Path(tempfile.mkdtemp(prefix="upload-", dir=root))
        self.path = self.dir / "original"
        self.max_bytes = max_bytes
        self.size = 0
        self.sha256 = ""

    async def receive(self, chunks: AsyncIterator[bytes]) -> None:
        digest = hashlib.sha256()
        with self.path.open("wb") as fh:
            async for chunk in chunks:
                self.size += len(chunk)
                if self.size > self.max_bytes:
                    raise too_large(self.max_bytes)
                # hashlib and write both release the GIL on large buffers: the loop keeps serving
                await asyncio.to_thread(_write, fh, digest, chunk)
        self.sha256 = digest.hexdigest()

    def close(self) -> None:
        shutil.rmtree(self.dir, ignore_errors=True)

    def __enter__(self) -> Spool:
        return self

    def __exit__(self, et: type[BaseException] | None, e: BaseException | None, tb: TracebackType | None) -> None:
        self.close()


def _write(fh: object, digest: hashlib._Hash, chunk: bytes) -> None:
    digest.update(chunk)
    fh.write(chunk)  # type: ignore[attr-defined]
