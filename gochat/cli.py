"""The `gochat` command: serve, migrate, and the operator's tools on the log."""

from __future__ import annotations

import argparse
import asyncio
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

from . import __version__, migrations, schema
from .cli_examples import add_examples
from .errors import GochatError
from .log import configure_logging, get_logger
from .runtime import collect_young_less_often, freeze_startup_heap
from .settings import Settings, SettingsError
from .tools.cli import register as register_event_tools
from .tools.run import open_database, open_server
from .tools.run import run_async as run_async  # re-exported: scripts import it from here
from .workers import Supervisor, raise_open_files_limit

Command = Callable[[argparse.Namespace, Settings], int]


# --- serve ---------------------------------------------------------------------------------------
def cmd_serve(args: argparse.Namespace, settings: Settings) -> int:
    from aiohttp import web

    from .app import create_app

    overrides: dict[str, Any] = {}
    if args.host:
        overrides["host"] = args.host
    if args.port is not None:
        overrides["port"] = args.port
    settings = settings.with_overrides(**overrides)
    log = get_logger("gochat")
    open_files = raise_open_files_limit()
    if args.workers > 1:
        if settings.redis_url is None:
            print("gochat: --workers N > 1 needs REDIS_URL: only Redis relays between processes", file=sys.stderr)
            return 2
        log.info("supervising", version=__version__, workers=args.workers, port=settings.port, open_files=open_files)
        worker_argv = ["serve", "--reuse-port", "--host", settings.host, "--port", str(settings.port)]
        return Supervisor(settings, args.workers, argv=worker_argv).run()
    log.info(
        "starting",
        version=__version__,
        host=settings.host,
        port=settings.port,
        database="embedded" if settings.embedded_database else "external",
        broker="redis" if settings.redis_url else "memory",
        tls=settings.tls_cert_file is not None,
        node=settings.node_id,
        open_files=open_files,
    )
    loop = None
    try:
        import uvloop

        loop = uvloop.new_event_loop()
    except ImportError:  # pragma: no cover
        pass
    from .api.edge import tls_context

    ssl_context = tls_context(settings)
    app = create_app(settings)
    app.on_startup.append(_freeze_startup_heap)  # after every cleanup_ctx resource is up
    web.run_app(
        app,
        host=settings.host,
        port=settings.port,
        shutdown_timeout=settings.shutdown_timeout,
        access_log=None,
        print=None,
        loop=loop,
        reuse_port=args.reuse_port or None,
        ssl_context=ssl_context,
    )
    log.info("stopped")
    return 0


async def _freeze_startup_heap(_: Any) -> None:
    freeze_startup_heap()
    collect_young_less_often()


# --- migrate -------------------------------------------------------------------------------------
def cmd_migrate(args: argparse.Namespace, settings: Settings) -> int:
    async def main() -> int:
        async with open_database(settings) as db:
            if args.status:
                pending = await migrations.pending(db)
                for m in migrations.load_migrations():
                    print(f"{'pending' if m in pending else 'applied'}  {m.name}")
                return 1 if pending else 0
            applied = await migrations.migrate(db)
            print("\n".join(f"applied {m.name}" for m in applied) or "up to date")
            return 0

    return run_async(main())


# --- schema --------------------------------------------------------------------------------------
def cmd_schema_dump(args: argparse.Namespace, settings: Settings) -> int:
    async def main() -> int:
        async with open_server(settings) as dsn:
            text = await (schema.dump_fresh(dsn) if args.fresh else schema.dump_database(dsn))
        if args.output in (None, "-"):
            sys.stdout.write(text)
        else:
            await asyncio.to_thread(Path(args.output).write_text, text)
        return 0

    return run_async(main())


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="gochat",
        description="Event-sourced real-time chat server. Configuration comes from the environment (see README).",
    )
    parser.add_argument("--version", action="version", version=f"gochat {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    sub.required = True

    serve = sub.add_parser(
        "serve", help="run the HTTP/WebSocket server", description="Run the HTTP and WebSocket server."
    )
    serve.add_argument("--host", help="address to bind (default: HOST or 0.0.0.0)")
    serve.add_argument("--port", type=int, help="port to bind (default: PORT or 8080)")
    serve.add_argument(
        "--workers",
        type=int,
        default=1,
        metavar="N",
        help="run N server processes sharing the port (SO_REUSEPORT), relaying through Redis (REDIS_URL)",
    )
    # A worker of `--workers`: bind with SO_REUSEPORT beside its siblings.
    serve.add_argument("--reuse-port", action="store_true", help=argparse.SUPPRESS)
    serve.set_defaults(func=cmd_serve)

    migrate = sub.add_parser("migrate", help="apply pending SQL migrations", description="Apply pending migrations.")
    migrate.add_argument("--status", action="store_true", help="list migrations and exit 1 if any is pending")
    migrate.set_defaults(func=cmd_migrate)

    schema_cmd = sub.add_parser("schema", help="show the schema", description="Show the database schema.")
    schema_sub = schema_cmd.add_subparsers(dest="schema_command", metavar="ACTION", required=True)
    dump = schema_sub.add_parser(
        "dump",
        help="print the schema as sql/schema.sql shows it",
        description="Print the schema of the configured database, or with --fresh of a scratch database"
        " migrated by this gochat (what sql/schema.sql holds), in a fixed order and format.",
    )
    dump.add_argument("--fresh", action="store_true", help="dump a scratch database migrated for the purpose")
    dump.add_argument("--output", "-o", metavar="FILE", help="write to FILE instead of stdout")
    dump.set_defaults(func=cmd_schema_dump)
    register_event_tools(sub)
    add_examples(parser)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        settings = Settings.from_env()
    except SettingsError as exc:
        print(f"gochat: configuration error: {exc}", file=sys.stderr)
        return 2
    configure_logging(settings.log_level, settings.log_format)
    try:
        return int(args.func(args, settings))
    except SettingsError as exc:
        print(f"gochat: configuration error: {exc}", file=sys.stderr)
        return 2
    except GochatError as exc:
        print(f"gochat: {exc.message}", file=sys.stderr)
        return 1
    except migrations.MigrationError as exc:
        print(f"gochat: migration error: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        return 130


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
