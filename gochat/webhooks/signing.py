"""How a webhook POST is signed, and how a receiver verifies it (docs/api.md, Webhooks).

`X-Gochat-Signature: v1=<hex HMAC-SHA256(secret, "<timestamp>." + body)>` with the timestamp (Unix
seconds) in `X-Gochat-Timestamp`: the timestamp is signed with the body, so a captured request
replayed later fails the receiver's freshness check, and its event id (`X-Gochat-Event-Id`, also
in the body) lets the receiver drop the retries it already handled.
"""

from __future__ import annotations

import hashlib
import hmac
import time

TOLERANCE = 300  # seconds a receiver should accept a timestamp off its own clock


def signature(secret: str, timestamp: int, body: bytes) -> str:
    digest = hmac.new(secret.encode(), f"{timestamp}.".encode() + body, hashlib.sha256).hexdigest()
    return f"v1={digest}"


def verify(secret: str, timestamp: str, body: bytes, header: str, *, now: float | None = None) -> bool:
    """What a receiver does: a fresh timestamp and a signature that matches, compared in constant time."""
    try:
        ts = int(timestamp)
    except ValueError:
        return False
    if abs((time.time() if now is None else now) - ts) > TOLERANCE:
        return False
    return hmac.compare_digest(signature(secret, ts, body), header)
