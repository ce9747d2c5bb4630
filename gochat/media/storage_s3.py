"""S3-compatible blob storage (AWS S3, MinIO, Ceph, R2...) through aiobotocore: what a multi-node
deployment uses, since every node must serve every file. Same contract as LocalBlobStore
(tests/test_blob_storage.py runs one suite against both, S3 against a local moto server)."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

from aiobotocore.config import AioConfig
from aiobotocore.session import get_session
from botocore.exceptions import BotoCoreError, ClientError

from ..errors import Unavailable
from .storage import CHUNK, BlobRange, check_key

PART = 8 * 1024 * 1024  # multipart part size (S3's minimum is 5 MiB): the most one upload holds in memory
_MISSING = ("404", "NoSuchKey", "NotFound")


def _missing(exc: ClientError) -> bool:
    return str(exc.response.get("Error", {}).get("Code")) in _MISSING


class S3BlobStore:
    def __init__(self, client: Any, bucket: str, prefix: str = "") -> None:
        self.client = client
        self.bucket = bucket
        self.prefix = prefix
        self._exit = contextlib.AsyncExitStack()

    @classmethod
    async def connect(
        cls, url: str, bucket: str, *, access_key: str | None, secret_key: str | None, region: str, prefix: str = ""
    ) -> S3BlobStore:
        session = get_session()
        config = AioConfig(retries={"max_attempts": 3, "mode": "standard"}, connect_timeout=5, read_timeout=60)
        stack = contextlib.AsyncExitStack()
        client = await stack.enter_async_context(
            session.create_client(
                "s3",
                endpoint_url=url,
                region_name=region,
                aws_access_key_id=access_key,
                aws_secret_access_key=secret_key,
                config=config,
            )
        )
        store = cls(client, bucket, prefix)
        store._exit = stack
        return store

    def _key(self, key: str) -> str:
        return f"{self.prefix}{check_key(key)}"

    async def put(self, key: str, source: Path) -> None:
        try:
            await self._put(key, source)
        finally:
            await asyncio.to_thread(source.unlink, missing_ok=True)

    async def _put(self, key: str, source: Path) -> None:
        if await self.exists(key):
            return
        name, size = self._key(key), (await asyncio.to_thread(source.stat)).st_size
        try:
            if size <= PART:
                body = await asyncio.to_thread(source.read_bytes)
                await self.client.put_object(Bucket=self.bucket, Key=name, Body=body)
                return
            await self._multipart(name, source)
        except (ClientError, BotoCoreError) as exc:
            raise Unavailable("file storage unavailable", code="storage_unavailable") from exc

    async def _multipart(self, name: str, source: Path) -> None:
        upload = await self.client.create_multipart_upload(Bucket=self.bucket, Key=name)
        upload_id, parts = upload["UploadId"], []
        try:
            with source.open("rb") as fh:
                number = 1
                while body := await asyncio.to_thread(fh.read, PART):
                    part = await self.client.upload_part(
                        Bucket=self.bucket, Key=name, UploadId=upload_id, PartNumber=number, Body=body
                    )
                    parts.append({"ETag": part["ETag"], "PartNumber": number})
                    number += 1
            await self.client.complete_multipart_upload(
                Bucket=self.bucket, Key=name, UploadId=upload_id, MultipartUpload={"Parts": parts}
            )
        except BaseException:
            with contextlib.suppress(Exception):
                await self.client.abort_multipart_upload(Bucket=self.bucket, Key=name, UploadId=upload_id)
            raise

    async def size(self, key: str) -> int | None:
        try:
            head = await self.client.head_object(Bucket=self.bucket, Key=self._key(key))
        except ClientError as exc:
            if _missing(exc):
                return None
            raise Unavailable("file storage unavailable", code="storage_unavailable") from exc
        except BotoCoreError as exc:
            raise Unavailable("file storage unavailable", code="storage_unavailable") from exc
        return int(head["ContentLength"])

    async def exists(self, key: str) -> bool:
        return await self.size(key) is not None

    async def read(self, key: str, start: int = 0, end: int | None = None) -> BlobRange | None:
        total = await self.size(key)
        if total is None:
            return None
        last = total - 1 if end is None else min(end, total - 1)
        if last < start:  # an empty blob (S3 refuses any range of one)
            return BlobRange(start, last, total, _empty())
        try:
            got = await self.client.get_object(Bucket=self.bucket, Key=self._key(key), Range=f"bytes={start}-{last}")
        except ClientError as exc:
            if _missing(exc):
                return None
            raise Unavailable("file storage unavailable", code="storage_unavailable") from exc
        except BotoCoreError as exc:
            raise Unavailable("file storage unavailable", code="storage_unavailable") from exc
        body = got["Body"]

        async def chunks() -> AsyncIterator[bytes]:
            try:
                while chunk := await body.read(CHUNK):
                    yield chunk
            finally:
                body.close()

        return BlobRange(start, last, total, chunks())

    async def delete(self, key: str) -> None:
        try:
            await self.client.delete_object(Bucket=self.bucket, Key=self._key(key))
        except ClientError as exc:
            if not _missing(exc):
                raise Unavailable("file storage unavailable", code="storage_unavailable") from exc
        except BotoCoreError as exc:
            raise Unavailable("file storage unavailable", code="storage_unavailable") from exc

    def local_path(self, key: str) -> Path | None:
        return None

    async def close(self) -> None:
        await self._exit.aclose()


async def _empty() -> AsyncIterator[bytes]:
    return
    yield b""
