"""A ClamAV daemon client: the file streamed with INSTREAM (length-prefixed chunks), the verdict
read back. Any failure to get a verdict (clamd down, a timeout, a size limit, an odd answer) is
Unavailable: a file is never shared unscanned."""

from __future__ import annotations

import asyncio
import contextlib
import struct
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit

from ..errors import Unavailable

CHUNK = 64 * 1024


@dataclass(frozen=True, slots=True)
class Verdict:
    clean: bool
    signature: str | None = None


def parse_url(url: str) -> tuple[str, int] | str:
    """`tcp://host:port` -> (host, port); `unix:///path` or a bare path -> the socket path."""
    parts = urlsplit(url)
    if parts.scheme == "tcp":
        if not parts.hostname or not parts.port:
            raise ValueError("CLAMD_URL tcp:// needs a host and a port")
        return parts.hostname, parts.port
    if parts.scheme == "unix":
        return parts.path
    if parts.scheme == "" and url.startswith("/"):
        return url
    raise ValueError("CLAMD_URL must be tcp://host:port, unix:///path or an absolute socket path")


def _down(reason: str) -> Unavailable:
    return Unavailable(f"virus scanner unavailable: {reason}", code="scanner_unavailable", retry_after=5.0)


class Clamd:
    def __init__(self, url: str, *, timeout: float = 60.0) -> None:
        self.address = parse_url(url)
        self.timeout = timeout

    async def _connect(self) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
        if isinstance(self.address, str):
            return await asyncio.open_unix_connection(self.address)
        host, port = self.address
        return await asyncio.open_connection(host, port)

    async def scan(self, path: Path) -> Verdict:
        try:
            async with asyncio.timeout(self.timeout):
                reader, writer = await self._connect()
                try:
                    return await self._instream(reader, writer, path)
                finally:
                    writer.close()
                    with contextlib.suppress(Exception):
                        await writer.wait_closed()
        except TimeoutError:
            raise _down("timed out") from None
        except OSError as exc:
            raise _down(exc.strerror or type(exc).__name__) from None

    @staticmethod
    async def _instream(reader: asyncio.StreamReader, writer: asyncio.StreamWriter, path: Path) -> Verdict:
        writer.write(b"zINSTREAM\0")
        with path.open("rb") as fh:
            while chunk := await asyncio.to_thread(fh.read, CHUNK):
                writer.write(struct.pack("!L", len(chunk)) + chunk)
                await writer.drain()
        writer.write(struct.pack("!L", 0))
        await writer.drain()
        reply = (await reader.read(4096)).rstrip(b"\0\n").decode("utf-8", "replace")
        # "stream: OK", "stream: Eicar-Test-Signature FOUND", "INSTREAM size limit exceeded. ERROR"
        if reply.endswith(" OK"):
            return Verdict(True)
        if reply.endswith(" FOUND"):
            return Verdict(False, reply.removeprefix("stream: ").removesuffix(" FOUND"))
        raise _down(reply or "no answer")

    async def ping(self) -> bool:
        try:
            async with asyncio.timeout(5):
                reader, writer = await self._connect()
                writer.write(b"zPING\0")
                await writer.drain()
                answer = await reader.read(64)
                writer.close()
                return answer.rstrip(b"\0\n") == b"PONG"
        except (OSError, TimeoutError):
            return False
