"""`gochat projections status|rebuild`, registered on the main parser by tools/cli.py."""

from __future__ import annotations

import argparse
import sys
from contextlib import AbstractContextManager, nullcontext

import orjson
from rich.console import Console
from rich.table import Table

from ..events import EventStore, build_registry
from ..events.sealing import configured_sealer
from ..projections.catalog import all_projections
from ..projections.rebuild import Rebuild, RebuildError, discard, target
from ..projections.status import Status, status
from ..settings import Settings
from . import run
from .progress import ExportProgress, Silent, TerminalProgress
from .tail import stop_on_signals

INTERRUPTED_EXIT = 130


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = sub.add_parser(
        "projections",
        help="projection checkpoints, lag and rows; rebuild from the log",
        description="Inspect and rebuild the read models built from the event log. See docs/operations.md.",
    )
    commands = parser.add_subparsers(dest="projections_command", metavar="COMMAND")
    commands.required = True

    st = commands.add_parser(
        "status",
        help="every projection's checkpoint, lag behind the head, and rows",
        description="Every projection's checkpoint, lag behind the head and row counts, and rebuilds in progress.",
    )
    st.add_argument("--format", help="table or json (default: table on a terminal, else json)")
    st.set_defaults(func=cmd_status)

    rb = commands.add_parser(
        "rebuild",
        help="rebuild a projection (or all) from position 0 and swap it in",
        description="Rebuild from position 0 into shadow tables while the live ones keep serving, catch up to "
        "the head, then swap atomically. Ctrl-C or SIGTERM stops between pages; running it again resumes.",
    )
    rb.add_argument(
        "name", metavar="NAME|all", help="a projection name (see `status`) or 'all' (one pass for every one)"
    )
    rb.add_argument("--page", type=int, default=5000, metavar="N", help="events applied per transaction (5000)")
    rb.add_argument("--fresh", action="store_true", help="start from 0 even if an interrupted rebuild could resume")
    rb.add_argument("--discard", action="store_true", help="only drop an interrupted rebuild's shadow tables")
    rb.add_argument("--keep-old", action="store_true", help="keep the replaced tables in schema gochat_old_NAME")
    rb.add_argument(
        "--lock-timeout", type=float, default=5.0, metavar="SECONDS",
        help="how long the swap waits for its locks before it catches up and tries again (5)",
    )  # fmt: skip
    rb.set_defaults(func=cmd_rebuild)


def cmd_status(args: argparse.Namespace, settings: Settings) -> int:
    fmt = args.format or ("table" if sys.stdout.isatty() else "json")
    if fmt not in ("table", "json"):
        print(f"gochat projections status: error: --format: {fmt!r} is not one of table, json", file=sys.stderr)
        return 2

    async def main(open_database: run.OpenDatabase) -> int:
        async with open_database(settings) as db:
            found = await status(db, all_projections(settings.search_language))
        if fmt == "table":
            Console().print(status_table(found))
        else:
            sys.stdout.buffer.write(status_json(found))
        return 0

    return run.run(main)


def cmd_rebuild(args: argparse.Namespace, settings: Settings) -> int:
    try:
        found = all_projections(
            settings.search_language, link_previews=settings.previews, preview_max_urls=settings.preview_max_urls
        )
        what = target(found, args.name)
    except RebuildError as exc:
        print(f"gochat projections rebuild: error: {exc}", file=sys.stderr)
        return 2
    if args.page < 1 or args.lock_timeout <= 0:
        print("gochat projections rebuild: error: --page and --lock-timeout must be positive", file=sys.stderr)
        return 2

    async def main(open_database: run.OpenDatabase) -> int:
        async with open_database(settings) as db:
            if args.discard:
                found = await discard(db, what)
                print(f"discarded the interrupted rebuild of {what.key}" if found else f"no rebuild of {what.key}")
                return 0
            with stop_on_signals() as stop, _progress() as progress:
                store = EventStore(db, build_registry(), sealer=configured_sealer(db, settings))
                rebuild = Rebuild(
                    db, store, what, page=args.page, progress=progress,
                    lock_timeout=args.lock_timeout, keep_old=args.keep_old,
                )  # fmt: skip
                try:
                    outcome = await rebuild.run(stop, fresh=args.fresh)
                except RebuildError as exc:
                    print(f"gochat projections rebuild: {exc}", file=sys.stderr)
                    return 1
        resumed = f", resumed from {outcome.started_at:,}" if outcome.started_at else ""
        rate = outcome.events / outcome.seconds if outcome.seconds > 0 else 0.0
        done = f"{outcome.events:,} events in {outcome.seconds:.1f} s ({rate:,.0f} events/s{resumed})"
        if not outcome.swapped:
            print(f"stopped {what.key} at position {outcome.position:,} after {done}; run again to resume")
            return INTERRUPTED_EXIT
        print(f"rebuilt {what.key} up to position {outcome.position:,}: {done}")
        return 0

    return run.run(main)


def status_table(found: Status) -> Table:
    table = Table(title=f"Projections (log head {found.head:,})")
    for column in ("Projection", "Mode", "Checkpoint", "Lag", "Table", "Rows", "Updated"):
        table.add_column(column, justify="right" if column in ("Checkpoint", "Lag", "Rows") else "left")
    for p in found.projections:
        for i, (name, rows) in enumerate(p.rows.items()):
            first = i == 0
            updated = p.updated_at.isoformat(timespec="seconds") if p.updated_at and first else ""
            table.add_row(
                p.name if first else "", ("inline" if p.inline else "follower") if first else "",
                f"{p.position:,}" if first else "", f"{p.lag:,}" if first else "", name, f"{rows:,}", updated,
                end_section=i == len(p.rows) - 1,
            )  # fmt: skip
    for key, position in found.rebuilds.items():
        table.add_row(f"rebuild {key}", "shadow", f"{position:,}", f"{found.head - position:,}", "", "", "")
    return table


def status_json(found: Status) -> bytes:
    body = {
        "head": found.head,
        "projections": [
            {
                "name": p.name,
                "inline": p.inline,
                "position": p.position,
                "lag": p.lag,
                "updated_at": p.updated_at,
                "rows": p.rows,
            }
            for p in found.projections
        ],
        "rebuilds": [{"name": k, "position": v, "lag": found.head - v} for k, v in found.rebuilds.items()],
    }
    return orjson.dumps(body, option=orjson.OPT_INDENT_2 | orjson.OPT_APPEND_NEWLINE)


def _progress() -> AbstractContextManager[ExportProgress]:
    """A bar on stderr when someone watches it; nothing in a pipe, a cron job or CI."""
    if sys.stderr.isatty():
        return TerminalProgress(label="rebuilding")
    return nullcontext(Silent())
