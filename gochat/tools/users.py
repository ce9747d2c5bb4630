"""`gochat users erase --id ID | --username NAME`, registered on the main parser by tools/cli.py."""

from __future__ import annotations

import argparse
import asyncio
import sys
import uuid

from ..auth.bot_tokens import BotTokenStore
from ..auth.names import normalize_username
from ..auth.store import SessionStore
from ..e2e.store import KeyStore as DeviceKeys
from ..errors import NotFound
from ..events import EventStore, build_registry
from ..events.sealing import configured_sealer
from ..moderation.admin import AdminService
from ..projections.catalog import all_projections
from ..projections.engine import InlineProjections, ProjectionRunner
from ..projections.users import User, UserQueries
from ..services.erasure import ErasureService
from ..settings import Settings
from . import run


def user_id_argument(text: str) -> uuid.UUID:
    """argparse's `type` for a user's id (`users erase`, `keys rotate`)."""
    try:
        return uuid.UUID(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a user id (a UUID)") from None


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = sub.add_parser("users", help="user administration: erase, admin", description="User administration.")
    commands = parser.add_subparsers(dest="users_command", metavar="COMMAND")
    commands.required = True
    erase = commands.add_parser(
        "erase",
        help="erase a user: revoke their logins, destroy their data keys, remove what they wrote everywhere",
        description="Revoke every login of the user, delete their end-to-end devices, destroy their data keys (what "
        "the log holds of them then reads blank), append user.erased, and apply it to every projection: their "
        "messages become tombstones, their name is replaced. Irreversible: the user found is shown before "
        "anything happens. See docs/operations.md, 'Erasure' and 'Keys'.",
    )
    # Two flags, never one argument read either way: 32 hex digits are a valid username and a valid id.
    who = erase.add_mutually_exclusive_group(required=True)
    who.add_argument("--id", dest="user_id", type=user_id_argument, metavar="ID", help="the user's id")
    who.add_argument("--username", metavar="NAME", help="the user's username (case and width do not matter)")
    erase.add_argument("--yes", action="store_true", help="do not ask for confirmation")
    erase.set_defaults(func=cmd_erase)
    admin = commands.add_parser(
        "admin",
        help="make a user a server administrator (or, with --revoke, no longer one)",
        description="Server administrators list and search users, deactivate and reactivate accounts and "
        "read any room's moderation history (docs/api.md, 'Server administration').",
    )
    admin.add_argument("--username", required=True, help="the user's name")
    admin.add_argument("--revoke", action="store_true", help="take the role away")
    admin.set_defaults(func=cmd_admin)


def cmd_admin(args: argparse.Namespace, settings: Settings) -> int:
    async def main(open_database: run.OpenDatabase) -> int:
        async with open_database(settings) as db:
            user = await UserQueries(db).by_name(normalize_username(args.username))
            if user is None or user.erased:
                print(f"gochat users admin: no user named {args.username!r}", file=sys.stderr)
                return 1
            store = EventStore(db, build_registry(), node_id=settings.node_id, sealer=configured_sealer(db, settings))
            store.inline.append(InlineProjections(store, all_projections(settings.search_language)))
            sessions = SessionStore(db, settings.refresh_token_ttl)
            service = AdminService(db, store, UserQueries(db), sessions, (), BotTokenStore(db))
            store.start()
            try:
                changed = await service.set_admin(user.id, not args.revoke)
            finally:
                await store.close()
        role = "no longer a server administrator" if args.revoke else "a server administrator"
        print(f"{user.username} ({user.id}) is {role}{'' if changed else ' (unchanged)'}")
        return 0

    return run.run(main)


def describe(user: User) -> str:
    erased = " (already erased)" if user.erased else ""
    return (
        f"user {user.id}: username {user.username!r}, display name {user.display_name!r}, "
        f"signed up {user.created_at:%Y-%m-%d %H:%M:%S} UTC{erased}"
    )


async def _confirmed(user: User) -> bool:
    answer = await asyncio.to_thread(input, f"Erase {user.username!r} ({user.id}) for good? Type 'erase' to confirm: ")
    return answer.strip() == "erase"


def cmd_erase(args: argparse.Namespace, settings: Settings) -> int:
    if not args.yes and not sys.stdin.isatty():
        print("gochat users erase: error: erasure is irreversible: confirm with --yes", file=sys.stderr)
        return 2

    async def main(open_database: run.OpenDatabase) -> int:
        async with open_database(settings) as db:
            projections = all_projections(settings.search_language)
            store = EventStore(db, build_registry(), node_id=settings.node_id, sealer=configured_sealer(db, settings))
            store.inline.append(InlineProjections(store, projections))
            service = ErasureService(
                store, UserQueries(db), SessionStore(db, settings.refresh_token_ttl), DeviceKeys(db)
            )
            try:
                user = await service.find(user_id=args.user_id, username=args.username)
            except NotFound as exc:
                print(f"gochat users erase: {exc.message}", file=sys.stderr)
                return 1
            print(describe(user), flush=True)
            if not args.yes and not await _confirmed(user):
                print("nothing erased")
                return 1
            store.start()
            try:
                erased = await service.erase(user)
            finally:
                await store.close()
            # The followed projections (search) too, now rather than when a server next catches up.
            runner = ProjectionRunner(db, store, projections)
            for projection in projections:
                await runner.catch_up(projection)
        sessions = f"{erased.sessions_revoked} login(s) revoked"
        if erased.event_id is None:
            print(f"user {erased.user_id} was already erased; {sessions}")
        else:
            print(f"erased user {erased.user_id} (event {erased.event_id}); {sessions}")
        return 0

    return run.run(main)
