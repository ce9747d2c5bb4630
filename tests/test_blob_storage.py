"""Blob storage: one contract, run against the local backend and against S3 (a moto server)."""

from __future__ import annotations

import hashlib
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest
from media_servers import s3_server

from gochat.media.storage import BlobStore, LocalBlobStore
from gochat.media.storage_s3 import PART, S3BlobStore


@pytest.fixture(scope="module")
def s3() -> Iterator[tuple[str, str]]:
    with s3_server() as server:
        yield server


@pytest.fixture(params=["local", "s3"])
async def blobs(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[BlobStore]:
    store: BlobStore
    if request.param == "local":
        store = LocalBlobStore(tmp_path / "files")
    else:
        url, bucket = request.getfixturevalue("s3")
        store = await S3BlobStore.connect(url, bucket, access_key="test", secret_key="test", region="us-east-1",
                                          prefix=f"{tmp_path.name}/")  # fmt: skip
    try:
        yield store
    finally:
        await store.close()


def blob_file(tmp_path: Path, data: bytes) -> tuple[str, Path]:
    path = tmp_path / f"src-{hashlib.sha256(data).hexdigest()[:8]}"
    path.write_bytes(data)
    return hashlib.sha256(data).hexdigest(), path


async def read_all(blobs: BlobStore, key: str, start: int = 0, end: int | None = None) -> bytes | None:
    got = await blobs.read(key, start, end)
    if got is None:
        return None
    return b"".join([chunk async for chunk in got.chunks])


async def test_a_blob_put_is_read_back_whole_and_by_range(blobs: BlobStore, tmp_path: Path) -> None:
    data = bytes(range(256)) * 40
    key, path = blob_file(tmp_path, data)
    await blobs.put(key, path)
    assert await blobs.exists(key)
    assert await blobs.size(key) == len(data)
    assert await read_all(blobs, key) == data
    got = await blobs.read(key, 100, 199)
    assert got is not None
    assert (got.start, got.end, got.total) == (100, 199, len(data))
    assert b"".join([c async for c in got.chunks]) == data[100:200]
    assert await read_all(blobs, key, len(data) - 5) == data[-5:]
    assert await read_all(blobs, key, 10, 10**9) == data[10:]


async def test_putting_the_same_key_twice_keeps_one_blob(blobs: BlobStore, tmp_path: Path) -> None:
    key, path = blob_file(tmp_path, b"same bytes")
    await blobs.put(key, path)
    assert not path.exists()  # the store took the source over
    key, path = blob_file(tmp_path, b"same bytes")
    await blobs.put(key, path)
    assert not path.exists()
    assert await read_all(blobs, key) == b"same bytes"


async def test_a_large_blob_round_trips(blobs: BlobStore, tmp_path: Path) -> None:
    data = hashlib.sha256(b"seed").digest() * ((PART + 12345) // 32)  # more than one S3 part
    key, path = blob_file(tmp_path, data)
    await blobs.put(key, path)
    assert await blobs.size(key) == len(data)
    assert await read_all(blobs, key, PART - 3, PART + 2) == data[PART - 3 : PART + 3]


async def test_an_empty_blob_is_a_blob(blobs: BlobStore, tmp_path: Path) -> None:
    key, path = blob_file(tmp_path, b"")
    await blobs.put(key, path)
    assert await blobs.size(key) == 0
    assert await read_all(blobs, key) == b""


async def test_deleted_and_missing_blobs_are_absent(blobs: BlobStore, tmp_path: Path) -> None:
    key, path = blob_file(tmp_path, b"short lived")
    await blobs.put(key, path)
    await blobs.delete(key)
    await blobs.delete(key)  # twice is fine
    assert not await blobs.exists(key)
    assert await blobs.size(key) is None
    assert await blobs.read(key) is None


async def test_keys_are_digests_so_none_escapes_the_store(blobs: BlobStore) -> None:
    for bad in ("../../etc/passwd", "a" * 63, "A" * 64, "/" + "a" * 63):
        with pytest.raises(ValueError):
            await blobs.exists(bad)
