"""The daemon as a process: restart restores, signals stop it cleanly, files are private, one daemon per dir."""

from __future__ import annotations

import json
import os
import signal
import socket
import stat
import subprocess
import sys
import time
from pathlib import Path

import pytest
from click.testing import CliRunner

from cloudlb_local.commands import serve
from cloudlb_local.testing import DaemonHandle, running_daemon
from tests.local.daemon.helpers import Api, db_rows, fetch_eventually, id_backend, lb_body, unique_pool


def _mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def _serve(*args: str) -> subprocess.CompletedProcess[str]:
    """``cloudlb serve`` as a separate program, expected to refuse to start (so it is bounded by a timeout)."""
    command = [sys.executable, "-m", "cloudlb_local.daemon", *args]
    return subprocess.run(command, capture_output=True, text=True, timeout=30, check=False)


@pytest.mark.parametrize("stop_signal", [signal.SIGTERM, signal.SIGKILL], ids=["sigterm", "crash"])
def test_a_restart_restores_every_load_balancer_on_the_same_address_and_ports(
    state_dir: Path, stop_signal: signal.Signals
) -> None:
    with (
        id_backend("alpha", "127.0.0.41") as alpha,
        id_backend("beta", "127.0.0.42") as beta,
        running_daemon(state_dir, address_pool=unique_pool()) as daemon,
    ):
        api = Api(daemon)
        first = api.create(
            lb_body(
                "first",
                listeners=[
                    {"name": "a", "protocol": "TCP", "port": 8081, "targets": [{"ip": alpha[0], "port": alpha[1]}]}
                ],
            )
        )
        requested = str(first["address"]).rsplit(".", 1)[0] + ".9"
        second = api.create(
            lb_body(
                "second",
                address=requested,
                listeners=[
                    {"name": "b", "protocol": "TCP", "port": 8082, "targets": [{"ip": beta[0], "port": beta[1]}]},
                    {"name": "u", "protocol": "UDP", "port": 8082, "targets": [{"ip": beta[0], "port": beta[1]}]},
                ],
            )
        )
        token = daemon.token
        assert fetch_eventually(first["address"], 8081) == "alpha"

        daemon.stop(sig=stop_signal)
        with pytest.raises(OSError):
            socket.create_connection((first["address"], 8081), timeout=2).close()
        daemon.start()

        assert daemon.token == token  # clients keep working across restarts
        assert api.get(first["id"]) == first
        assert api.get(second["id"]) == second
        assert second["address"] == requested
        assert fetch_eventually(first["address"], 8081) == "alpha"
        assert fetch_eventually(second["address"], 8082) == "beta"
        assert set(db_rows(state_dir)) == {first["id"], second["id"]}


def test_sigterm_exits_0_and_removes_api_json(daemon: DaemonHandle) -> None:
    api_file = daemon.state_dir / "api.json"
    assert api_file.exists()

    code = daemon.stop(sig=signal.SIGTERM)

    assert code == 0
    assert not api_file.exists()
    assert "stopped" in daemon.log_tail()


def test_sigint_exits_0_too(daemon: DaemonHandle) -> None:
    assert daemon.stop(sig=signal.SIGINT) == 0
    assert not (daemon.state_dir / "api.json").exists()


def test_sigterm_lets_established_connections_finish(api: Api) -> None:
    """A client mid-conversation when SIGTERM arrives still gets its answer; the API stops at once."""
    with socket.create_server(("127.0.0.43", 0)) as backend:
        port = backend.getsockname()[1]
        lb = api.create(
            lb_body(
                "web",
                listeners=[
                    {"name": "a", "protocol": "TCP", "port": 8080, "targets": [{"ip": "127.0.0.43", "port": port}]}
                ],
            )
        )
        client = socket.create_connection((lb["address"], 8080), timeout=10)
        server_side, _ = backend.accept()
        process = api.daemon.process
        assert process is not None

        process.send_signal(signal.SIGTERM)
        deadline = time.monotonic() + 10
        while (api.daemon.state_dir / "api.json").exists() and time.monotonic() < deadline:
            time.sleep(0.02)
        assert not (api.daemon.state_dir / "api.json").exists()
        with pytest.raises(OSError):
            api.call("GET", "/v1/info")
        assert process.poll() is None  # still draining our connection

        server_side.sendall(b"still here")
        server_side.close()
        assert client.recv(100) == b"still here"
        client.close()
        assert process.wait(timeout=10) == 0


