"""Every command has help that exits 0; the group help carries examples."""

from __future__ import annotations

import pytest

from tests.cli.conftest import Invoke

COMMANDS = ("apply", "plan", "get", "list", "delete", "sync", "gc", "render")


def test_group_help(invoke: Invoke) -> None:
    result = invoke("--help")

    assert result.exit_code == 0
    assert "Examples:" in result.stdout
    for command in COMMANDS:
        assert f"  {command} " in result.stdout


@pytest.mark.parametrize("command", [pytest.param(c, id=c) for c in COMMANDS])
def test_command_help(invoke: Invoke, command: str) -> None:
    result = invoke(command, "--help")

    assert result.exit_code == 0
    assert f"Usage: cloudlb {command}" in result.stdout
    assert "Example" in result.stdout
    assert "--debug" in result.stdout


@pytest.mark.parametrize(
    "command",
    [pytest.param(c, id=c) for c in ("apply", "plan", "get", "list", "delete", "sync", "gc")],
)
def test_provider_commands_share_options(invoke: Invoke, command: str) -> None:
    result = invoke(command, "--help")

    for option in ("--provider", "--cluster", "--config", "CLOUDLB_CONFIG", "--output"):
        assert option in result.stdout


def test_version(invoke: Invoke) -> None:
    result = invoke("--version")

    assert result.exit_code == 0
    assert result.stdout.startswith("cloudlb, version ")
