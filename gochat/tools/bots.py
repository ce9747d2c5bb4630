"""`gochat bots create|token|list|revoke`: server-wide bots made and managed by the operator, with
the powers a server administrator has over HTTP (docs/api.md, "Bots"). Registered on the main
parser by tools/cli.py.

Sockets: a token revoked here stops every HTTP request at once; a socket it opened on a running
server closes at that node's next sweep of revoked logins (GOCHAT_REVOCATION_SWEEP_INTERVAL, live/
revocation.py), since this process cannot reach the server's sockets.
"""

from __future__ import annotations

import argparse
import sys
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from typing import Any

import orjson
from marshmallow import ValidationError

from ..auth.bot_tokens import SCOPES, BotTokenStore
from ..auth.names import Username
from ..errors import GochatError
from ..events import EventStore, build_registry
from ..events.fields import Text
from ..events.sealing import configured_sealer
from ..projections.catalog import all_projections
from ..projections.engine import InlineProjections
from ..services.bots import BotService
from ..settings import Settings
from . import run

PAGE = 200


def _uuid(text: str) -> uuid.UUID:
    try:
        return uuid.UUID(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not an id (a UUID)") from None


def _field(field: Any, what: str) -> Callable[[str], str]:
    def parse(text: str) -> str:
        try:
            value: str = field.deserialize(text)
        except ValidationError as exc:
            raise argparse.ArgumentTypeError(f"invalid {what}: {' '.join(map(str, exc.messages))}") from None
        return value

    return parse


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = sub.add_parser(
        "bots",
        help="server-wide bots: create, token, list, revoke",
        description="Bots of the whole server, as a server administrator makes them over HTTP (docs/api.md, 'Bots').",
    )
    commands = parser.add_subparsers(dest="bots_command", metavar="COMMAND")
    commands.required = True
    create = commands.add_parser(
        "create",
        help="make a server-wide bot (a user without a password, in no room)",
        description="Make a server-wide bot. It joins public rooms, and accepts invitations to private ones, "
        "itself, through its token. Issue one with `gochat bots token`.",
    )
    create.add_argument("--username", required=True, type=_field(Username(), "username"), help="the bot's name")
    create.add_argument(
        "--display-name", type=_field(Text(min_len=1, max_len=64, no_bidi=True), "display name"), help="shown name"
    )
    create.set_defaults(func=cmd_create)

    token = commands.add_parser(
        "token",
        help="issue an API token for a bot (printed once)",
        description="Issue a bot API token. It is printed this once: only its SHA-256 is stored.",
    )
    token.add_argument("--username", required=True, help="the bot's name")
    token.add_argument("--name", default="cli", help="what the token is for (default: cli)")
    token.add_argument(
        "--scope", dest="scopes", action="append", choices=SCOPES, required=True, help="read or write (repeatable)"
    )
    token.add_argument(
        "--room", dest="rooms", action="append", type=_uuid, metavar="ROOM_ID",
        help="limit the token to this room (repeatable; default: every room the bot is a member of)",
    )  # fmt: skip
    token.set_defaults(func=cmd_token)

    listing = commands.add_parser("list", help="list every bot, room and server-wide", description="List every bot.")
    listing.add_argument("--format", choices=("table", "json"), default="table", help="table (default) or json lines")
    listing.set_defaults(func=cmd_list)

    revoke = commands.add_parser(
        "revoke",
        help="revoke a bot's tokens (every one, or one with --token)",
        description="Revoke a bot's API tokens: every live one, or the one given. Requests with them stop at once.",
    )
    revoke.add_argument("--username", required=True, help="the bot's name")
    revoke.add_argument("--token", dest="token_id", type=_uuid, metavar="TOKEN_ID", help="only this token")
    revoke.set_defaults(func=cmd_revoke)


Main = Callable[[BotService], Awaitable[int]]


@asynccontextmanager
async def _service(open_database: run.OpenDatabase, settings: Settings) -> AsyncIterator[BotService]:
    """The bot service on the configured database, its appends applied to the inline projections."""
    async with open_database(settings) as db:
        # the configured key-encryption keys: a bot's registration is sealed under a key of its own
        store = EventStore(db, build_registry(), node_id=settings.node_id, sealer=configured_sealer(db, settings))
        store.inline.append(InlineProjections(store, all_projections(settings.search_language)))
        store.start()
        try:
            yield BotService(db, store, BotTokenStore(db), ())
        finally:
            await store.close()


def _run(command: str, settings: Settings, main: Main) -> int:
    async def go(open_database: run.OpenDatabase) -> int:
        async with _service(open_database, settings) as bots:
            try:
                return await main(bots)
            except GochatError as exc:
                print(f"gochat bots {command}: {exc.message}", file=sys.stderr)
                return 1

    return run.run(go)


def cmd_create(args: argparse.Namespace, settings: Settings) -> int:
    async def main(bots: BotService) -> int:
        bot = await bots.create_server_bot(None, args.username, args.display_name)
        print(f"made server-wide bot {bot.username} ({bot.user_id}); issue a token with: "
              f"gochat bots token --username {bot.username} --scope read --scope write")  # fmt: skip
        return 0

    return _run("create", settings, main)


def cmd_token(args: argparse.Namespace, settings: Settings) -> int:
    async def main(bots: BotService) -> int:
        bot = await bots.find(None, username=args.username)
        secret, info = await bots.issue_token(None, bot.user_id, args.name, args.scopes, args.rooms)
        rooms = "every room it is a member of" if info.rooms is None else ", ".join(map(str, info.rooms))
        print(f"token {info.id} for {bot.username}: scopes {', '.join(info.scopes)}; rooms: {rooms}", file=sys.stderr)
        print(secret)  # alone on stdout, for `TOKEN=$(gochat bots token ...)`; shown this once
        return 0

    return _run("token", settings, main)


def cmd_list(args: argparse.Namespace, settings: Settings) -> int:
    async def main(bots: BotService) -> int:
        rows: list[dict[str, Any]] = []
        after: str | None = None
        while True:
            page = await bots.every(None, after, PAGE)
            for bot, _ in page:
                live = [t for t in await bots.tokens.of_bot(bot.user_id) if t.revoked_at is None]
                rows.append({**bot.public(), "live_tokens": len(live)})
            if len(page) < PAGE:
                break
            after = page[-1][1]
        if args.format == "json":
            for r in rows:  # JSON lines, as the log tools write
                sys.stdout.write(orjson.dumps(r, option=orjson.OPT_APPEND_NEWLINE).decode())
            return 0
        print(f"{'USERNAME':<32} {'ID':<36} {'ROOM':<36} {'TOKENS':>6}")
        for r in rows:
            print(f"{r['username']:<32} {r['id']!s:<36} {r['room_id'] or 'server-wide'!s:<36} {r['live_tokens']:>6}")
        return 0

    return _run("list", settings, main)


def cmd_revoke(args: argparse.Namespace, settings: Settings) -> int:
    async def main(bots: BotService) -> int:
        bot = await bots.find(None, username=args.username)
        if args.token_id is not None:
            await bots.revoke_token(None, bot.user_id, args.token_id)
            revoked = [args.token_id]
        else:
            revoked = await bots.revoke_all(None, bot.user_id)
        print(f"revoked {len(revoked)} token(s) of {bot.username}" + "".join(f"\n  {t}" for t in revoked))
        return 0

    return _run("revoke", settings, main)
