"""Command-line filter options, parsed into a `LogFilter` or refused with one clear line."""

from __future__ import annotations

import argparse
import re
from dataclasses import replace
from datetime import UTC, datetime
from uuid import UUID

from ..events.scan import LogFilter

_TYPE = re.compile(r"^[a-z_]+\.([a-z_]+|\*)$")


class BadInput(ValueError):
    """An option the user got wrong; the message names it."""


def add_filter_arguments(parser: argparse.ArgumentParser, *, bounds: bool = True) -> None:
    parser.add_argument("--room", metavar="UUID", help="only this stream (a room's or a user's id)")
    parser.add_argument(
        "--type", dest="types", action="append", default=[], metavar="TYPE",
        help="only this event type, or a family such as 'message.*' (repeatable)",
    )  # fmt: skip
    parser.add_argument("--user", metavar="UUID", help="only events whose actor is this user")
    if bounds:
        parser.add_argument(
            "--since",
            metavar="POS|TIME",
            help="after this position (exclusive), or from this RFC 3339 time on",
        )
        parser.add_argument(
            "--until", metavar="POS|TIME", help="up to this position (inclusive), or before this RFC 3339 time"
        )


def filter_from_args(args: argparse.Namespace) -> LogFilter:
    flt = LogFilter(
        stream_id=_uuid("--room", args.room),
        types=tuple(_type(t) for t in args.types),
        actor_id=_uuid("--user", args.user),
    )
    since, until = getattr(args, "since", None), getattr(args, "until", None)
    if since is not None:
        pos, at = _position_or_time("--since", since)
        flt = replace(flt, after=pos or 0, since=at)
    if until is not None:
        pos, at = _position_or_time("--until", until)
        flt = replace(flt, upto=pos, until=at)
    return flt


def _uuid(option: str, raw: str | None) -> UUID | None:
    if raw is None:
        return None
    try:
        return UUID(raw)
    except ValueError:
        raise BadInput(f"{option}: {raw!r} is not a UUID") from None


def _type(raw: str) -> str:
    if not _TYPE.match(raw):
        raise BadInput(f"--type: {raw!r} is not an event type (like message.posted) or family (like message.*)")
    return raw


def _position_or_time(option: str, raw: str) -> tuple[int | None, datetime | None]:
    if raw.isdigit():
        return int(raw), None
    try:
        at = datetime.fromisoformat(raw)
    except ValueError:
        raise BadInput(f"{option}: {raw!r} is neither a log position (an integer) nor an RFC 3339 time") from None
    # A time without an offset (or a bare date) is read as UTC, the log's own clock.
    return None, at if at.tzinfo is not None else at.replace(tzinfo=UTC)
