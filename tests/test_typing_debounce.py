"""The node's typing debounce: one event per user and room per interval, and it forgets old typists."""

from __future__ import annotations

import uuid

from gochat.services.typing import TypingDebounce


def test_one_typing_event_per_user_and_room_per_interval_and_only_recent_typists_are_kept() -> None:
    now = [0.0]
    debounce = TypingDebounce(3.0, clock=lambda: now[0])
    alice, bob, room, other = uuid.uuid4(), uuid.uuid4(), uuid.uuid4(), uuid.uuid4()
    assert debounce.allow(alice, room)
    assert not debounce.allow(alice, room)
    assert debounce.allow(alice, other)
    assert debounce.allow(bob, room)
    now[0] = 2.9
    assert not debounce.allow(alice, room)
    now[0] = 3.0
    assert debounce.allow(alice, room)
    assert len(debounce._last) == 1  # the others' entries went stale and were dropped
