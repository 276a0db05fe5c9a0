"""Plugin subcommands from the ``cloudlb.commands`` entry points, with fake entry points (nothing installed)."""

from __future__ import annotations

import importlib.metadata

import pytest
from click.testing import CliRunner

from cloudlb import cli as cli_module
from cloudlb.cli import COMMANDS_GROUP, cli

FAKE = {
    "hello": "tests.cli.plugins:hello",
    "notcmd": "tests.cli.plugins:NOT_A_COMMAND",
    "broken": "tests.cli.no_such_module:command",
    "apply": "tests.cli.plugins:hello",  # a plugin cannot shadow a built-in command
}


@pytest.fixture(autouse=True)
def fake_entry_points(monkeypatch: pytest.MonkeyPatch) -> None:
    points = {name: importlib.metadata.EntryPoint(name, value, COMMANDS_GROUP) for name, value in FAKE.items()}
    monkeypatch.setattr(cli_module, "_command_entry_points", lambda: points)


def test_working_plugin_runs() -> None:
    result = CliRunner().invoke(cli, ["hello", "--name", "cloudlb"])

    assert result.exit_code == 0, result.output
    assert result.stdout == "hello cloudlb\n"


def test_help_lists_plugins_and_survives_broken_ones() -> None:
    result = CliRunner().invoke(cli, ["--help"])

    assert result.exit_code == 0, result.output
    for name in ("hello", "broken", "notcmd", "apply", "render"):
        assert f"  {name} " in result.stdout
    assert "broken plugin" in result.stdout


@pytest.mark.parametrize(
    ("args", "message"),
    [
        pytest.param(
            ["broken"],
            "error: plugin command 'broken' (entry point 'tests.cli.no_such_module:command') failed to load: "
            "ModuleNotFoundError",
            id="import-error",
        ),
        pytest.param(["broken", "--anything", "x"], "failed to load", id="import-error-with-args"),
        pytest.param(["broken", "--help"], "failed to load", id="import-error-help"),
        pytest.param(["notcmd"], "is not a click command but str", id="not-a-command"),
    ],
)
def test_broken_plugin_fails_alone_with_one_line(args: list[str], message: str) -> None:
    result = CliRunner().invoke(cli, args)

    assert result.exit_code == 1
    assert result.stdout == ""
    assert len(result.stderr.strip().splitlines()) == 1
    assert message in result.stderr


def test_builtin_wins_over_plugin_of_same_name() -> None:
    result = CliRunner().invoke(cli, ["apply", "--help"])

    assert result.exit_code == 0
    assert "Create or converge" in result.stdout


def test_unknown_command_is_usage_error() -> None:
    result = CliRunner().invoke(cli, ["nope"])

    assert result.exit_code == 2
    assert "No such command 'nope'" in result.stderr
