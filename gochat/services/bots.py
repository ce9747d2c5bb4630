"""Bots: users made by a room's admins, acting through long-lived API tokens.

A bot is registered like a person (username.claimed + user.registered, without a password, so
nobody logs in as it) plus `bot.created`, and joins the room it was made in, in one append. Its
tokens are not events (auth/bot_tokens.py). Only the bot's maker manages its tokens; a revoked
token stops at once, and its sockets are closed like a logged-out session's.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Awaitable, Callable, Sequence

from ..auth.bot_tokens import BotTokenStore, TokenInfo
from ..auth.names import normalize_username, username_stream
from ..auth.tokens import AccessClaims, InvalidToken
from ..db import Database
from ..errors import Forbidden, NotFound, VersionConflict
from ..events import NO_STREAM, EventStore, NewEvent
from ..events.types import EventType
from ..projections import bots as q
from .access import room_access
from .accounts import _taken as username_taken

# Bot tokens do not expire by themselves (they are revoked): a socket's expiry is far away.
_TEN_YEARS = 10 * 365 * 24 * 3600


def _not_found() -> NotFound:
    return NotFound("bot not found", code="bot_not_found")


class BotService:
    def __init__(
        self,
        db: Database,
        store: EventStore,
        tokens: BotTokenStore,
        revoked: Sequence[Callable[[uuid.UUID], Awaitable[None]]],
    ) -> None:
        self.db = db
        self.store = store
        self.tokens = tokens
        self.revoked = revoked  # the accounts' revocation listeners: they close a session's sockets

    async def create(self, actor: uuid.UUID, room_id: uuid.UUID, username: str, display_name: str | None) -> q.Bot:
        """A room admin makes a bot, which joins that room as a member."""
        acc = (await room_access(self.db, actor, room_id)).require_read().require_moderator()
        if acc.room["type"] == "group":
            raise Forbidden("group rooms have a fixed member set", code="fixed_membership")
        norm = normalize_username(username)
        bot_id = uuid.uuid4()
        registered = {"username": username, "username_norm": norm, "display_name": display_name or username}
        made = {"created_by": str(actor), "room_id": str(room_id)}
        try:
            await self.store.append(
                NewEvent(EventType.USERNAME_CLAIMED, username_stream(norm), {"user_id": str(bot_id)},
                         actor_id=actor, expected_version=NO_STREAM),
                NewEvent(EventType.USER_REGISTERED, bot_id, registered, actor_id=actor, expected_version=NO_STREAM),
                NewEvent(EventType.BOT_CREATED, bot_id, made, actor_id=actor),
                NewEvent(EventType.MEMBER_JOINED, room_id, {"user_id": str(bot_id), "role": "member"}, actor_id=actor),
            )  # fmt: skip
        except VersionConflict:
            raise username_taken() from None
        return await self._owned(actor, bot_id)

    async def mine(self, actor: uuid.UUID) -> list[q.Bot]:
        async with self.db.cursor() as cur:
            return await q.bots_created_by(cur, actor)

    async def _owned(self, actor: uuid.UUID, bot_id: uuid.UUID) -> q.Bot:
        """The bot, when the caller made it; anyone else gets 404 (bots of others are not listed)."""
        async with self.db.cursor() as cur:
            bot = await q.get_bot(cur, bot_id)
        if bot is None or bot.created_by != actor:
            raise _not_found()
        return bot

    async def issue_token(
        self, actor: uuid.UUID, bot_id: uuid.UUID, name: str, scopes: list[str], rooms: list[uuid.UUID] | None
    ) -> tuple[str, TokenInfo]:
        await self._owned(actor, bot_id)
        return await self.tokens.issue(bot_id, name, scopes, rooms, actor)

    async def list_tokens(self, actor: uuid.UUID, bot_id: uuid.UUID) -> list[TokenInfo]:
        await self._owned(actor, bot_id)
        return await self.tokens.of_bot(bot_id)

    async def revoke_token(self, actor: uuid.UUID, bot_id: uuid.UUID, token_id: uuid.UUID) -> None:
        await self._owned(actor, bot_id)
        if not await self.tokens.revoke(bot_id, token_id):
            raise NotFound("token not found", code="token_not_found")
        for listener in self.revoked:
            await listener(token_id)

    async def authenticate(self, secret: str) -> AccessClaims:
        found = await self.tokens.grant(secret)
        if found is None:
            raise InvalidToken("invalid or revoked bot token")
        bot_id, grant = found
        return AccessClaims(bot_id, grant.token_id, int(time.time()) + _TEN_YEARS, bot=grant)
