"""Bots: users made by a room's admins, or server-wide by server administrators (and operators,
`gochat bots`), acting through long-lived API tokens.

A bot is registered like a person (username.claimed + user.registered, without a password, so
nobody logs in as it, and under the same look-alike rules: its name's skeleton is claimed too) plus
`bot.created`. A room bot joins the room it was made in, in the same append; a server-wide bot joins
no room: it joins public rooms and accepts invitations itself, through its token, like anyone. Its
tokens are not events (auth/bot_tokens.py). A bot's maker manages its tokens, and server
administrators manage every bot's; a revoked token stops at once, and its sockets are closed like a
logged-out session's.

`actor` None is the operator at the command line (`gochat bots ...`): allowed everything.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Awaitable, Callable, Sequence

from ..auth.bot_tokens import BotTokenStore, TokenInfo
from ..auth.confusables import skeleton_stream
from ..auth.names import normalize_username, username_stream
from ..auth.tokens import AccessClaims, InvalidToken
from ..db import Database
from ..errors import Forbidden, NotFound, VersionConflict
from ..events import NO_STREAM, EventStore, NewEvent
from ..events.types import EventType
from ..moderation import projection as admins
from ..projections import bots as bot_queries
from ..projections.users import UserQueries
from .access import room_access
from .accounts import _taken as username_taken
from .accounts import impersonation_check

#: How long a bot's socket lives before it is closed with 4401 (the bot reconnects with its token
#: and `since`), as a person's lives as long as their access token: a token revoked where no
#: socket can be told (`gochat bots revoke` from another process) stops its sockets by then.
DEFAULT_SOCKET_TTL = 15 * 60


def _not_found() -> NotFound:
    return NotFound("bot not found", code="bot_not_found")


class BotService:
    def __init__(
        self,
        db: Database,
        store: EventStore,
        tokens: BotTokenStore,
        revoked: Sequence[Callable[[uuid.UUID], Awaitable[None]]],
        *,
        socket_ttl: int = DEFAULT_SOCKET_TTL,
    ) -> None:
        self.db = db
        self.store = store
        self.tokens = tokens
        self.revoked = revoked  # the accounts' revocation listeners: they close a session's sockets
        self.socket_ttl = socket_ttl
        self.users = UserQueries(db)

    async def create(
        self, actor: uuid.UUID, room_id: uuid.UUID, username: str, display_name: str | None
    ) -> bot_queries.Bot:
        """A room admin makes a bot, which joins that room as a member."""
        acc = (await room_access(self.db, actor, room_id)).require_read().require_moderator()
        if acc.room["type"] == "group":
            raise Forbidden("group rooms have a fixed member set", code="fixed_membership")
        bot_id = uuid.uuid4()
        joined = NewEvent(EventType.MEMBER_JOINED, room_id, {"user_id": str(bot_id), "role": "member"}, actor_id=actor)
        await self._register(actor, bot_id, username, display_name, room_id, joined)
        return await self._managed(actor, bot_id)

    async def create_server_bot(
        self, actor: uuid.UUID | None, username: str, display_name: str | None
    ) -> bot_queries.Bot:
        """A server administrator (or the operator: `actor` None) makes a bot of no room."""
        await self.require_admin(actor)
        bot_id = uuid.uuid4()
        await self._register(actor, bot_id, username, display_name, None)
        return await self._managed(actor, bot_id)

    async def _register(
        self,
        actor: uuid.UUID | None,
        bot_id: uuid.UUID,
        username: str,
        display_name: str | None,
        room_id: uuid.UUID | None,
        *more: NewEvent,
    ) -> None:
        norm = normalize_username(username)
        if await self.users.by_name(norm) is not None:
            raise username_taken()
        skel = await impersonation_check(self.users, username, norm)
        registered = {"username": username, "username_norm": norm, "display_name": display_name or username,
                      "username_skeleton": skel}  # fmt: skip
        made = {
            "created_by": None if actor is None else str(actor),
            "room_id": None if room_id is None else str(room_id),
        }
        claim = {"user_id": str(bot_id)}
        try:
            await self.store.append(
                NewEvent(EventType.USERNAME_CLAIMED, username_stream(norm), claim, actor_id=actor,
                         expected_version=NO_STREAM),
                NewEvent(EventType.USERNAME_CLAIMED, skeleton_stream(skel), claim, actor_id=actor,
                         expected_version=NO_STREAM),
                NewEvent(EventType.USER_REGISTERED, bot_id, registered, actor_id=actor, expected_version=NO_STREAM),
                NewEvent(EventType.BOT_CREATED, bot_id, made, actor_id=actor),
                *more,
            )  # fmt: skip
        except VersionConflict:
            raise username_taken() from None

    async def require_admin(self, actor: uuid.UUID | None) -> None:
        if actor is None:
            return
        async with self.db.cursor() as cur:
            if not await admins.is_server_admin(cur, actor):
                raise Forbidden("server administrators only", code="not_a_server_admin")

    async def mine(self, actor: uuid.UUID) -> list[bot_queries.Bot]:
        async with self.db.cursor() as cur:
            return await bot_queries.bots_created_by(cur, actor)

    async def every(self, actor: uuid.UUID | None, after: str | None, limit: int) -> list[tuple[bot_queries.Bot, str]]:
        """Every bot, room and server-wide, with its page cursor (server administrators)."""
        await self.require_admin(actor)
        async with self.db.cursor() as cur:
            return await bot_queries.every_bot(cur, after, limit)

    async def find(
        self, actor: uuid.UUID | None, *, bot_id: uuid.UUID | None = None, username: str | None = None
    ) -> bot_queries.Bot:
        """A bot by id or by username, as `_managed` lets the caller see it."""
        if username is not None:
            user = await self.users.by_name(normalize_username(username))
            if user is None:
                raise _not_found()
            bot_id = user.id
        assert bot_id is not None
        return await self._managed(actor, bot_id)

    async def _managed(self, actor: uuid.UUID | None, bot_id: uuid.UUID) -> bot_queries.Bot:
        """The bot, when the caller made it or administers the server; anyone else gets 404 (bots of
        others are not listed)."""
        async with self.db.cursor() as cur:
            bot = await bot_queries.get_bot(cur, bot_id)
            allowed = actor is None or (bot is not None and bot.created_by == actor)
            if bot is not None and actor is not None and not allowed:
                allowed = await admins.is_server_admin(cur, actor)
        if bot is None or not allowed:
            raise _not_found()
        return bot

    async def issue_token(
        self, actor: uuid.UUID | None, bot_id: uuid.UUID, name: str, scopes: list[str], rooms: list[uuid.UUID] | None
    ) -> tuple[str, TokenInfo]:
        await self._managed(actor, bot_id)
        return await self.tokens.issue(bot_id, name, scopes, rooms, actor)

    async def list_tokens(self, actor: uuid.UUID | None, bot_id: uuid.UUID) -> list[TokenInfo]:
        await self._managed(actor, bot_id)
        return await self.tokens.of_bot(bot_id)

    async def revoke_token(self, actor: uuid.UUID | None, bot_id: uuid.UUID, token_id: uuid.UUID) -> None:
        await self._managed(actor, bot_id)
        if not await self.tokens.revoke(bot_id, token_id):
            raise NotFound("token not found", code="token_not_found")
        await self._close(token_id)

    async def revoke_all(self, actor: uuid.UUID | None, bot_id: uuid.UUID) -> list[uuid.UUID]:
        """Revoke every live token of the bot (it stops at once; its sockets close); returns their ids."""
        await self._managed(actor, bot_id)
        revoked = await self.tokens.revoke_all(bot_id)
        for token_id in revoked:
            await self._close(token_id)
        return revoked

    async def _close(self, token_id: uuid.UUID) -> None:
        for listener in self.revoked:
            await listener(token_id)

    async def authenticate(self, secret: str) -> AccessClaims:
        found = await self.tokens.grant(secret)
        if found is None:
            raise InvalidToken("invalid or revoked bot token")
        bot_id, grant = found
        return AccessClaims(bot_id, grant.token_id, int(time.time()) + self.socket_ttl, bot=grant)
