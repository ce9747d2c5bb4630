"""Events as immutable typed records."""

from __future__ import annotations

import functools
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, TypeVar, dataclass_transform
from uuid import UUID

_T = TypeVar("_T")

# expected_version values besides a concrete version
ANY_VERSION: None = None
NO_STREAM = 0  # the stream must not exist yet


@dataclass_transform(frozen_default=True)
def record(cls: type[_T]) -> type[_T]:
    """A dataclass that mypy holds immutable (assigning a field is a type error) and that builds at
    the speed of a plain one: frozen=True sets each field through object.__setattr__, five times
    slower, a share of the writer's CPU per event that shows (docs/benchmarks.md, "Figures behind
    the code's comments")."""
    return dataclass(slots=True)(cls)


@functools.lru_cache(maxsize=4096)
def uuid_text(value: UUID) -> str:
    """str(UUID) (slow in Python: docs/benchmarks.md), remembered: the rooms and actors of the events
    being appended and rendered now are few, and each is turned into text several times per event."""
    return str(value)


@record
class NewEvent:
    """An event a command wants appended. `data` is validated against the type's schema first."""

    type: str
    stream_id: UUID
    data: Mapping[str, Any]
    actor_id: UUID | None = None
    client_msg_id: str | None = None
    # None: append whatever the stream's version; NO_STREAM: the stream must be new; n: it must be at n.
    expected_version: int | None = None
    metadata: Mapping[str, Any] = field(default_factory=dict)


@record
class RecordedEvent:
    """An event as stored: `id` is its global position, the integer clients see."""

    id: int
    stream_id: UUID
    version: int
    type: str
    schema_version: int
    data: Mapping[str, Any]
    metadata: Mapping[str, Any]
    actor_id: UUID | None
    client_msg_id: str | None
    recorded_at: datetime


@record
class AppendResult:
    """What `append` returns per event; `duplicate` is True when an idempotent retry found the original."""

    event: RecordedEvent
    duplicate: bool = False
