"""The hand-written fast paths of hot event types accept exactly what their schemas accept, and load it
to the same data; anything else is left to the schema (and so gets the schema's error message)."""

from __future__ import annotations

from typing import Any

import marshmallow
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from gochat.errors import ValidationFailed
from gochat.events import build_registry

REGISTRY = build_registry()
FAST_TYPES = [t for t in REGISTRY.types if REGISTRY.spec(t).fast is not None]

awkward_text = st.one_of(
    st.text(max_size=40),
    st.sampled_from(["", "   ", "hi", " padded ", "a\x00b", "e\u0301", "\u202eabc", ":wave:", ":Wave:", "👍", "👍 👍"]),
    st.builds(lambda n: "x" * n, st.sampled_from([3999, 4000, 4001])),
    st.builds(lambda n: " " + "y" * n + " ", st.sampled_from([4000, 4001])),
)
values = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-3, max_value=2**63),
    st.floats(allow_nan=False),
    awkward_text,
    st.lists(st.integers(), max_size=2),
    st.just([{"file_id": "f"}]),
)


def field_names(type_: str) -> list[str]:
    return sorted(REGISTRY.spec(type_).schema.fields)


@st.composite
def event_data(draw: st.DrawFn, type_: str) -> dict[str, Any]:
    keys = draw(st.lists(st.sampled_from([*field_names(type_), "extra"]), unique=True, max_size=4))
    return {k: draw(values) for k in keys}


def schema_load(type_: str, data: dict[str, Any]) -> dict[str, Any] | None:
    try:
        loaded: dict[str, Any] = REGISTRY.spec(type_).schema.load(data)
    except marshmallow.ValidationError:
        return None
    return loaded


@pytest.mark.parametrize("type_", FAST_TYPES)
@settings(max_examples=400, deadline=None)
@given(data=st.data())
def test_fast_path_agrees_with_the_schema(type_: str, data: st.DataObject) -> None:
    payload = data.draw(event_data(type_))
    fast = REGISTRY.spec(type_).fast
    assert fast is not None
    try:
        quick = fast(payload)
    except marshmallow.ValidationError:
        quick = None
    expected = schema_load(type_, payload)
    if quick is not None:
        assert quick == expected
    if expected is None:
        with pytest.raises(ValidationFailed):
            REGISTRY.validate(type_, payload)
    else:
        assert REGISTRY.validate(type_, payload) == expected


def test_the_hot_types_have_fast_paths_that_take_the_common_shapes() -> None:
    spec = REGISTRY.spec
    assert spec("message.posted").fast({"content": " hi "}) == {  # type: ignore[misc]
        "content": "hi",
        "thread_root": None,
        "attachments": None,
    }
    assert spec("receipt.read").fast({"message_id": 7}) == {"message_id": 7}  # type: ignore[misc]
    assert spec("reaction.added").fast({"message_id": 7, "emoji": "👍"}) == {"message_id": 7, "emoji": "👍"}  # type: ignore[misc]
    assert spec("typing.started").fast({}) == {}  # type: ignore[misc]


def test_an_error_found_on_the_fast_path_keeps_the_schemas_message() -> None:
    with pytest.raises(ValidationFailed) as info:
        REGISTRY.validate("message.posted", {"content": "   "})
    assert info.value.details == {"content": ["Must not be empty."]}
