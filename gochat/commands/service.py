"""Slash commands: `/name args` sent by a member of a room.

Built-in ones act through the same services as the HTTP routes (so the same permissions hold);
a name a bot registered in the room is sent to the bot's URL (signed like a webhook, through the
SSRF guard), and the bot's answer is shown to the caller alone (`ephemeral`) or posted to the room
by the bot (`public`). An unknown name is a clear error for the caller alone.
"""

from __future__ import annotations

import re
import secrets
import time
import uuid
from dataclasses import dataclass
from typing import Any, Literal

import orjson

from ..auth.names import normalize_username
from ..db import Database
from ..errors import Conflict, Forbidden, GochatError, NotFound, ValidationFailed
from ..moderation.service import ModerationService
from ..netguard import GuardedClient, Refused, check_target, describe
from ..projections import bots as bots_q
from ..projections.history import Message
from ..projections.users import UserQueries
from ..services.access import Access, room_access
from ..services.messages import MessageService
from ..services.rooms import RoomService
from ..webhooks.signing import signature
from . import store

NAME = re.compile(r"^[a-z0-9][a-z0-9_-]{0,31}$")
DEFAULT_MUTE_MINUTES = 10
SHRUG = "¯\\_(ツ)_/¯"

# name -> (description, usage)
BUILTINS: dict[str, tuple[str, str]] = {
    "me": ("say something about yourself, in italics", "/me <action>"),
    "shrug": ("append a shrug to your message", "/shrug [message]"),
    "topic": ("set the room's topic (admins)", "/topic <text>"),
    "invite": ("invite someone to the room", "/invite @username"),
    "kick": ("remove a member from the room (admins)", "/kick @username"),
    "mute": ("mute a member for some minutes (admins)", "/mute @username [minutes]"),
    "help": ("list the commands of this room", "/help"),
}


class CommandFailed(GochatError):
    status = 502
    code = "command_failed"


@dataclass(frozen=True, slots=True)
class Outcome:
    command: str
    visibility: Literal["ephemeral", "public"]
    text: str | None = None
    message: Message | None = None  # what a public result posted to the room


