"""Server-to-client WebSocket frames as bytes (RFC 6455 section 5.2), built once per message.

The hub writes to the transport itself (hub.py says why), so it needs complete frames: a payload
is serialized and framed once and the same bytes are queued on every subscriber."""

from __future__ import annotations

import struct
from typing import Any

import orjson

PING_FRAME = b"\x89\x00"  # unmasked, empty
_HDR1 = struct.Struct("!BB")
_HDR2 = struct.Struct("!BBH")
_HDR8 = struct.Struct("!BBQ")


def encode_text_frame(payload: bytes) -> bytes:
    """One complete, unmasked, uncompressed server-to-client text frame."""
    n = len(payload)
    if n < 126:
        return _HDR1.pack(0x81, n) + payload
    if n < 65536:
        return _HDR2.pack(0x81, 126, n) + payload
    return _HDR8.pack(0x81, 127, n) + payload


def frame(message: dict[str, Any]) -> bytes:
    """A JSON message as a complete text frame."""
    return encode_text_frame(orjson.dumps(message))
