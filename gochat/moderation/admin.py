"""Server administration: administrators (a role set by `gochat users admin`) list and search
users, deactivate and reactivate accounts, and read any room's moderation history (the log)."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence
from uuid import UUID

from ..auth.bot_tokens import BotTokenStore
from ..auth.store import SessionStore
from ..db import Database
from ..errors import Conflict, Forbidden, NotFound
from ..events import EventStore, NewEvent, RecordedEvent
from ..events.types import EventType
from ..projections.users import UserQueries
from . import projection as moderation_queries

# What a room's moderation history holds: who was removed, muted, promoted, what was reported,
# pinned, slowed down.
HISTORY_TYPES = (
    EventType.MEMBER_KICKED,
    EventType.MEMBER_BANNED,
    EventType.MEMBER_UNBANNED,
    EventType.MEMBER_ROLE_CHANGED,
    EventType.MEMBER_MUTED,
    EventType.MEMBER_UNMUTED,
    EventType.ROOM_SLOW_MODE_SET,
    EventType.MESSAGE_REPORTED,
    EventType.REPORT_RESOLVED,
    EventType.MESSAGE_PINNED,
    EventType.MESSAGE_UNPINNED,
    EventType.MESSAGE_DELETED,
    EventType.ROOM_UPDATED,
)


class AccountDeactivated(Forbidden):
    code = "account_deactivated"


class AdminService:
    def __init__(
        self,
        db: Database,
        store: EventStore,
        users: UserQueries,
        sessions: SessionStore,
        revoked: Sequence[Callable[[UUID], Awaitable[None]]],
        bot_tokens: BotTokenStore,
    ) -> None:
        self.db = db
        self.bot_tokens = bot_tokens
        self.store = store
        self.users = users
        self.sessions = sessions
        self.revoked = revoked  # the accounts' revocation listeners: they close a session's sockets

    async def require_admin(self, actor: UUID) -> None:
        async with self.db.cursor() as cur:
            if not await moderation_queries.is_server_admin(cur, actor):
                raise Forbidden("server administrators only", code="not_a_server_admin")

    async def set_admin(self, user_id: UUID, admin: bool) -> bool:
        """The CLI's: True when the role changed."""
        async with self.db.cursor() as cur:
            if await moderation_queries.is_server_admin(cur, user_id) == admin:
                return False
        await self.store.append_one(NewEvent(EventType.USER_ADMIN_SET, user_id, {"admin": admin}, actor_id=None))
        return True

    async def search(
        self, actor: UUID, query: str | None, after: str | None, limit: int
    ) -> list[moderation_queries.UserRow]:
        await self.require_admin(actor)
        async with self.db.cursor() as cur:
            return await moderation_queries.search_users(cur, query, after, limit)

    async def _existing(self, user_id: UUID) -> None:
        user = await self.users.get(user_id)
        if user is None or user.erased:
            raise NotFound("user not found")

    async def deactivate(self, actor: UUID, user_id: UUID) -> None:
        """The account stops at once: its logins are revoked (sockets closed), logging in and its
        bot tokens are refused until it is reactivated. Its content stays."""
        await self.require_admin(actor)
        await self._existing(user_id)
        if user_id == actor:
            raise Conflict("you cannot deactivate yourself", code="self_moderation")
        async with self.db.cursor() as cur:
            already = await moderation_queries.is_deactivated(cur, user_id)
        if not already:
            await self.store.append_one(NewEvent(EventType.USER_DEACTIVATED, user_id, {}, actor_id=actor))
        # Sockets are closed by login (family) or, for a bot, by token: both kinds are ended.
        ended = await self.sessions.revoke_user(user_id, "admin")
        ended += [t.id for t in await self.bot_tokens.of_bot(user_id) if t.revoked_at is None]
        for session in ended:
            for listener in self.revoked:
                await listener(session)

    async def reactivate(self, actor: UUID, user_id: UUID) -> None:
        await self.require_admin(actor)
        await self._existing(user_id)
        async with self.db.cursor() as cur:
            if not await moderation_queries.is_deactivated(cur, user_id):
                return
        await self.store.append_one(NewEvent(EventType.USER_REACTIVATED, user_id, {}, actor_id=actor))

    async def check_active(self, user_id: UUID) -> None:
        """A login check (AccountService.login_checks)."""
        async with self.db.cursor() as cur:
            if await moderation_queries.is_deactivated(cur, user_id):
                raise AccountDeactivated("this account is deactivated")

    async def history(self, actor: UUID, room_id: UUID, before: int | None, limit: int) -> list[RecordedEvent]:
        await self.require_admin(actor)
        return await self.store.read_stream_types(room_id, HISTORY_TYPES, before, limit)