class CommandService:
    def __init__(
        self,
        db: Database,
        users: UserQueries,
        messages: MessageService,
        rooms: RoomService,
        moderation: ModerationService,
        client: GuardedClient,
    ) -> None:
        self.db = db
        self.users = users
        self.messages = messages
        self.rooms = rooms
        self.moderation = moderation
        self.client = client

    # --- what is available -------------------------------------------------------------------------
    async def available(self, actor: uuid.UUID, room_id: uuid.UUID) -> list[dict[str, Any]]:
        """For autocompletion: the built-in commands, then the bots' of this room, by name."""
        (await room_access(self.db, actor, room_id)).require_read()
        found: list[dict[str, Any]] = [
            {"name": name, "description": d, "usage": u, "source": "builtin"} for name, (d, u) in BUILTINS.items()
        ]
        async with self.db.cursor() as cur:
            bots = await store.of_room(cur, room_id)
        found += [
            {"name": c.name, "description": c.description, "usage": c.usage, "source": "bot", "bot_id": c.bot_id}
            for c in bots
        ]
        return found

    async def register(
        self, bot_id: uuid.UUID, room_id: uuid.UUID, name: str, description: str, usage: str, url: str
    ) -> str:
        """A bot, member of the room, answers `/name` at `url`; returns the secret its calls are
        signed with (shown this once)."""
        async with self.db.cursor() as cur:
            bot = await bots_q.get_bot(cur, bot_id)
        if bot is None:
            raise Forbidden("only bots register commands", code="not_a_bot")
        (await room_access(self.db, bot_id, room_id)).require_post()
        if not NAME.match(name) or name in BUILTINS:
            raise ValidationFailed("invalid command name", details={"name": ["Use a-z, 0-9, - and _, not a built-in."]})
        try:
            await check_target(url, self.client.allow)
        except Refused as exc:
            raise ValidationFailed("command URL refused", details={"url": [str(exc)]}) from None
        secret = "whsec_" + secrets.token_urlsafe(32)
        async with self.db.transaction() as cur:
            current = await store.get(cur, room_id, name)
            if current is not None and current.bot_id != bot_id:
                raise Conflict("another bot answers that command here", code="command_taken")
            await store.register(cur, store.BotCommand(room_id, name, bot_id, description, usage, url, secret))
        return secret

    async def unregister(self, actor: uuid.UUID, room_id: uuid.UUID, name: str) -> None:
        """By the bot that registered it, or a room admin."""
        # Read first, under the actor's row security: asked inside the transaction, it would want
        # a second connection while holding one (a full pool would leave it waiting on itself).
        try:
            access: Access | None = await room_access(self.db, actor, room_id)
        except NotFound:
            access = None  # the bot that registered it may remove it all the same
        async with self.db.transaction() as cur:
            current = await store.get(cur, room_id, name)
            if current is None:
                raise NotFound("no such command here", code="unknown_command")
            if current.bot_id != actor:
                if access is None:
                    raise NotFound("room not found")
                access.require_read().require_moderator()
            await store.remove(cur, room_id, name)

    # --- running one ---------------------------------------------------------------------------------
    async def run(self, actor: uuid.UUID, room_id: uuid.UUID, text: str, client_msg_id: str | None) -> Outcome:
        head, _, args = text.strip().partition(" ")
        if not head.startswith("/") or len(head) < 2:
            raise ValidationFailed("a command starts with /", details={"content": ["Start with /name."]})
        name, args = head[1:].lower(), args.strip()
        (await room_access(self.db, actor, room_id)).require_post()
        builtin = getattr(self, f"_cmd_{name}", None) if name in BUILTINS else None
        if builtin is not None:
            outcome: Outcome = await builtin(actor, room_id, args, client_msg_id)
            return outcome
        async with self.db.cursor() as cur:
            command = await store.get(cur, room_id, name)
        if command is None:
            raise NotFound(f"unknown command /{name}: /help lists this room's commands", code="unknown_command")
        return await self._call_bot(command, actor, room_id, args, client_msg_id)

    async def _post(self, actor: uuid.UUID, room_id: uuid.UUID, content: str, cmid: str | None, name: str) -> Outcome:
        posted = await self.messages.post(actor, room_id, content, client_msg_id=cmid)
        return Outcome(name, "public", message=posted.message)

    async def _cmd_me(self, actor: uuid.UUID, room_id: uuid.UUID, args: str, cmid: str | None) -> Outcome:
        if not args:
            raise ValidationFailed("usage: /me <action>", details={"content": ["Say what you do."]})
        return await self._post(actor, room_id, f"_{args}_", cmid, "me")

    async def _cmd_shrug(self, actor: uuid.UUID, room_id: uuid.UUID, args: str, cmid: str | None) -> Outcome:
        return await self._post(actor, room_id, f"{args} {SHRUG}".strip(), cmid, "shrug")

    async def _cmd_topic(self, actor: uuid.UUID, room_id: uuid.UUID, args: str, cmid: str | None) -> Outcome:
        if len(args) > 500:
            raise ValidationFailed("topic too long", details={"content": ["At most 500 characters."]})
        await self.rooms.update(actor, room_id, {"topic": args})
        return Outcome("topic", "ephemeral", "Topic changed." if args else "Topic cleared.")

    async def _user(self, args: str, usage: str) -> tuple[uuid.UUID, str, str]:
        """`@name rest`: the user, their name, and the rest."""
        who, _, rest = args.partition(" ")
        name = who.removeprefix("@")
        if not name:
            raise ValidationFailed(f"usage: {usage}", details={"content": ["Name a user: @username."]})
        user = await self.users.by_name(normalize_username(name))
        if user is None or user.erased:
            raise NotFound(f"no user named @{name}", code="user_not_found")
        return user.id, user.username, rest.strip()

    async def _cmd_invite(self, actor: uuid.UUID, room_id: uuid.UUID, args: str, cmid: str | None) -> Outcome:
        target, name, _ = await self._user(args, BUILTINS["invite"][1])
        state = await self.rooms.add_member(actor, room_id, target)
        return Outcome("invite", "ephemeral", f"@{name} is {state}.")

    async def _cmd_kick(self, actor: uuid.UUID, room_id: uuid.UUID, args: str, cmid: str | None) -> Outcome:
        target, name, _ = await self._user(args, BUILTINS["kick"][1])
        await self.rooms.kick(actor, room_id, target)
        return Outcome("kick", "ephemeral", f"@{name} was removed from the room.")

    async def _cmd_mute(self, actor: uuid.UUID, room_id: uuid.UUID, args: str, cmid: str | None) -> Outcome:
        target, name, rest = await self._user(args, BUILTINS["mute"][1])
        if rest and not (rest.isdigit() and 1 <= int(rest) <= 525_600):
            raise ValidationFailed("usage: /mute @username [minutes]", details={"content": ["Minutes: 1-525600."]})
        minutes = int(rest) if rest else DEFAULT_MUTE_MINUTES
        await self.moderation.mute(actor, room_id, target, minutes)
        return Outcome("mute", "ephemeral", f"@{name} is muted for {minutes} minute(s).")

    async def _cmd_help(self, actor: uuid.UUID, room_id: uuid.UUID, args: str, cmid: str | None) -> Outcome:
        lines = [f"{c['usage'] or '/' + c['name']}: {c['description']}" for c in await self.available(actor, room_id)]
        return Outcome("help", "ephemeral", "\n".join(lines))

    async def _call_bot(
        self, command: store.BotCommand, actor: uuid.UUID, room_id: uuid.UUID, args: str, cmid: str | None
    ) -> Outcome:
        user = await self.users.get(actor)
        body = orjson.dumps({
            "command": f"/{command.name}", "text": args, "room_id": str(room_id), "user_id": str(actor),
            "username": user.username if user else None, "client_msg_id": cmid,
        })  # fmt: skip
        now = int(time.time())
        headers = {"Content-Type": "application/json", "X-Gochat-Timestamp": str(now),
                   "X-Gochat-Signature": signature(command.secret, now, body)}  # fmt: skip
        try:
            answer = await self.client.request("POST", command.url, data=body, headers=headers)
        except Exception as exc:
            raise CommandFailed(f"/{command.name} did not answer ({describe(exc)})") from None
        if not 200 <= answer.status < 300:
            raise CommandFailed(f"/{command.name} failed (HTTP {answer.status})")
        try:
            reply = orjson.loads(answer.body) if answer.body.strip() else {}
        except orjson.JSONDecodeError:
            raise CommandFailed(f"/{command.name} answered something that is not JSON") from None
        text = reply.get("text", "") if isinstance(reply, dict) else None
        visibility = reply.get("visibility", "ephemeral") if isinstance(reply, dict) else None
        if not isinstance(text, str) or visibility not in ("ephemeral", "public"):
            raise CommandFailed(f"/{command.name} answered without a usable text and visibility")
        if not text.strip():
            return Outcome(command.name, "ephemeral", None)  # nothing to say
        if visibility == "public":
            posted = await self.messages.post(command.bot_id, room_id, text, client_msg_id=cmid)
            return Outcome(command.name, "public", message=posted.message)
        return Outcome(command.name, "ephemeral", text)
