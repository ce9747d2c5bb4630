"""Fetching one URL's preview: its HTML (bounded), its metadata (meta.py), and its image, made into
a thumbnail the way uploads are (media/images.py: decoded under the pixel limit, re-encoded without
metadata), all through the SSRF guard (netguard.py: every address checked after resolution and on
every redirect).

Bounds: each request's total time and redirects (the guarded client), the bytes read of a page
(`max_html`: the rest is not read; metadata lives in the head) and of an image (`max_image`: an
image cut short is dropped), and the content types: a page must say HTML, an image must be JPEG,
PNG, GIF or WebP by its bytes. Anything else shows no preview. Failures never raise: a URL that
cannot be previewed is an answer (None), cached like any other.
"""

from __future__ import annotations

import asyncio
import shutil
import tempfile
from collections.abc import Callable
from concurrent.futures import Executor
from dataclasses import dataclass
from functools import partial
from pathlib import Path
from typing import Any

import structlog

from ..media import images
from ..media.sniff import IMAGE_TYPES, sniff
from ..netguard import GuardedClient, describe
from . import meta

log = structlog.get_logger("gochat.previews")

USER_AGENT = "gochat-link-preview/1"
HTML_TYPES = ("text/html", "application/xhtml+xml")


@dataclass(frozen=True, slots=True)
class Thumbnail:
    data: bytes  # WebP
    width: int
    height: int
    content_type: str = images.THUMBNAIL_TYPE


@dataclass(frozen=True, slots=True)
class Fetched:
    """What a URL shows: title, description and site name (those found), and a thumbnail."""

    fields: dict[str, str]
    image: Thumbnail | None


def _media_type(content_type: str) -> str:
    return content_type.split(";", 1)[0].strip().lower()


def _is_html(content_type: str) -> bool:
    return _media_type(content_type) in HTML_TYPES


def _is_image(content_type: str) -> bool:
    return _media_type(content_type) in IMAGE_TYPES


class Fetcher:
    def __init__(
        self,
        client: GuardedClient,
        *,
        max_html: int,
        max_image: int,
        pool: Executor,
        workdir: Path,
        image_max_pixels: int,
        thumbnail_px: int,
        media: asyncio.Semaphore | None = None,
    ) -> None:
        self.client = client
        self.max_html, self.max_image = max_html, max_image
        self.pool, self.workdir = pool, workdir
        self.image_max_pixels, self.thumbnail_px = image_max_pixels, thumbnail_px
        self._media = media or asyncio.Semaphore(2)

    async def fetch(self, url: str) -> Fetched | None:
        """The preview of `url`, or None when there is nothing to show (not HTML, an error status,
        refused by the guard, too slow, no metadata)."""
        page = await self._get(url, _is_html, self.max_html, "text/html,application/xhtml+xml;q=0.9")
        if page is None:
            return None
        body, final_url, content_type = page
        found = meta.parse(meta.decode(body, content_type), final_url)
        if found.empty:
            return None
        fields = {k: v for k, v in (("title", found.title), ("description", found.description),
                                    ("site_name", found.site_name)) if v}  # fmt: skip
        image = await self._image(found.image) if found.image else None
        if not fields and image is None:
            return None
        return Fetched(fields, image)

    async def _get(
        self, url: str, accept: Callable[[str], bool], limit: int, accept_header: str
    ) -> tuple[bytes, str, str] | None:
        headers = {"User-Agent": USER_AGENT, "Accept": accept_header}
        try:
            answer = await self.client.request("GET", url, headers=headers, accept=accept, max_body=limit)
        except Exception as exc:  # the guard's refusal, the network's failure, a timeout: no preview
            log.info("link_preview_fetch_failed", url=url, error=describe(exc))
            return None
        if not 200 <= answer.status < 300 or not accept(answer.content_type):
            log.info("link_preview_not_shown", url=url, status=answer.status, content_type=answer.content_type[:100])
            return None
        return answer.body, answer.url, answer.content_type

    async def _image(self, url: str) -> Thumbnail | None:
        got = await self._get(url, _is_image, self.max_image, "image/webp,image/png,image/jpeg,image/gif")
        if got is None:
            return None
        body, _, _ = got
        if len(body) >= self.max_image:
            log.info("link_preview_image_too_large", url=url, limit=self.max_image)
            return None
        try:
            return await self._thumbnail(body)
        except Exception as exc:  # not an image after all, a bomb, a truncated file
            log.info("link_preview_image_refused", url=url, error=describe(exc))
            return None

    async def _thumbnail(self, body: bytes) -> Thumbnail | None:
        self.workdir.mkdir(parents=True, exist_ok=True)
        work = Path(await asyncio.to_thread(tempfile.mkdtemp, prefix="preview-", dir=self.workdir))
        try:
            src = work / "image"
            await asyncio.to_thread(src.write_bytes, body)
            if (await asyncio.to_thread(sniff, src)).content_type not in IMAGE_TYPES:
                return None  # the bytes decide, not the server's header
            async with self._media:
                task: Any = partial(
                    images.process_image, src, work, max_pixels=self.image_max_pixels, thumbnail_px=self.thumbnail_px
                )
                done: images.ProcessedImage = await asyncio.get_running_loop().run_in_executor(self.pool, task)
            data = await asyncio.to_thread(done.thumbnail.read_bytes)
            return Thumbnail(data, done.thumbnail_width, done.thumbnail_height)
        finally:
            await asyncio.to_thread(shutil.rmtree, work, True)
