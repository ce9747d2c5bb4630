"""`gochat events export|tail|stats`, registered on the main parser by gochat/cli.py."""

from __future__ import annotations

import argparse
import asyncio
import os
import signal
import sys
from collections.abc import Callable, Coroutine
from contextlib import AbstractAsyncContextManager, AbstractContextManager, nullcontext
from pathlib import Path
from typing import Any

from rich.console import Console

from ..db import Database, UndefinedTable
from ..events import build_registry
from ..events.scan import LogScan
from ..events.sealing import configured_sealer
from ..projections.users import UserQueries
from ..settings import Settings
from .bots import register as register_bot_tools
from .export import export_log, open_output
from .filters import BadInput, add_filter_arguments, filter_from_args
from .formats import SUFFIXES, writer_for
from .keys import register as register_key_tools
from .progress import ExportProgress, Silent, TerminalProgress
from .projections import register as register_projection_tools
from .redact import Redactor
from .run import OpenDatabase, open_database, run_async
from .stats import stats_json, stats_table
from .tail import stop_on_signals, tail
from .users import register as register_user_tools

SIGPIPE_EXIT = 141  # what a shell reports for a filter whose reader went away (`... | head`)


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    events = sub.add_parser(
        "events",
        help="tools on the event log: export, tail, stats",
        description="Read the event log: export it, follow it, count it. See docs/operations.md.",
    )
    commands = events.add_subparsers(dest="events_command", metavar="COMMAND")
    commands.required = True

    exp = commands.add_parser(
        "export",
        help="write filtered events as JSON lines, CSV or Parquet",
        description="Write the events matching every filter, oldest first, as of the moment the export starts.",
    )
    add_filter_arguments(exp)
    exp.add_argument("--format", help="jsonl, csv or parquet (default: from --output's suffix, else jsonl)")
    exp.add_argument("--output", "-o", metavar="FILE", help="write FILE (complete or not at all) instead of stdout")
    exp.add_argument("--batch-size", type=int, default=10_000, metavar="N", help="events per query (default 10000)")
    exp.add_argument(
        "--raw",
        action="store_true",
        help="messages as first written (deleted and edited text included); by default each message as "
        "history holds it now: deleted ones blank with deleted=true, edited ones with their current text",
    )
    exp.set_defaults(func=cmd_export)

    tl = commands.add_parser(
        "tail", help="print the last events, and follow the log with -f", description="Print events as JSON lines."
    )
    add_filter_arguments(tl, bounds=False)
    tl.add_argument("-n", "--lines", type=int, default=10, metavar="N", help="print the last N events (default 10)")
    tl.add_argument("-f", "--follow", action="store_true", help="keep printing new events until Ctrl-C or SIGTERM")
    tl.add_argument("--interval", type=float, default=0.5, metavar="SECONDS", help="poll interval with -f (0.5)")
    tl.set_defaults(func=cmd_tail)

    st = commands.add_parser(
        "stats", help="count events per day and type", description="Count events per UTC day and type."
    )
    add_filter_arguments(st)
    st.add_argument("--format", help="table or json (default: table on a terminal, else json)")
    st.set_defaults(func=cmd_stats)
    register_projection_tools(sub)
    register_user_tools(sub)
    register_bot_tools(sub)
    register_key_tools(sub)


def cmd_export(args: argparse.Namespace, settings: Settings) -> int:
    try:
        flt = filter_from_args(args)
        fmt = args.format or SUFFIXES.get(Path(args.output or "").suffix, "jsonl")
        make_writer = writer_for(fmt)
        if args.batch_size < 1:
            raise BadInput(f"--batch-size: {args.batch_size} is not a positive number")
        if fmt == "parquet" and _to_stdout(args.output) and sys.stdout.isatty():
            raise BadInput("refusing to write Parquet to a terminal: use --output FILE or a pipe")
    except BadInput as exc:
        return _refuse("export", exc)

    async def main(open_database: OpenDatabase) -> int:
        async with open_database(settings) as db:
            sealer = configured_sealer(db, settings)
            with open_output(args.output) as out, _progress(args.output) as progress:
                await export_log(
                    db,
                    flt,
                    make_writer(out),
                    raw=args.raw,
                    batch_size=args.batch_size,
                    sealer=sealer,
                    progress=progress,
                )
        return 0

    return _run(main)


def cmd_tail(args: argparse.Namespace, settings: Settings) -> int:
    try:
        flt = filter_from_args(args)
        if args.lines < 0:
            raise BadInput(f"-n: {args.lines} is negative")
        if args.interval <= 0:
            raise BadInput(f"--interval: {args.interval} is not a positive number of seconds")
    except BadInput as exc:
        return _refuse("tail", exc)

    async def main(open_database: OpenDatabase) -> int:
        async with open_database(settings) as db:
            with stop_on_signals() as stop:
                scan = LogScan(db, build_registry(), sealer=configured_sealer(db, settings))
                redactor = Redactor(await UserQueries(db).erased_ids())
                await tail(
                    scan, flt, sys.stdout.buffer, n=args.lines, follow=args.follow, interval=args.interval, stop=stop,
                    redact=redactor,
                )  # fmt: skip
        return 0

    return _run(main)


def cmd_stats(args: argparse.Namespace, settings: Settings) -> int:
    try:
        flt = filter_from_args(args)
        fmt = args.format or ("table" if sys.stdout.isatty() else "json")
        if fmt not in ("table", "json"):
            raise BadInput(f"--format: {fmt!r} is not one of table, json")
    except BadInput as exc:
        return _refuse("stats", exc)

    async def main(open_database: OpenDatabase) -> int:
        async with open_database(settings) as db:
            counts = await LogScan(db, build_registry()).daily_counts(flt)
        if fmt == "table":
            Console().print(stats_table(counts))
        else:
            sys.stdout.buffer.write(stats_json(counts))
            sys.stdout.buffer.flush()
        return 0

    return _run(main)


def _run(main: Callable[[OpenDatabase], Coroutine[Any, Any, int]]) -> int:
    def opener(settings: Settings) -> AbstractAsyncContextManager[Database]:
        # The embedded database is this machine's own: bring its schema up to date, as `serve` does.
        # A configured one is only read.
        return open_database(settings, migrate=settings.embedded_database)

    async def cancelled_by_sigterm() -> int:
        # SIGTERM (a scheduler, `kill`) unwinds like Ctrl-C: a partial --output is removed.
        loop, task = asyncio.get_running_loop(), asyncio.current_task()
        assert task is not None
        loop.add_signal_handler(signal.SIGTERM, task.cancel)
        try:
            return await main(opener)
        finally:
            loop.remove_signal_handler(signal.SIGTERM)

    try:
        return run_async(cancelled_by_sigterm())
    except asyncio.CancelledError:
        return 128 + signal.SIGTERM
    except UndefinedTable:
        print("gochat events: this database has no event log yet (run `gochat migrate`)", file=sys.stderr)
        return 1
    except BrokenPipeError:
        # Quietly, like any Unix filter; and keep Python's exit-time flush of stdout from failing again.
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return SIGPIPE_EXIT


def _refuse(command: str, exc: BadInput) -> int:
    print(f"gochat events {command}: error: {exc}", file=sys.stderr)
    return 2


def _to_stdout(output: str | None) -> bool:
    return output in (None, "-")


def _progress(output: str | None) -> AbstractContextManager[ExportProgress]:
    """A bar on stderr when a person is watching it, and not when the events fill the same screen."""
    if sys.stderr.isatty() and not (_to_stdout(output) and sys.stdout.isatty()):
        return TerminalProgress()
    return nullcontext(Silent())
