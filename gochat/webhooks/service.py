"""Webhook use cases: a room's admins manage its outgoing webhooks (and read their deliveries and
dead letters) and its incoming ones; an incoming webhook's secret URL posts as its bot."""

from __future__ import annotations

import secrets
import uuid

from ..db import Database
from ..errors import NotFound, ValidationFailed
from ..netguard import Allowlist, Refused, check_target
from ..services.access import room_access
from ..services.bots import BotService
from ..services.messages import MessageService, Posted
from . import incoming, outbox


class WebhookService:
    def __init__(self, db: Database, allow: Allowlist, bots: BotService, messages: MessageService) -> None:
        self.db = db
        self.allow = allow
        self.bots = bots
        self.messages = messages

    async def _admin(self, actor: uuid.UUID, room_id: uuid.UUID) -> None:
        (await room_access(self.db, actor, room_id)).require_read().require_moderator()

    # --- outgoing ---------------------------------------------------------------------------------
    async def create(
        self, actor: uuid.UUID, room_id: uuid.UUID, url: str, event_types: list[str]
    ) -> tuple[outbox.Webhook, str]:
        """A webhook and its signing secret (shown once to the caller; kept to sign every POST)."""
        await self._admin(actor, room_id)
        try:
            await check_target(url, self.allow)
        except Refused as exc:
            raise ValidationFailed("webhook URL refused", details={"url": [str(exc)]}) from None
        secret = "whsec_" + secrets.token_urlsafe(32)
        async with self.db.transaction() as cur:
            hook = await outbox.create(cur, room_id, url, secret, sorted(set(event_types)), actor)
        return hook, secret

    async def list_outgoing(self, actor: uuid.UUID, room_id: uuid.UUID) -> list[outbox.Webhook]:
        await self._admin(actor, room_id)
        async with self.db.cursor() as cur:
            return await outbox.of_room(cur, room_id)

    async def delete(self, actor: uuid.UUID, room_id: uuid.UUID, webhook_id: uuid.UUID) -> None:
        await self._admin(actor, room_id)
        async with self.db.transaction() as cur:
            if not await outbox.delete(cur, room_id, webhook_id):
                raise NotFound("webhook not found", code="webhook_not_found")

    async def deliveries(
        self, actor: uuid.UUID, room_id: uuid.UUID, webhook_id: uuid.UUID, state: str | None, limit: int
    ) -> list[outbox.Delivery]:
        await self._admin(actor, room_id)
        async with self.db.cursor() as cur:
            return await outbox.deliveries(cur, room_id, webhook_id, state, limit)

    async def retry(self, actor: uuid.UUID, room_id: uuid.UUID, webhook_id: uuid.UUID, event_id: int) -> None:
        await self._admin(actor, room_id)
        async with self.db.transaction() as cur:
            if not await outbox.retry(cur, room_id, webhook_id, event_id):
                raise NotFound("no dead delivery of that event", code="delivery_not_found")

    # --- incoming ---------------------------------------------------------------------------------
    async def create_incoming(
        self, actor: uuid.UUID, room_id: uuid.UUID, name: str
    ) -> tuple[incoming.IncomingWebhook, str]:
        """A bot of the room posts what the secret URL receives; the secret is shown once."""
        bot = await self.bots.create(actor, room_id, f"hook-{uuid.uuid4().hex[:12]}", name)
        secret = secrets.token_urlsafe(32)
        async with self.db.transaction() as cur:
            return await incoming.create(cur, room_id, bot.user_id, name, secret, actor), secret

    async def list_incoming(self, actor: uuid.UUID, room_id: uuid.UUID) -> list[incoming.IncomingWebhook]:
        await self._admin(actor, room_id)
        async with self.db.cursor() as cur:
            return await incoming.of_room(cur, room_id)

    async def revoke_incoming(self, actor: uuid.UUID, room_id: uuid.UUID, hook_id: uuid.UUID) -> None:
        await self._admin(actor, room_id)
        async with self.db.transaction() as cur:
            if not await incoming.revoke(cur, room_id, hook_id):
                raise NotFound("webhook not found", code="webhook_not_found")

    async def post_incoming(self, secret: str, content: str, client_msg_id: str | None) -> Posted:
        """Unknown or revoked secrets are a 404, like a URL that does not exist."""
        async with self.db.cursor() as cur:
            hook = await incoming.by_secret(cur, secret)
        if hook is None:
            raise NotFound("not found")
        return await self.messages.post(hook.bot_id, hook.room_id, content, client_msg_id=client_msg_id)
