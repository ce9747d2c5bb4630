"""Examples shown at the end of `gochat --help` and of each subcommand's help.

A new subcommand adds its entry here (keyed by its words after `gochat`); tests/test_cli_help.py
fails for a command without one.
"""

from __future__ import annotations

import argparse

EXAMPLES: dict[tuple[str, ...], str] = {
    (): """\
  gochat serve                                  # embedded PostgreSQL in ./var, on :8080
  DATABASE_URL=postgresql://... JWT_SECRET=... gochat serve
  gochat migrate --status                       # exit 1 while migrations are pending
  gochat events tail -f --type 'message.*'      # follow the log
  gochat projections status

Configuration comes from the environment: docs/configuration.md. Deploying: docs/deploy.md.""",
    ("serve",): """\
  gochat serve                                  # development: embedded PostgreSQL, generated secret
  gochat serve --port 9000 --host 127.0.0.1
  REDIS_URL=redis://localhost:6379/0 gochat serve --workers 4    # one port, four processes
  TLS_CERT_FILE=cert.pem TLS_KEY_FILE=key.pem gochat serve       # https:// and wss://
  OTEL_EXPORTER_OTLP_ENDPOINT=http://collector:4318 gochat serve # traces and metrics over OTLP""",
    ("migrate",): """\
  gochat migrate                                # apply what is pending, print what was applied
  gochat migrate --status                       # list; exit 1 if any is pending (CI, release checks)""",
    ("schema",): """\
  gochat schema dump --fresh -o sql/schema.sql""",
    ("schema", "dump"): """\
  gochat schema dump                            # the configured database's schema
  gochat schema dump --fresh -o sql/schema.sql  # what this gochat's migrations make""",
    ("events",): """\
  gochat events tail -n 20
  gochat events export --since 2025-01-01T00:00:00Z -o january.parquet
  gochat events stats --type 'message.*'""",
    ("events", "export"): """\
  gochat events export > log.jsonl
  gochat events export --room 6f1c... --format csv -o room.csv
  gochat events export --type 'message.*' --since 1000 --until 2000 -o slice.parquet""",
    ("events", "tail"): """\
  gochat events tail                            # the last 10 events
  gochat events tail -n 100 --user 2b7e...
  gochat events tail -f --type 'member.*'       # follow until Ctrl-C""",
    ("events", "stats"): """\
  gochat events stats
  gochat events stats --since 2025-06-01T00:00:00Z --format json""",
    ("projections",): """\
  gochat projections status
  gochat projections rebuild history""",
    ("projections", "status"): """\
  gochat projections status
  gochat projections status --format json""",
    ("projections", "rebuild"): """\
  gochat projections rebuild search             # one projection, while the server keeps serving
  gochat projections rebuild all --page 10000
  gochat projections rebuild history --discard  # drop an interrupted rebuild's shadow tables""",
    ("users",): """\
  gochat users erase --username alice
  gochat users admin --username alice""",
    ("users", "erase"): """\
  gochat users erase --username alice           # shows the user, then asks for confirmation
  gochat users erase --id 2b7e4d7a-9f0c-4c1e-8a55-0d6f3e2b9c11 --yes  # by id, no question (scripts)""",
    ("users", "admin"): """\
  gochat users admin --username alice           # alice may now administer the server
  gochat users admin --username alice --revoke  # and now no longer""",
    ("bots",): """\
  gochat bots create --username deploy-bot --display-name "Deploy bot"
  gochat bots token --username deploy-bot --scope read --scope write
  gochat bots list
  gochat bots revoke --username deploy-bot""",
    ("bots", "create"): """\
  gochat bots create --username deploy-bot      # a server-wide bot, in no room yet
  gochat bots create --username ci-bot --display-name "CI results"  # shown name""",
    ("bots", "token"): """\
  gochat bots token --username deploy-bot --scope read --scope write   # the secret alone on stdout
  gochat bots token --username ci-bot --name github --scope write --room 6f1c2a3b-8d9e-4f10-a2b3-c4d5e6f70812""",
    ("bots", "list"): """\
  gochat bots list                              # every bot, room and server-wide, with live tokens
  gochat bots list --format json""",
    ("bots", "revoke"): """\
  gochat bots revoke --username deploy-bot      # every live token of the bot
  gochat bots revoke --username deploy-bot --token 0b5e7c1d-2f3a-4b5c-8d9e-0f1a2b3c4d5e""",
    ("keys",): """\
  gochat keys status
  gochat keys seal-log                          # once, after upgrading: seal what was written in clear""",
    ("keys", "status"): """\
  gochat keys status""",
    ("keys", "rotate"): """\
  gochat keys rotate --all                      # a new data key for every user, for what they write next
  gochat keys rotate --id 2b7e4d7a-9f0c-4c1e-8a55-0d6f3e2b9c11""",
    ("keys", "rewrap"): """\
  GOCHAT_KEY_ENCRYPTION_KEYS=$NEW,$OLD gochat keys rewrap   # then drop $OLD""",
    ("keys", "seal-log"): """\
  gochat keys seal-log
  gochat keys seal-log --page 500               # shorter transactions""",
}


def subparsers(parser: argparse.ArgumentParser) -> dict[str, argparse.ArgumentParser]:
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            return dict(action.choices)
    return {}


def commands(
    parser: argparse.ArgumentParser, path: tuple[str, ...] = ()
) -> dict[tuple[str, ...], argparse.ArgumentParser]:
    """Every command of the tree, keyed by its words: () is `gochat` itself."""
    found = {path: parser}
    for name, sub in subparsers(parser).items():
        found.update(commands(sub, (*path, name)))
    return found


class _Formatter(argparse.HelpFormatter):
    """argparse's own wrapping, except for the examples, whose lines stay as written."""

    def _fill_text(self, text: str, width: int, indent: str) -> str:
        if text.startswith(HEADING):
            return text
        return super()._fill_text(text, width, indent)


HEADING = "examples:\n"


def add_examples(parser: argparse.ArgumentParser) -> None:
    """Put each command's examples under its help."""
    for path, command in commands(parser).items():
        text = EXAMPLES.get(path)
        if text:
            command.epilog = HEADING + text
            command.formatter_class = _Formatter
