"""Account commands: sign up, log in, refresh, log out, update the profile; and checking a session.

Who exists is in the log (`username.claimed`, `user.registered`, `user.profile_updated`); the
users projection answers lookups. Login sessions are not events (see sql/migrations/011_sessions.sql).

Name uniqueness is decided by the log itself: each normalized name has its own stream,
uuid5(namespace, name), and signing up appends `username.claimed` there with NO_STREAM together
with `user.registered`, in one group. Of two signups of `Alice` and `alice` at once, the store's
version check lets exactly one through and the other gets VersionConflict -> 409, with nothing
appended for it. (A UNIQUE index on the projection would also hold, but would surface as a failed
batch transaction shared with unrelated appends rather than as a clean per-command conflict.)
"""

from __future__ import annotations

import uuid
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass
from typing import Any

import structlog

from ..auth.confusables import RESERVED_NAMES, is_mixed_script, skeleton, skeleton_stream
from ..auth.names import normalize_username, username_stream
from ..auth.passwords import Passwords
from ..auth.store import Issued, SessionStore
from ..auth.tokens import AccessClaims, issue_access_token
from ..errors import Conflict, NotFound, Unauthorized, ValidationFailed, VersionConflict
from ..events import NO_STREAM, EventStore, NewEvent
from ..events.types import EventType
from ..projections.users import User, UserQueries
from ..settings import Settings

log = structlog.get_logger("gochat.accounts")

#: Called with a family id once it is revoked (logout, refresh-token reuse): the WebSocket hub
#: closes that family's sockets.
RevocationListener = Callable[[uuid.UUID], Awaitable[None]]


class InvalidCredentials(Unauthorized):
    code = "invalid_credentials"


class InvalidRefreshToken(Unauthorized):
    code = "invalid_refresh_token"


class SessionRevoked(Unauthorized):
    code = "session_revoked"


def _taken() -> Conflict:
    return Conflict("username is taken", code="username_taken", details={"username": ["Already taken."]})


async def impersonation_check(users: UserQueries, username: str, norm: str) -> str:
    """Refuse reserved words, mixed scripts and names that look like a taken one (docs/api.md,
    Impersonation); returns the name's skeleton. People at signup and bots alike pass it."""
    if norm in RESERVED_NAMES:
        raise ValidationFailed("invalid request", details={"username": ["This name is reserved."]})
    if is_mixed_script(username):
        raise ValidationFailed("invalid request", details={"username": ["Must not mix scripts."]})
    skel = skeleton(username)
    if await users.skeleton_taken(skel):
        raise Conflict(
            "username looks like one that is taken",
            code="username_confusable",
            details={"username": ["Too similar to an existing name."]},
        )
    return skel


@dataclass(frozen=True, slots=True)
class Tokens:
    user: User
    access_token: str
    refresh_token: str
    expires_in: int

    def to_dict(self) -> dict[str, Any]:
        return {
            "user": self.user.public(),
            "access_token": self.access_token,
            "refresh_token": self.refresh_token,
            "token_type": "Bearer",
            "expires_in": self.expires_in,
        }