def test_state_files_are_private(daemon: DaemonHandle) -> None:
    state_dir = daemon.state_dir

    assert _mode(state_dir) == 0o700
    assert _mode(state_dir / "api.json") == 0o600
    assert _mode(state_dir / "token") == 0o600
    assert _mode(state_dir / "state.db") == 0o600
    announced = json.loads((state_dir / "api.json").read_text())
    assert announced == {
        "url": daemon.url,
        "token": (state_dir / "token").read_text().strip(),
        "pid": daemon.pid,
        "address_pool": daemon.address_pool,
    }
    assert announced["url"].startswith("http://127.0.0.1:")
    assert len(announced["token"]) >= 40


def test_a_second_daemon_on_the_same_state_dir_is_refused(daemon: DaemonHandle) -> None:
    result = _serve("--state-dir", str(daemon.state_dir), "--address-pool", daemon.address_pool)

    assert result.returncode == 1
    lines = result.stderr.strip().splitlines()
    assert lines == [f"error: another cloudlb daemon (pid {daemon.pid}) is already serving {daemon.state_dir}"]
    assert json.loads((daemon.state_dir / "api.json").read_text())["pid"] == daemon.pid
    assert Api(daemon).info()["load_balancers"] == 0  # the first one still serves


@pytest.mark.parametrize("address", ["0.0.0.0:8080", "192.0.2.1:8080", "example.com:80"])
def test_a_non_loopback_api_address_is_refused(tmp_path: Path, address: str) -> None:
    result = _serve("--state-dir", str(tmp_path / "state"), "--api-address", address)

    assert result.returncode == 2
    assert len(result.stderr.strip().splitlines()) == 1
    assert "loopback" in result.stderr
    assert not (tmp_path / "state").exists()


def test_a_bad_address_pool_is_refused(tmp_path: Path) -> None:
    result = _serve("--state-dir", str(tmp_path / "state"), "--address-pool", "127.0.0.0/33")

    assert result.returncode == 2
    assert "--address-pool" in result.stderr


def test_the_api_serves_on_the_address_asked_for(state_dir: Path) -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    with running_daemon(state_dir, address_pool=unique_pool(), extra_args=["--api-address", f"127.0.0.1:{port}"]) as d:
        assert d.url == f"http://127.0.0.1:{port}"
        assert Api(d).info()["calls"]["GET"] == 1


def test_json_logs_are_one_object_per_line_with_context(state_dir: Path) -> None:
    with running_daemon(state_dir, address_pool=unique_pool(), extra_args=["--log-format", "json"]) as daemon:
        lb = Api(daemon).create(lb_body("web"))
        daemon.stop()

    records = [json.loads(line) for line in daemon.log_path.read_text().splitlines()]
    assert records
    assert all({"ts", "level", "logger", "msg"} <= record.keys() for record in records)
    created = [r for r in records if r.get("lb") == lb["id"] and r["msg"].startswith("created")]
    assert created and created[0]["level"] == "info"


def test_the_state_dir_defaults_to_cloudlb_state_dir(daemon: DaemonHandle) -> None:
    env = {**os.environ, "CLOUDLB_STATE_DIR": str(daemon.state_dir)}
    command = [sys.executable, "-m", "cloudlb_local.daemon", "--address-pool", daemon.address_pool]
    result = subprocess.run(command, capture_output=True, text=True, timeout=30, check=False, env=env)

    assert result.returncode == 1
    assert f"is already serving {daemon.state_dir}" in result.stderr


def test_a_taken_api_port_stops_the_start_with_one_line(tmp_path: Path) -> None:
    with socket.create_server(("127.0.0.1", 0)) as taken:
        port = taken.getsockname()[1]
        result = _serve("--state-dir", str(tmp_path / "state"), "--api-address", f"127.0.0.1:{port}")

    assert result.returncode == 1
    assert result.stderr.strip().splitlines()[-1].startswith(f"error: cannot serve the API on 127.0.0.1:{port}")
    assert not (tmp_path / "state" / "api.json").exists()


def test_serve_help_names_every_option() -> None:
    result = CliRunner().invoke(serve, ["--help"])

    assert result.exit_code == 0
    for option in ("--state-dir", "--address-pool", "--api-address", "--log-format", "--debug", "CLOUDLB_STATE_DIR"):
        assert option in result.output
