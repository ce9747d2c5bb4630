"""Event types: each has a name, a current schema version, a marshmallow schema and upcasters.

Validation happens before an event reaches the log; upcasting happens on every read, so code only
ever sees the current shape of an event even when the log holds older versions.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

import marshmallow

from ..errors import ValidationFailed

Upcaster = Callable[[dict[str, Any]], dict[str, Any]]
# A hand-written check for a hot event type: the data exactly as its schema would load it, or None
# (or a ValidationError) to leave the decision and the error message to the schema.
FastPath = Callable[[Mapping[str, Any]], dict[str, Any] | None]


@dataclass(frozen=True, slots=True)
class EventSpec:
    type: str
    version: int
    schema: marshmallow.Schema
    # upcasters[n] turns version n data into version n + 1 data
    upcasters: Mapping[int, Upcaster] = field(default_factory=dict)
    fast: FastPath | None = None


class UnknownEventType(ValidationFailed):
    code = "unknown_event_type"


class EventRegistry:
    def __init__(self) -> None:
        self._specs: dict[str, EventSpec] = {}

    def register(
        self,
        type_: str,
        schema: marshmallow.Schema,
        *,
        version: int = 1,
        upcasters: Mapping[int, Upcaster] | None = None,
        fast: FastPath | None = None,
    ) -> None:
        if type_ in self._specs:
            raise ValueError(f"event type {type_} registered twice")
        missing = [v for v in range(1, version) if v not in (upcasters or {})]
        if missing:
            raise ValueError(f"{type_} v{version} lacks upcasters from versions {missing}")
        self._specs[type_] = EventSpec(type_, version, schema, dict(upcasters or {}), fast)

    def spec(self, type_: str) -> EventSpec:
        try:
            return self._specs[type_]
        except KeyError:
            raise UnknownEventType(f"unknown event type {type_!r}") from None

    @property
    def types(self) -> list[str]:
        return sorted(self._specs)

    def validate(self, type_: str, data: Mapping[str, Any]) -> dict[str, Any]:
        """The data as it will be stored, or ValidationFailed with field messages.

        Schemas load to JSON-native values (see `fields.py`), so an event appended now and the same
        event read back from the log look identical to projections.
        """
        spec = self.spec(type_)
        if spec.fast is not None and isinstance(data, dict):
            try:
                fast = spec.fast(data)
            except marshmallow.ValidationError:
                fast = None
            if fast is not None:
                return fast
        try:
            loaded: dict[str, Any] = spec.schema.load(data)
        except marshmallow.ValidationError as exc:
            raise ValidationFailed(f"invalid {type_} event", details=_messages(exc)) from None
        return loaded

    def upcast(self, type_: str, schema_version: int, data: dict[str, Any]) -> tuple[int, dict[str, Any]]:
        spec = self._specs.get(type_)
        if spec is None:
            return schema_version, data  # an event type this build no longer knows: hand it over raw
        while schema_version < spec.version:
            data = spec.upcasters[schema_version](data)
            schema_version += 1
        return schema_version, data


def _messages(exc: marshmallow.ValidationError) -> dict[str, Any]:
    msgs = exc.messages
    return msgs if isinstance(msgs, dict) else {"_schema": msgs}