class AccountService:
    def __init__(
        self, settings: Settings, store: EventStore, users: UserQueries, sessions: SessionStore, passwords: Passwords
    ) -> None:
        self.settings = settings
        self.store = store
        self.users = users
        self.sessions = sessions
        self.passwords = passwords
        self.revocation_listeners: list[RevocationListener] = []
        # Run after a correct password, before a session starts (a deactivated account: moderation/admin.py).
        self.login_checks: list[Callable[[uuid.UUID], Awaitable[None]]] = []

    # --- commands -------------------------------------------------------------------------------
    async def signup(self, username: str, password: str, display_name: str | None = None) -> Tokens:
        norm = normalize_username(username)
        if await self.users.by_name(norm) is not None:
            raise _taken()  # the common case, answered before paying for a hash
        skel = await impersonation_check(self.users, username, norm)
        user_id = uuid.uuid4()
        registered = {
            "username": username,
            "username_norm": norm,
            "display_name": display_name or username,
            "password_hash": await self.passwords.hash(password),
            "username_skeleton": skel,
        }
        try:
            await self.store.append(
                NewEvent(EventType.USERNAME_CLAIMED, username_stream(norm), {"user_id": str(user_id)},
                         actor_id=user_id, expected_version=NO_STREAM),
                # look-alike names race on their skeleton's stream as equal names do on theirs
                NewEvent(EventType.USERNAME_CLAIMED, skeleton_stream(skel), {"user_id": str(user_id)},
                         actor_id=user_id, expected_version=NO_STREAM),
                NewEvent(EventType.USER_REGISTERED, user_id, registered, actor_id=user_id, expected_version=NO_STREAM),
            )  # fmt: skip
        except VersionConflict:
            raise _taken() from None
        log.info("user_registered", user_id=str(user_id))
        return await self._new_session(await self._user(user_id))

    async def login(self, username: str, password: str) -> Tokens:
        """Unknown user, erased user and wrong password: the same error after the same work."""
        found = await self.users.by_name(normalize_username(username))
        user = found if found is not None and not found.erased else None
        ok = await self.passwords.verify(user.password_hash if user else None, password)
        if user is None or not ok:
            raise InvalidCredentials("invalid username or password")
        for check in self.login_checks:
            await check(user.id)
        return await self._new_session(user)

    async def refresh(self, refresh_token: str) -> Tokens:
        rotation = await self.sessions.rotate(refresh_token)
        if rotation.outcome == "reused":
            assert rotation.family_id is not None
            log.warning("refresh_token_reused", family_id=str(rotation.family_id))
            await self._revoked(rotation.family_id)
            raise InvalidRefreshToken("refresh token was already used: the session is revoked")
        issued = rotation.issued
        if issued is None:
            raise InvalidRefreshToken("refresh token is invalid, expired or revoked")
        user = await self.users.get(issued.user_id)
        if user is None or user.erased:
            await self.logout(issued.refresh_token)
            raise InvalidRefreshToken("refresh token is invalid, expired or revoked")
        return self._tokens(user, issued)

    async def logout(self, refresh_token: str) -> None:
        """Revoke the token's family. Unknown tokens are ignored: logging out twice is fine."""
        family_id = await self.sessions.revoke(refresh_token, "logout")
        if family_id is not None:
            await self._revoked(family_id)

    async def update_profile(self, user_id: uuid.UUID, display_name: str) -> User:
        await self.get(user_id)
        await self.store.append(
            NewEvent(EventType.USER_PROFILE_UPDATED, user_id, {"display_name": display_name}, actor_id=user_id)
        )
        return await self._user(user_id)

    # --- queries --------------------------------------------------------------------------------
    async def get(self, user_id: uuid.UUID) -> User:
        user = await self.users.get(user_id)
        if user is None or user.erased:
            raise NotFound("user not found")
        return user

    async def existing(self, user_ids: Iterable[uuid.UUID]) -> set[uuid.UUID]:
        """Which of these ids are users (not erased): for commands that name other users."""
        return await self.users.existing(user_ids)

    async def authenticate(self, claims: AccessClaims) -> None:
        """Refuse an access token whose login (family) was revoked since it was issued."""
        if not await self.sessions.is_active(claims.session_id, claims.user_id):
            raise SessionRevoked("the session was revoked; log in again")

    # --- helpers --------------------------------------------------------------------------------
    async def _user(self, user_id: uuid.UUID) -> User:
        user = await self.users.get(user_id)
        assert user is not None, "the users projection is inline: a committed registration is visible"
        return user

    async def _new_session(self, user: User) -> Tokens:
        return self._tokens(user, await self.sessions.start(user.id))

    def _tokens(self, user: User, issued: Issued) -> Tokens:
        access = issue_access_token(self.settings, user.id, issued.family_id)
        return Tokens(user, access, issued.refresh_token, self.settings.access_token_ttl)

    async def _revoked(self, family_id: uuid.UUID) -> None:
        for listener in self.revocation_listeners:
            try:
                await listener(family_id)
            except Exception:
                log.exception("revocation_listener_failed", family_id=str(family_id))
