"""Erasing a user (`gochat users erase`): every login revoked, then `user.erased` appended.

The log is append-only, so erasure is a fact added to it, not a deletion from it: each projection
handles `user.erased` (the user's messages become tombstones, reactions, read markers, presence and
memberships go, the name is replaced), and checks for an erased author whenever it stores content,
so a rebuild from zero never brings the content back. The events still hold what the user wrote;
`gochat events export` and `tail` redact it. docs/operations.md ("Erasure") has the design, and the
per-user keys that would make the log's copy unreadable too.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass

from ..auth.names import normalize_username
from ..auth.store import SessionStore
from ..errors import NotFound
from ..events import EventStore, NewEvent
from ..events.types import EventType
from ..projections.users import User, UserQueries


@dataclass(frozen=True, slots=True)
class Erased:
    user_id: uuid.UUID
    event_id: int | None  # the user.erased event; None when the user was erased before
    sessions_revoked: int


class ErasureService:
    def __init__(self, store: EventStore, users: UserQueries, sessions: SessionStore) -> None:
        self.store = store
        self.users = users
        self.sessions = sessions

    async def find(self, *, user_id: uuid.UUID | None = None, username: str | None = None) -> User:
        """A user by id, or by username (as typed at signup; case and width do not matter); never
        one guessed from the other: 32 hex digits are a valid username and a valid id alike."""
        if (user_id is None) == (username is None):
            raise ValueError("give exactly one of user_id and username")
        if user_id is not None:
            user = await self.users.get(user_id)
        else:
            assert username is not None
            user = await self.users.by_name(normalize_username(username))
        if user is None:
            who = f"with id {user_id}" if user_id is not None else f"named {username!r}"
            raise NotFound(f"no user {who}", code="user_not_found")
        return user

    async def erase(self, user: User) -> Erased:
        """Sessions first: once the event is in, nothing the user still holds may add to the log.
        Erasing twice revokes again (a login that raced the first time) but appends nothing."""
        revoked = await self.sessions.revoke_user(user.id)
        if user.erased:
            return Erased(user.id, None, len(revoked))
        result = await self.store.append_one(NewEvent(EventType.USER_ERASED, user.id, {}))
        return Erased(user.id, result.event.id, len(revoked))
