"""structlog set-up: JSON lines in production, a readable console in development.

Context variables (request id, user id) are merged into every line; anything that looks like a
secret is redacted before rendering, so a token can never reach the logs by accident.
"""

from __future__ import annotations

import logging
import re
import sys
from collections.abc import MutableMapping
from typing import Any

import orjson
import structlog

SECRET_KEYS = frozenset(
    {"password", "token", "access_token", "refresh_token", "jwt_secret", "secret", "authorization", "cookie"}
)
_QUERY_SECRET = re.compile(r"((?:^|[?&])(?:token|access_token|refresh_token|password)=)[^&\s]*", re.I)
_DSN_PASSWORD = re.compile(r"(://[^:/@\s]+:)[^@\s]+@")


def redact_text(text: str) -> str:
    """Hide token query parameters and DSN passwords inside free text (paths, URLs, messages)."""
    return _DSN_PASSWORD.sub(r"\1***@", _QUERY_SECRET.sub(r"\1***", text))


def _redact(_: Any, __: str, event_dict: MutableMapping[str, Any]) -> MutableMapping[str, Any]:
    for key, value in list(event_dict.items()):
        if key.lower() in SECRET_KEYS:
            event_dict[key] = "***"
        elif isinstance(value, str) and ("=" in value or "://" in value):
            event_dict[key] = redact_text(value)
    return event_dict


def _orjson_dumps(obj: Any, default: Any = None) -> str:
    return orjson.dumps(obj, default=default or str).decode()


def configure_logging(level: str = "info", fmt: str = "json") -> None:
    shared: list[Any] = [
        structlog.contextvars.merge_contextvars,
        structlog.processors.add_log_level,
        structlog.processors.TimeStamper(fmt="iso", utc=True),
        _redact,
    ]
    renderer: Any
    if fmt == "console":
        # Tracebacks without local variables: structlog's default (rich) prints every frame's locals,
        # and a login's frames hold the password, a refresh's the token.
        renderer = structlog.dev.ConsoleRenderer(
            colors=sys.stderr.isatty(), exception_formatter=structlog.dev.RichTracebackFormatter(show_locals=False)
        )
    else:
        renderer = structlog.processors.JSONRenderer(serializer=_orjson_dumps)
        shared.append(structlog.processors.format_exc_info)
    numeric = logging.getLevelName(level.upper())
    structlog.configure(
        processors=[*shared, renderer],
        wrapper_class=structlog.make_filtering_bound_logger(numeric),
        logger_factory=structlog.PrintLoggerFactory(file=sys.stderr),
        cache_logger_on_first_use=True,
    )
    # Route stdlib logging (aiohttp, aiopg, libraries) through the same renderer.
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(
        structlog.stdlib.ProcessorFormatter(
            processors=[structlog.stdlib.ProcessorFormatter.remove_processors_meta, renderer],
            foreign_pre_chain=shared,
        )
    )
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(numeric)
    # aiohttp's access log duplicates our request log line (which carries the request id).
    logging.getLogger("aiohttp.access").setLevel(logging.WARNING)
    # aiohttp-jwt logs every rejected token with a traceback at ERROR; our middleware logs a warning.
    logging.getLogger("aiohttp_jwt").setLevel(logging.CRITICAL)


def get_logger(name: str | None = None) -> Any:
    return structlog.get_logger(name)
