"""Events as immutable typed records."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any
from uuid import UUID

# expected_version values besides a concrete version
ANY_VERSION: None = None
NO_STREAM = 0  # the stream must not exist yet


@dataclass(frozen=True, slots=True)
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


@dataclass(frozen=True, slots=True)
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


@dataclass(frozen=True, slots=True)
class AppendResult:
    """What `append` returns per event; `duplicate` is True when an idempotent retry found the original."""

    event: RecordedEvent
    duplicate: bool = False
