"""A port the data plane cannot bind is an error in that listener's status, never a silent failure."""

from __future__ import annotations

import ipaddress
import socket
from pathlib import Path

import pytest

from cloudlb_local.testing import running_daemon
from tests.local.daemon.helpers import Api, db_rows, fetch_eventually, id_backend, lb_body, unique_pool


def _first_host(pool: str) -> str:
    return str(ipaddress.ip_network(pool).network_address + 1)


def _errors(lb: dict[str, object]) -> dict[str, object]:
    listeners = lb["listeners"]
    assert isinstance(listeners, list)
    return {f"{lst['protocol']}-{lst['port']}": lst["status"]["error"] for lst in listeners}


def test_a_port_in_use_is_reported_and_the_other_listeners_still_serve(api: Api) -> None:
    address = _first_host(api.daemon.address_pool)
    with id_backend("up", "127.0.0.51") as backend, socket.create_server((address, 8080)) as squatter:
        target = {"ip": backend[0], "port": backend[1]}
        lb = api.create(
            lb_body(
                "web",
                address=address,
                listeners=[
                    {"name": "busy", "protocol": "TCP", "port": 8080, "targets": [target]},
                    {"name": "free", "protocol": "TCP", "port": 8081, "targets": [target]},
                ],
            )
        )

        expected = {"TCP-8080": f"address in use: {address}:8080", "TCP-8081": None}
        assert _errors(lb) == expected
        assert _errors(api.get(lb["id"])) == expected
        stored = db_rows(api.daemon.state_dir)[lb["id"]]
        assert {f"{lst['protocol']}-{lst['port']}": lst["status"]["error"] for lst in stored["listeners"]} == expected
        assert fetch_eventually(address, 8081) == "up"

        squatter.close()
        # The next write retries the bind; the error clears without the listener being touched.
        retried = api.ok("PATCH", f"/v1/loadbalancers/{lb['id']}", {"tags": {"retry": "1"}})

        assert _errors(retried) == {"TCP-8080": None, "TCP-8081": None}
        assert fetch_eventually(address, 8080) == "up"


def test_a_udp_port_in_use_is_reported(api: Api) -> None:
    address = _first_host(api.daemon.address_pool)
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as squatter:
        squatter.bind((address, 5353))
        lb = api.create(
            lb_body("dns", address=address, listeners=[{"name": "dns", "protocol": "UDP", "port": 5353, "targets": []}])
        )

    assert _errors(lb) == {"UDP-5353": f"address in use: {address}:5353"}


def _unprivileged_port_start() -> int:
    try:
        return int(Path("/proc/sys/net/ipv4/ip_unprivileged_port_start").read_text())
    except (OSError, ValueError):
        return 1024


@pytest.mark.skipif(_unprivileged_port_start() <= 80, reason="this kernel lets anyone bind port 80")
def test_a_privileged_port_is_reported_when_the_daemon_may_not_bind_it(state_dir: Path) -> None:
    with running_daemon(state_dir, address_pool=unique_pool(), privileged_ports=False) as daemon:
        api = Api(daemon)
        address = _first_host(daemon.address_pool)

        lb = api.create(
            lb_body(
                "web",
                listeners=[
                    {"name": "http", "protocol": "TCP", "port": 80, "targets": []},
                    {"name": "alt", "protocol": "TCP", "port": 8080, "targets": []},
                ],
            )
        )

        assert _errors(lb) == {
            "TCP-80": f"permission denied binding {address}:80 (privileged port)",
            "TCP-8080": None,
        }
