"""A WebSocket client by hand (RFC 6455) for load generators: aiohttp's client costs ~30 us of
Python per received frame (a future and a queue hop each), so at fan-out 100 the load processes
saturated before the server did. Here a server frame is parsed straight out of the read buffer and
handed to a callback; text frames are the caller's, pings are answered, close codes recorded.

Client frames carry the mask bit with an all-zero key: legal (the server unmasks by XOR with zero),
and free. Only what a gochat benchmark needs: no fragmentation, no extensions, no TLS.
"""

from __future__ import annotations

import asyncio
import base64
import os
import time
from collections.abc import Callable
from typing import cast
from urllib.parse import urlencode

OnText = Callable[[bytes, float], None]  # payload, arrival time (time.time())
_ZERO_MASK = b"\x00\x00\x00\x00"


def client_frame(opcode: int, payload: bytes) -> bytes:
    n = len(payload)
    if n < 126:
        head = bytes((0x80 | opcode, 0x80 | n))
    elif n < 65536:
        head = bytes((0x80 | opcode, 0x80 | 126)) + n.to_bytes(2, "big")
    else:
        head = bytes((0x80 | opcode, 0x80 | 127)) + n.to_bytes(8, "big")
    return head + _ZERO_MASK + payload


class RawWebSocket(asyncio.Protocol):
    def __init__(self, on_text: OnText) -> None:
        self.on_text = on_text
        self.transport: asyncio.Transport | None = None
        self.close_code: int | None = None
        self._buf = bytearray()
        loop = asyncio.get_running_loop()
        self.upgraded: asyncio.Future[None] = loop.create_future()
        self.closed: asyncio.Future[None] = loop.create_future()

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = cast(asyncio.Transport, transport)  # uvloop's is not an asyncio.Transport subclass

    def connection_lost(self, exc: Exception | None) -> None:
        if not self.upgraded.done():
            self.upgraded.set_exception(ConnectionError("closed before the upgrade"))
        if not self.closed.done():
            self.closed.set_result(None)

    def data_received(self, data: bytes) -> None:
        now = time.time()
        buf = self._buf
        buf += data
        if not self.upgraded.done() and not self._read_response(buf):
            return
        pos, end = 0, len(buf)
        while end - pos >= 2:
            opcode, size = buf[pos] & 0x0F, buf[pos + 1] & 0x7F
            head = 2
            if size == 126:
                if end - pos < 4:
                    break
                size, head = int.from_bytes(buf[pos + 2 : pos + 4], "big"), 4
            elif size == 127:
                if end - pos < 10:
                    break
                size, head = int.from_bytes(buf[pos + 2 : pos + 10], "big"), 10
            if end - pos < head + size:
                break
            payload = bytes(buf[pos + head : pos + head + size])  # server frames are not masked
            pos += head + size
            if opcode == 0x1:
                self.on_text(payload, now)
            elif opcode == 0x9:
                self.send(0xA, payload)
            elif opcode == 0x8:
                self.close_code = int.from_bytes(payload[:2], "big") if len(payload) >= 2 else 1005
                self.close()
        del buf[:pos]

    def _read_response(self, buf: bytearray) -> bool:
        """Consume the HTTP answer to the upgrade; False while it is incomplete or was refused."""
        end = buf.find(b"\r\n\r\n")
        if end < 0:
            return False
        status = bytes(buf[: buf.find(b"\r\n")])
        del buf[: end + 4]
        if b" 101 " not in status + b" ":
            self.upgraded.set_exception(ConnectionError(status.decode(errors="replace")))
            self.close()
            return False
        self.upgraded.set_result(None)
        return True

    def send(self, opcode: int, payload: bytes) -> None:
        if self.transport is not None and not self.transport.is_closing():
            self.transport.write(client_frame(opcode, payload))

    def send_text(self, text: bytes) -> None:
        self.send(0x1, text)

    def close(self) -> None:
        if self.transport is not None and not self.transport.is_closing():
            self.send(0x8, (1000).to_bytes(2, "big"))
            self.transport.close()


async def connect(host: str, port: int, path: str, query: dict[str, str], on_text: OnText) -> RawWebSocket:
    """Open a WebSocket to ws://host:port/path?query and wait for the 101."""
    loop = asyncio.get_running_loop()
    _, ws = await loop.create_connection(lambda: RawWebSocket(on_text), host, port)
    key = base64.b64encode(os.urandom(16)).decode()
    assert ws.transport is not None
    ws.transport.write(
        f"GET {path}?{urlencode(query)} HTTP/1.1\r\nHost: {host}:{port}\r\nUpgrade: websocket\r\n"
        f"Connection: Upgrade\r\nSec-WebSocket-Key: {key}\r\nSec-WebSocket-Version: 13\r\n\r\n".encode()
    )
    await ws.upgraded
    return ws
