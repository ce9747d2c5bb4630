"""`gochat --help` and every subcommand's help end with examples, and every example parses."""

from __future__ import annotations

import re
import shlex
from pathlib import Path

import pytest
from conftest import run_cli

from gochat.cli import build_parser
from gochat.cli_examples import EXAMPLES, commands
from gochat.settings import Settings, SettingsError


def example_lines() -> list[str]:
    return [line for text in EXAMPLES.values() for line in text.splitlines() if "gochat " in line]


def test_every_command_has_examples() -> None:
    missing = [" ".join(path) or "gochat" for path in commands(build_parser()) if path not in EXAMPLES]
    assert missing == [], "add them to gochat/cli_examples.py"


@pytest.mark.parametrize("argv", [[], ["serve"], ["migrate"], ["events", "export"], ["projections", "rebuild"]])
def test_help_shows_the_examples(argv: list[str], capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as done:
        build_parser().parse_args([*argv, "--help"])
    assert done.value.code == 0
    out = capsys.readouterr().out
    assert "examples:\n" in out
    assert EXAMPLES[tuple(argv)].splitlines()[0] in out


@pytest.mark.parametrize("line", example_lines())
def test_every_example_is_a_valid_command_line(line: str) -> None:
    words = shlex.split(line.split(">")[0], comments=True)  # without a shell redirection
    words = words[words.index("gochat") + 1 :]  # after any VAR=value prefix
    args = build_parser().parse_args(words)
    assert callable(args.func)


def test_a_bad_setting_still_stops_start_up_with_one_line(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("GOCHAT_LIMIT_POST", "lots")
    code, _, err = run_cli(capsys, "serve")
    assert code == 2
    assert (
        err
        == "gochat: configuration error: GOCHAT_LIMIT_POST='lots' must look like 10/60 (10 requests per 60 seconds)\n"
    )


SETTINGS_SOURCE = (Path(__file__).resolve().parent.parent / "gochat" / "settings.py").read_text()
# Every variable settings.py parses with a typed reader (integers, numbers, switches, budgets, URLs,
# networks), including those added since: each refuses nonsense with one line naming it.
TYPED = sorted(
    set(re.findall(r'_(?:int|float|limit|bool|url|networks|keks)\(env, "([A-Z0-9_]+)"', SETTINGS_SOURCE))
    | {f"GOCHAT_LIMIT_{kind.upper()}" for kind in Settings().write_limits}
)


def test_the_typed_settings_are_found() -> None:
    assert len(TYPED) >= 60
    assert "GOCHAT_LIMIT_UPLOAD" in TYPED
    assert {
        "PORT",
        "GOCHAT_S3_URL",
        "GOCHAT_PREVIEW_TIMEOUT",
        "GOCHAT_TRUSTED_PROXIES",
        "GOCHAT_KEY_ENCRYPTION_KEYS",
    } <= set(TYPED)


@pytest.mark.parametrize("name", TYPED)
def test_nonsense_in_any_typed_setting_stops_start_up_with_one_line_naming_it(
    name: str, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv(name, "nonsense!")
    with pytest.raises(SettingsError):  # before the command runs (else it would start a server)
        Settings.from_env()
    code, out, err = run_cli(capsys, "serve")
    assert code == 2
    assert out == ""
    assert err.startswith(f"gochat: configuration error: {name}")
    assert err.count("\n") == 1
