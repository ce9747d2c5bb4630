"""`gochat keys status|rotate|rewrap|seal-log`: the users' data keys (docs/operations.md, "Keys")."""

from __future__ import annotations

import argparse
import sys

from ..events.keystore import LocalKeks, TableKeyStore
from ..events.reseal import reseal
from ..events.sealing import configured_sealer
from ..settings import Settings
from . import run
from .users import user_id_argument


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = sub.add_parser(
        "keys",
        help="the users' data keys (crypto-shredding): status, rotate, rewrap, seal-log",
        description="Each user's personal content in the log is sealed under a data key of theirs, destroyed "
        "when they are erased. See docs/operations.md, 'Keys'.",
    )
    commands = parser.add_subparsers(dest="keys_command", metavar="COMMAND")
    commands.required = True
    st = commands.add_parser("status", help="count keys: live, destroyed, and by key-encryption key")
    st.set_defaults(func=cmd_status)
    rot = commands.add_parser(
        "rotate",
        help="give users a new data key for what they write from now on",
        description="A new data key version per user; older versions keep opening what they sealed, and erasure "
        "destroys every version.",
    )
    who = rot.add_mutually_exclusive_group(required=True)
    who.add_argument("--id", dest="user_id", type=user_id_argument, metavar="ID", help="one user")
    who.add_argument("--all", action="store_true", help="every user with a live key")
    rot.set_defaults(func=cmd_rotate)
    rw = commands.add_parser(
        "rewrap",
        help="wrap every data key with the first of GOCHAT_KEY_ENCRYPTION_KEYS",
        description="After putting a new key-encryption key first in GOCHAT_KEY_ENCRYPTION_KEYS (the old ones after "
        "it): re-wrap every live data key with it. The old ones can then be removed.",
    )
    rw.set_defaults(func=cmd_rewrap)
    sl = commands.add_parser(
        "seal-log",
        help="seal the personal fields of events written before sealing existed (once, after upgrading)",
        description="Rewrites, in place, the data of every event whose personal fields are stored in clear (written "
        "before migration 190): sealed under its owner's key, or blanked if the owner was erased. Resumable; "
        "runs alongside the server.",
    )
    sl.add_argument("--page", type=int, default=2000, metavar="N", help="events per transaction (2000)")
    sl.set_defaults(func=cmd_seal_log)


def cmd_status(args: argparse.Namespace, settings: Settings) -> int:
    async def main(open_database: run.OpenDatabase) -> int:
        async with open_database(settings) as db:
            counts = await TableKeyStore(db).counts()
        current = LocalKeks(settings.key_encryption_keys).current
        print(
            f"users with live keys: {counts.live_users} ({counts.live_keys} key versions);"
            f" users with destroyed keys: {counts.destroyed_users}"
        )
        for kek, n in counts.wrapped:
            mark = " (current)" if kek == current else ""
            print(f"  wrapped by {kek}: {n}{mark}")
        return 0

    return run.run(main)


def cmd_rotate(args: argparse.Namespace, settings: Settings) -> int:
    async def main(open_database: run.OpenDatabase) -> int:
        async with open_database(settings) as db:
            made = await configured_sealer(db, settings).keys.rotate(None if args.all else [args.user_id])
        print(f"{made} new data key(s); servers seal with them once they next read the user's key (on restart)")
        return 0

    return run.run(main)


def cmd_rewrap(args: argparse.Namespace, settings: Settings) -> int:
    if not settings.key_encryption_keys:
        print("gochat keys rewrap: error: GOCHAT_KEY_ENCRYPTION_KEYS is not set", file=sys.stderr)
        return 2

    async def main(open_database: run.OpenDatabase) -> int:
        async with open_database(settings) as db:
            try:
                changed = await configured_sealer(db, settings).keys.rewrap()
            except KeyError as exc:
                print(f"gochat keys rewrap: {exc.args[0]}", file=sys.stderr)
                return 1
        print(f"{changed} data key(s) re-wrapped")
        return 0

    return run.run(main)


def cmd_seal_log(args: argparse.Namespace, settings: Settings) -> int:
    if args.page < 1:
        print(f"gochat keys seal-log: error: --page: {args.page} is not a positive number", file=sys.stderr)
        return 2

    async def main(open_database: run.OpenDatabase) -> int:
        async with open_database(settings) as db:
            rewritten = await reseal(db, configured_sealer(db, settings), page=args.page)
        print(f"{rewritten} event(s) sealed in place")
        return 0

    return run.run(main)
