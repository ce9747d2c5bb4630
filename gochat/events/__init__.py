"""Typed immutable events, their schemas and upcasters, and the append-only store."""

from .catalog import build_registry
from .model import NO_STREAM, AppendResult, NewEvent, RecordedEvent
from .registry import EventRegistry
from .store import EventStore
from .types import EventType

__all__ = [
    "NO_STREAM",
    "AppendResult",
    "EventRegistry",
    "EventStore",
    "EventType",
    "NewEvent",
    "RecordedEvent",
    "build_registry",
]
