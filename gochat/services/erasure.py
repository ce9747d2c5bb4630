"""Erasing a user (`gochat users erase`): every login revoked, their end-to-end devices deleted,
their keys destroyed, then `user.erased` appended.

The log is append-only, so erasure is a fact added to it, not a deletion from it: each projection
handles `user.erased` (the user's messages become tombstones, reactions, read markers, presence and
memberships go, the name is replaced), and checks for an erased author whenever it stores content,
so a rebuild from zero never brings the content back. What the log holds of the user is sealed
under their data keys (events/sealing.py): destroying the keys turns it into noise, and every read
of it (projections, rebuilds, frames, exports, time travel) finds it blank. Events the user wrote
before sealing existed (an upgraded database not yet through `gochat keys seal-log`) are blanked in
place (events/reseal.py). docs/operations.md, "Erasure" and "Keys".
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass

from ..auth.names import normalize_username
from ..auth.store import SessionStore
from ..e2e.store import KeyStore as DeviceKeys
from ..errors import NotFound
from ..events import EventStore, NewEvent
from ..events.reseal import reseal
from ..events.types import EventType
from ..projections.users import User, UserQueries


@dataclass(frozen=True, slots=True)
class Erased:
    user_id: uuid.UUID
    event_id: int | None  # the user.erased event; None when the user was erased before
    sessions_revoked: int


class ErasureService:
    def __init__(self, store: EventStore, users: UserQueries, sessions: SessionStore, devices: DeviceKeys) -> None:
        self.store = store
        self.users = users
        self.sessions = sessions
        self.devices = devices  # the end-to-end key directory: devices are not events, they are deleted

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
        Then the keys: from here on whatever they wrote reads blank, and nothing new of theirs is
        sealed (or stored). Erasing twice revokes again (a login that raced the first time) and
        checks the keys and the log again, but appends nothing."""
        revoked = await self.sessions.revoke_user(user.id)
        await self.devices.remove_user(user.id)  # the names the user gave their devices (not in the log)
        sealer = self.store.sealer
        await sealer.keys.destroy(user.id)
        sealer.forget(user.id)
        event_id = None
        if not user.erased:
            event_id = (await self.store.append_one(NewEvent(EventType.USER_ERASED, user.id, {}))).event.id
        await reseal(self.store.db, sealer, owner=user.id)  # what the log holds of theirs in clear, blanked
        return Erased(user.id, event_id, len(revoked))
