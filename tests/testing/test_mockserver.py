"""``cloudlb mock-server NAME``: the lookup through ``cloudlb.mock_servers``, the first-line config, the errors, and
the command in a real child process stopped by a signal. Fake entry points; nothing extra installed."""

from __future__ import annotations

import contextlib
import importlib.metadata
import json
import os
import signal
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest
from click.testing import CliRunner

from cloudlb import cli as cli_module
from cloudlb.cli import COMMANDS_GROUP, cli
from cloudlb.config import load_config_file
from cloudlb.errors import ConfigError, ProviderLoadError
from cloudlb.testing import mockserver
from cloudlb.testing.mockserver import ENTRY_POINT_GROUP, MockServerProcess, build_mock_server
from tests.testing.entrypoints import MOCK_SERVER_COMMAND, environment_with
from tests.testing.fakes import FakeMockServer

FAKES = {
    "fake": "tests.testing.fakes:FakeMockServer",
    "broken": "tests.testing.no_such_module:factory",
    "notcallable": "tests.testing.fakes:NOT_A_FACTORY",
    "hollow": "tests.testing.fakes:hollow",
}


@pytest.fixture(autouse=True)
def fake_entry_points(monkeypatch: pytest.MonkeyPatch) -> None:
    points = {name: importlib.metadata.EntryPoint(name, value, ENTRY_POINT_GROUP) for name, value in FAKES.items()}
    monkeypatch.setattr(mockserver, "_entry_points", lambda: points)
    command = importlib.metadata.EntryPoint("mock-server", "cloudlb.testing.mockserver:mock_server", COMMANDS_GROUP)
    monkeypatch.setattr(cli_module, "_command_entry_points", lambda: {"mock-server": command})
    FakeMockServer.instances.clear()


@pytest.fixture
def no_wait(monkeypatch: pytest.MonkeyPatch) -> None:
    """The command returns as soon as it has printed its config, as if SIGTERM had come at once."""

    @contextlib.contextmanager
    def already_stopped() -> Iterator[threading.Event]:
        event = threading.Event()
        event.set()
        yield event

    monkeypatch.setattr(mockserver, "_stop_signals", already_stopped)


def test_first_line_is_a_config_the_cli_accepts(no_wait: None, tmp_path: Path) -> None:
    seed = tmp_path / "nodes.yaml"
    seed.write_text("kind: Node\nmetadata: {name: n1}\n")

    result = CliRunner().invoke(
        cli,
        ["mock-server", "fake", "--cluster", "ci", "--seed", str(seed), "--work-dir", str(tmp_path), "-o", "color=red"],
    )

    assert result.exit_code == 0, result.output
    first, *rest = result.stdout.splitlines()
    assert rest == []
    config = json.loads(first)
    (server,) = FakeMockServer.instances
    assert config == {
        "provider": "fakecloud",
        "cluster": "ci",
        "options": {"endpoint_url": config["options"]["endpoint_url"]},
    }
    assert (server.cluster, server.seed, server.work_dir, server.color) == ("ci", (seed,), tmp_path, "red")
    assert server.stopped
    saved = tmp_path / "cloudlb.json"
    saved.write_text(result.stdout)
    loaded = load_config_file(saved)
    assert (loaded.provider, loaded.cluster, dict(loaded.options)) == ("fakecloud", "ci", config["options"])
    assert "ready" in result.stderr


@pytest.mark.parametrize(
    ("args", "message"),
    [
        pytest.param(["nope"], "no mock server 'nope' (available: broken, fake, hollow, notcallable)", id="unknown"),
        pytest.param(["fak"], "did you mean 'fake'?", id="suggestion"),
        pytest.param(["broken"], "cannot be imported: No module named 'tests.testing.no_such_module'", id="broken"),
        pytest.param(["notcallable"], "is not callable but str", id="not-callable"),
        pytest.param(["hollow"], "lacks start, stop", id="hollow"),
        pytest.param(["fake", "-o", "flavor=x"], "unexpected keyword argument 'flavor'", id="unknown-option"),
    ],
)
def test_bad_names_and_options_are_one_line_usage_errors(no_wait: None, args: list[str], message: str) -> None:
    result = CliRunner().invoke(cli, ["mock-server", *args])

    assert result.exit_code == 2
    assert result.stdout == ""
    assert message in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1


def test_option_must_be_key_value(no_wait: None) -> None:
    result = CliRunner().invoke(cli, ["mock-server", "fake", "-o", "color"])

    assert result.exit_code == 2
    assert "expected KEY=VALUE" in result.stderr


def test_a_server_that_fails_to_start_is_stopped_and_reported(no_wait: None, monkeypatch: pytest.MonkeyPatch) -> None:
    def refuse(self: FakeMockServer) -> dict[str, object]:
        raise ConfigError("port 1 is taken")

    monkeypatch.setattr(FakeMockServer, "start", refuse)

    result = CliRunner().invoke(cli, ["mock-server", "fake"])

    assert result.exit_code == 2
    assert result.stdout == ""
    assert "error: port 1 is taken" in result.stderr
    assert FakeMockServer.instances[0].stopped  # whatever it had started is stopped


def test_build_checks_the_factory_result() -> None:
    with pytest.raises(ProviderLoadError, match="lacks start, stop"):
        build_mock_server("hollow")
    server = build_mock_server("fake", seed=["a.yaml"], cluster="c1")
    assert isinstance(server, FakeMockServer)
    assert (server.seed, server.cluster) == ((Path("a.yaml"),), "c1")


def test_stop_signals_set_the_event_and_restore_handlers() -> None:
    before = {sig: signal.getsignal(sig) for sig in (signal.SIGINT, signal.SIGTERM)}

    with mockserver._stop_signals() as stopped:
        os.kill(os.getpid(), signal.SIGTERM)
        assert stopped.wait(5)
    with mockserver._stop_signals() as stopped:
        os.kill(os.getpid(), signal.SIGINT)
        assert stopped.wait(5)

    assert {sig: signal.getsignal(sig) for sig in before} == before


# --- the command in a child process --------------------------------------------------------------------------


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT], ids=["SIGTERM", "SIGINT"])
def test_child_serves_until_signalled_then_exits_cleanly(tmp_path: Path, sig: int) -> None:
    env = environment_with(tmp_path / "ep", {**MOCK_SERVER_COMMAND, ENTRY_POINT_GROUP: {"fake": FAKES["fake"]}})
    work = tmp_path / "work"
    process = MockServerProcess("fake", cluster="ci", work_dir=work, options={"color": "blue"}, env=env)

    config = process.start()
    import urllib.request

    with urllib.request.urlopen(f"{config['options']['endpoint_url']}/x", timeout=10) as response:
        assert response.read() == b"ok"  # it serves
    code = process.stop(sig)

    assert code == 0, process.log_text()
    assert (work / "stopped").read_text() == "blue"  # the fake's stop() ran before the exit
    assert "mock fake cloud stopped" in process.log_text()


def test_child_that_fails_reports_its_log(tmp_path: Path) -> None:
    env = environment_with(tmp_path / "ep", MOCK_SERVER_COMMAND)  # no mock servers at all

    with pytest.raises(RuntimeError, match=r"(?s)did not start.*no mock server 'fake'"):
        MockServerProcess("fake", env=env).start(timeout=60)
