"""Helpers for the file tests: uploads through the real API, and media made on the spot."""

from __future__ import annotations

import io
import struct
import subprocess
import zlib
from pathlib import Path
from typing import Any

import aiohttp
from helpers import Account
from PIL import Image


def form(data: bytes, name: str = "notes.txt", **fields: str) -> aiohttp.FormData:
    body = aiohttp.FormData()
    for key, value in fields.items():
        body.add_field(key, value)
    body.add_field("file", data, filename=name, content_type="application/octet-stream")
    return body


async def upload(client: Any, who: Account, room: str, data: bytes, name: str = "notes.txt", **fields: str) -> Any:
    return await client.post(f"/rooms/{room}/files", data=form(data, name, **fields), headers=who.headers)


async def uploaded(client: Any, who: Account, room: str, data: bytes, name: str = "notes.txt", **fields: str) -> Any:
    resp = await upload(client, who, room, data, name, **fields)
    body = await resp.json()
    assert resp.status == 201, body
    return body


def image_bytes(fmt: str = "PNG", size: tuple[int, int] = (640, 480), **save: Any) -> bytes:
    out = io.BytesIO()
    Image.new("RGB", size, (200, 30, 30)).save(out, format=fmt, **save)
    return out.getvalue()


def png_claiming(width: int, height: int) -> bytes:
    """A tiny PNG whose header claims width x height (a decompression bomb's shape)."""
    raw = bytearray(image_bytes("PNG", (1, 1)))
    ihdr = 8 + 8  # signature, then the IHDR chunk's length and type
    raw[ihdr : ihdr + 8] = struct.pack(">II", width, height)
    crc = zlib.crc32(bytes(raw[ihdr - 4 : ihdr + 13]))
    raw[ihdr + 13 : ihdr + 17] = struct.pack(">I", crc)
    return bytes(raw)


def tone(tmp: Path, name: str, seconds: float = 1.5, *codec: str) -> bytes:
    """A sine tone encoded by ffmpeg (Debian's), e.g. tone(tmp, "v.ogg", 1.5, "-c:a", "libopus")."""
    out = tmp / name
    source = f"sine=frequency=440:duration={seconds}"
    subprocess.run(["ffmpeg", "-v", "error", "-y", "-f", "lavfi", "-i", source, *codec, str(out)], check=True)
    return out.read_bytes()


def stored_files(root: Path) -> list[Path]:
    return sorted(p for p in root.rglob("*") if p.is_file())
