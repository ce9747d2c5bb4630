"""Uploads: MB/s for 1 and for 20 concurrent 25 MiB uploads, with the server's RSS growth while
they run (target: under 32 MiB in total, since an upload is streamed to disk, never buffered), and
image uploads (decode, re-encode, thumbnail) per second.

    python -m bench.uploads [--size-mib 25] [--concurrent 20] [--images 40] [--image-concurrency 4]

A real `gochat serve` process on a throwaway database, local blob storage in a temporary data
directory, rate limits and quota off. Uploads are opaque bytes (application/octet-stream: typed by
their magic number, hashed, stored; no media work), each different from the others (a unique
first block), sent chunked from a generator so the client holds 1 MiB. RSS is the server's
VmRSS sampled every 20 ms; growth is the peak during a scenario minus the value before the first.
Figures are for a quiet machine only (docs/benchmarks.md).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import io
import os
import secrets
import shutil
import sys
import tempfile
import time
from collections.abc import AsyncIterator, Sequence
from pathlib import Path
from typing import Any

import aiohttp
from PIL import Image

from .common import bench_databases, format_table, machine_info, write_results
from .nodes import rss_kib, start_server, wait_ready

MIB = 1024 * 1024
TARGET_RSS_GROWTH_MIB = 32.0
_BLOCK = os.urandom(MIB)


async def _body(size: int) -> AsyncIterator[bytes]:
    """`size` bytes: a unique first 32 bytes (so no two uploads share storage), then 1 MiB blocks."""
    yield secrets.token_bytes(32)
    left = size - 32
    while left > 0:
        chunk = _BLOCK[: min(MIB, left)]
        left -= len(chunk)
        yield chunk


class RssSampler:
    def __init__(self, pid: int) -> None:
        self.pid = pid
        self.peak = rss_kib(pid)
        self._task: asyncio.Task[None] | None = None

    async def _run(self) -> None:
        while True:
            self.peak = max(self.peak, rss_kib(self.pid))
            await asyncio.sleep(0.02)

    def __enter__(self) -> RssSampler:
        self._task = asyncio.get_running_loop().create_task(self._run())
        return self

    def __exit__(self, *exc: object) -> None:
        assert self._task is not None
        self._task.cancel()
        self.peak = max(self.peak, rss_kib(self.pid))


async def _account(http: aiohttp.ClientSession, url: str) -> tuple[dict[str, str], str]:
    name = f"bench{secrets.token_hex(4)}"
    async with http.post(f"{url}/auth/signup", json={"username": name, "password": "bench password 1"}) as resp:
        token = (await resp.json())["access_token"]
    headers = {"Authorization": f"Bearer {token}"}
    async with http.post(f"{url}/rooms", json={"name": "uploads", "type": "private"}, headers=headers) as resp:
        room = (await resp.json())["id"]
    return headers, room


async def _upload(
    http: aiohttp.ClientSession, url: str, headers: dict[str, str], room: str, body: Any, name: str
) -> None:
    form = aiohttp.FormData()
    form.add_field("file", body, filename=name, content_type="application/octet-stream")
    async with http.post(f"{url}/rooms/{room}/files", data=form, headers=headers) as resp:
        if resp.status != 201:
            raise RuntimeError(f"upload answered {resp.status}: {await resp.text()}")


async def _bulk(url: str, pid: int, baseline: int, n: int, size: int) -> dict[str, Any]:
    async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=1800)) as http:
        headers, room = await _account(http, url)
        with RssSampler(pid) as rss:
            started = time.perf_counter()
            await asyncio.gather(*(_upload(http, url, headers, room, _body(size), f"blob{i}.bin") for i in range(n)))
            elapsed = time.perf_counter() - started
    return {
        "uploads": n,
        "size_mib": size / MIB,
        "seconds": round(elapsed, 3),
        "mb_per_s": round(n * size / 1e6 / elapsed, 1),
        "rss_growth_mib": round((rss.peak - baseline) / 1024, 1),
    }


def _photo() -> bytes:
    """A 3000x2000 JPEG with detail in it (noise decodes and encodes like a photo, not like a flat colour)."""
    im = Image.effect_noise((3000, 2000), 60).convert("RGB")
    out = io.BytesIO()
    im.save(out, format="JPEG", quality=90)
    return out.getvalue()


async def _thumbnails(url: str, n: int, concurrency: int) -> dict[str, Any]:
    photo = _photo()
    gate = asyncio.Semaphore(concurrency)
    async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=1800)) as http:
        headers, room = await _account(http, url)

        async def one(i: int) -> None:
            async with gate:
                await _upload(http, url, headers, room, photo, f"photo{i}.jpg")

        started = time.perf_counter()
        await asyncio.gather(*(one(i) for i in range(n)))
        elapsed = time.perf_counter() - started
    return {"images": n, "megapixels": 6.0, "concurrency": concurrency, "seconds": round(elapsed, 3),
            "images_per_s": round(n / elapsed, 2)}  # fmt: skip


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m bench.uploads", description=__doc__.split("\n\n")[0])
    parser.add_argument("--size-mib", type=int, default=25)
    parser.add_argument("--concurrent", type=int, default=20)
    parser.add_argument("--images", type=int, default=40)
    parser.add_argument("--image-concurrency", type=int, default=4)
    return parser.parse_args(argv)


async def run(args: argparse.Namespace) -> int:
    size = args.size_mib * MIB
    data_dir = Path(tempfile.mkdtemp(prefix="gochat-bench-uploads-"))
    async with bench_databases() as dbs:
        env = {k: v for k, v in os.environ.items() if not k.startswith(("GOCHAT_", "DATABASE_URL", "REDIS_URL"))}
        env.update(
            DATABASE_URL=dbs.new(),
            JWT_SECRET="bench-secret-" + secrets.token_hex(24),
            GOCHAT_DATA_DIR=str(data_dir),
            GOCHAT_RATE_LIMITS="off",
            GOCHAT_UPLOAD_QUOTA_BYTES="0",
            GOCHAT_MAX_UPLOAD_BYTES=str(max(size, 25 * MIB)),
            LOG_LEVEL="warning",
        )
        server = start_server(env, name="uploads")
        try:
            await wait_ready([server])
            # first-use costs (connections, lazily built state) are not what the uploads hold
            await _bulk(server.url, server.proc.pid, 0, 2, MIB)
            baseline = rss_kib(server.proc.pid)
            one = await _bulk(server.url, server.proc.pid, baseline, 1, size)
            many = await _bulk(server.url, server.proc.pid, baseline, args.concurrent, size)
            thumbs = await _thumbnails(server.url, args.images, args.image_concurrency)
        finally:
            server.stop()
            shutil.rmtree(data_dir, ignore_errors=True)
        rows = [
            [f"{r['uploads']} x {r['size_mib']:.0f} MiB", r["mb_per_s"], r["seconds"], r["rss_growth_mib"]]
            for r in (one, many)
        ]
        print(format_table(["uploads", "MB/s", "seconds", "server RSS growth, MiB"], rows))
        print(f"\nimages (6 Mpx JPEG, re-encode + 400 px WebP thumbnail), {thumbs['concurrency']} at a time: "
              f"{thumbs['images_per_s']} images/s")  # fmt: skip
        growth = max(one["rss_growth_mib"], many["rss_growth_mib"])
        verdict = "met" if growth < TARGET_RSS_GROWTH_MIB else "MISSED"
        print(f"RSS growth target (< {TARGET_RSS_GROWTH_MIB:.0f} MiB): {verdict} ({growth} MiB)")
        write_results("uploads", {"machine": machine_info(dbs.server), "single": one, "concurrent": many,
                                  "thumbnails": thumbs, "load_average": os.getloadavg()})  # fmt: skip
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    with contextlib.suppress(KeyboardInterrupt):
        return asyncio.run(run(parse_args(argv)))
    return 130


if __name__ == "__main__":
    sys.exit(main())
