"""Domain errors: raised by commands, stores and queries; mapped to HTTP/WS answers by the web layer.

Each carries the PROTOCOL.md shape (`code`, `message`, `details`) and the HTTP status it maps to, so
the layers below the web never import aiohttp.
"""

from __future__ import annotations

from typing import Any, ClassVar


class GochatError(Exception):
    status: ClassVar[int] = 500
    code: ClassVar[str] = "internal_error"

    def __init__(self, message: str, *, code: str | None = None, details: dict[str, Any] | None = None) -> None:
        super().__init__(message)
        self.message = message
        if code is not None:
            self.code = code  # type: ignore[misc]
        self.details = _text_keys(details or {})

    def to_dict(self) -> dict[str, Any]:
        body: dict[str, Any] = {"code": self.code, "message": self.message}
        if self.details:
            body["details"] = self.details
        return {"error": body}


def _text_keys(value: Any) -> Any:
    """Details as JSON objects have them: marshmallow keys a list item's messages by its index, an
    int, which the WebSocket's orjson refuses (it broke the socket: tests/test_hostile_input.py)."""
    if isinstance(value, dict):
        return {str(k): _text_keys(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_text_keys(v) for v in value]
    return value


class BadRequest(GochatError):
    status = 400
    code = "bad_request"


class Unauthorized(GochatError):
    status = 401
    code = "unauthorized"


class Forbidden(GochatError):
    status = 403
    code = "forbidden"


class NotFound(GochatError):
    status = 404
    code = "not_found"


class Conflict(GochatError):
    status = 409
    code = "conflict"


class PayloadTooLarge(GochatError):
    status = 413
    code = "payload_too_large"


class ValidationFailed(GochatError):
    status = 422
    code = "validation_failed"


class RateLimited(GochatError):
    status = 429
    code = "rate_limited"

    def __init__(self, message: str = "Too many requests", *, retry_after: float = 1.0, **kw: Any) -> None:
        super().__init__(message, **kw)
        self.retry_after = retry_after


class Unavailable(GochatError):
    status = 503
    code = "unavailable"

    def __init__(self, message: str = "A dependency is unavailable", *, retry_after: float = 1.0, **kw: Any) -> None:
        super().__init__(message, **kw)
        self.retry_after = retry_after


class VersionConflict(Conflict):
    """The stream moved past the version the caller expected (optimistic concurrency)."""

    code = "version_conflict"
