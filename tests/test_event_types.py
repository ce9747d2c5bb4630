"""Event types are one enumeration: every registered type is a member, and every member registered."""

from __future__ import annotations

from gochat.events import EventType, build_registry


def test_the_enumeration_and_the_registry_list_the_same_types() -> None:
    assert set(build_registry().types) == {t.value for t in EventType}


def test_a_member_is_its_string_wherever_types_are_compared_or_looked_up() -> None:
    stored: str = "message.posted"  # as read back from the log
    assert stored == EventType.MESSAGE_POSTED
    assert {"message.posted": 1}[EventType.MESSAGE_POSTED] == 1
    assert EventType.MESSAGE_POSTED in frozenset({"message.posted"})
    assert f"{EventType.MESSAGE_POSTED}" == str(EventType.MESSAGE_POSTED) == "message.posted"
