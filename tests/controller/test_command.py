"""``cloudlb controller``'s flags and errors, through the ``cloudlb`` group as the entry point will run it."""

from __future__ import annotations

import socket
from collections.abc import Iterator
from pathlib import Path

import pytest
from click.testing import CliRunner

from cloudlb.cli import cli
from cloudlb.controller.command import _lease_name, controller


@pytest.fixture
def runner() -> Iterator[CliRunner]:
    added = "controller" not in cli.commands
    if added:
        cli.add_command(controller)
    yield CliRunner()
    if added:
        del cli.commands["controller"]


def test_help_lists_the_flags_of_the_issue(runner: CliRunner) -> None:
    result = runner.invoke(cli, ["controller", "--help"])
    assert result.exit_code == 0, result.output
    for flag in (
        "--provider",
        "--config",
        "--kubeconfig",
        "--class",
        "--default-class",
        "--workers",
        "--lease-duration",
        "--renew-deadline",
        "--retry-period",
        "--lease-name",
        "--lease-namespace",
        "--metrics-address",
    ):
        assert flag in result.output


@pytest.mark.parametrize(
    ("args", "message"),
    [
        pytest.param(["--class", "nope"], "is not a class name like cloudlb.io/NAME", id="bad-class"),
        pytest.param(
            ["--lease-duration", "5", "--renew-deadline", "6"],
            "--retry-period < --renew-deadline < --lease-duration",
            id="deadline-past-lease",
        ),
        pytest.param(["--provider", "nosuch"], "unknown provider 'nosuch'", id="unknown-provider"),
        pytest.param(["--workers", "0"], "Invalid value for '--workers'", id="no-workers"),
    ],
)
def test_bad_flags_are_one_line_and_exit_2(runner: CliRunner, args: list[str], message: str) -> None:
    result = runner.invoke(cli, ["controller", *args])
    assert result.exit_code == 2
    assert message in result.output
    assert "Traceback" not in result.output


def test_an_unreadable_kubeconfig_is_a_configuration_error(runner: CliRunner, tmp_path: Path) -> None:
    missing = tmp_path / "nope"
    result = runner.invoke(cli, ["controller", "--provider", "local", "--kubeconfig", str(missing)])
    assert result.exit_code == 2
    assert "cannot load the Kubernetes configuration" in result.output


@pytest.mark.parametrize(
    ("load_balancer_class", "lease"),
    [
        pytest.param("cloudlb.io/aws", "cloudlb-controller-aws", id="provider"),
        pytest.param("cloudlb.io/Team_A", "cloudlb-controller-team-a", id="sanitised"),
    ],
)
def test_each_class_gets_its_own_lease_by_default(load_balancer_class: str, lease: str) -> None:
    assert _lease_name(load_balancer_class) == lease


def test_a_metrics_address_in_use_is_a_configuration_error(runner: CliRunner, kubeconfig: str) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        address = f"127.0.0.1:{taken.getsockname()[1]}"
        result = runner.invoke(
            cli, ["controller", "--provider", "local", "--kubeconfig", kubeconfig, "--metrics-address", address]
        )
    assert result.exit_code == 2
    assert f"--metrics-address {address}: cannot serve there" in result.output
