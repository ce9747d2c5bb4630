"""`gochat users erase USER`, registered on the main parser by tools/cli.py."""

from __future__ import annotations

import argparse
import sys

from ..auth.bot_tokens import BotTokenStore
from ..auth.names import normalize_username
from ..auth.store import SessionStore
from ..errors import NotFound
from ..events import EventStore, build_registry
from ..moderation.admin import AdminService
from ..projections.catalog import all_projections
from ..projections.engine import InlineProjections, ProjectionRunner
from ..projections.users import UserQueries
from ..services.erasure import ErasureService
from ..settings import Settings
from . import run


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = sub.add_parser("users", help="user administration: erase, admin", description="User administration.")
    commands = parser.add_subparsers(dest="users_command", metavar="COMMAND")
    commands.required = True
    erase = commands.add_parser(
        "erase",
        help="erase a user: revoke their logins, remove what they wrote from every projection",
        description="Revoke every login of USER, append user.erased, and apply it to every projection: their "
        "messages become tombstones, their name is replaced. Irreversible. See docs/operations.md, 'Erasure'.",
    )
    erase.add_argument("user", metavar="USER", help="the user's id or username")
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
            store = EventStore(db, build_registry(), node_id=settings.node_id)
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


def cmd_erase(args: argparse.Namespace, settings: Settings) -> int:
    if not args.yes:
        if not sys.stdin.isatty():
            print("gochat users erase: error: erasure is irreversible: confirm with --yes", file=sys.stderr)
            return 2
        if input(f"Erase {args.user} for good? Type 'erase' to confirm: ").strip() != "erase":
            print("nothing erased")
            return 1

    async def main(open_database: run.OpenDatabase) -> int:
        async with open_database(settings) as db:
            projections = all_projections(settings.search_language)
            store = EventStore(db, build_registry(), node_id=settings.node_id)
            store.inline.append(InlineProjections(store, projections))
            service = ErasureService(store, UserQueries(db), SessionStore(db, settings.refresh_token_ttl))
            store.start()
            try:
                erased = await service.erase(args.user)
            except NotFound as exc:
                print(f"gochat users erase: {exc.message}", file=sys.stderr)
                return 1
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
