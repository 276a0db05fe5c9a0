"""A port that cannot be bound is a one-line error for that listener, never a crash or a silent failure."""

from __future__ import annotations

import errno
import os
import socket
from pathlib import Path
from typing import Any

import pytest

from cloudlb.model import Protocol
from cloudlb_local.dataplane.binding import bind_error_message

from .support import Lab, in_lab, request

pytestmark = pytest.mark.timeout(60)


@pytest.mark.parametrize(
    ("error", "address", "port", "want"),
    [
        pytest.param(PermissionError(errno.EACCES, "Permission denied"), "127.0.100.1", 80,
                     "permission denied binding 127.0.100.1:80 (privileged port)", id="privileged"),
        pytest.param(PermissionError(errno.EACCES, "Permission denied"), "127.0.100.1", 8080,
                     "permission denied binding 127.0.100.1:8080", id="denied-unprivileged"),
        pytest.param(OSError(errno.EADDRINUSE, "Address already in use"), "127.0.100.1", 8080,
                     "address in use: 127.0.100.1:8080", id="in-use"),
        pytest.param(OSError(errno.EADDRINUSE, "Address already in use"), "::1", 8080,
                     "address in use: [::1]:8080", id="in-use-ipv6"),
        pytest.param(OSError(errno.EADDRNOTAVAIL, "Cannot assign requested address"), "192.0.2.1", 80,
                     "address not available: 192.0.2.1:80", id="not-local"),
        pytest.param(OSError(errno.ENOBUFS, "No buffer space available"), "127.0.100.1", 53,
                     "cannot bind 127.0.100.1:53: no buffer space available", id="other"),
    ],
)  # fmt: skip
def test_bind_error_message(error: OSError, address: str, port: int, want: str) -> None:
    assert bind_error_message(error, address, port) == want


def _occupy(address: str, port: int, kind: socket.SocketKind = socket.SOCK_STREAM) -> socket.socket:
    sock = socket.socket(socket.AF_INET, kind)
    sock.bind((address, port))
    if kind == socket.SOCK_STREAM:
        sock.listen(1)
    return sock


@pytest.mark.parametrize("protocol", [pytest.param(Protocol.TCP, id="tcp"), pytest.param(Protocol.UDP, id="udp")])
def test_address_in_use_is_reported_and_retried_by_the_next_apply(protocol: Protocol) -> None:
    async def scenario(lab: Lab) -> None:
        b1 = await lab.echo("b1", "127.0.0.11")
        busy = lab.listener([b1], protocol=protocol)
        fine = lab.listener([b1])
        kind = socket.SOCK_STREAM if protocol is Protocol.TCP else socket.SOCK_DGRAM
        blocker = _occupy(busy.address, busy.port, kind)

        result = await lab.dp.apply([busy, fine])

        assert result == {busy.key: f"address in use: {busy.address}:{busy.port}", fine.key: None}
        assert lab.status(busy).error == result[busy.key]
        assert await request(fine) == "b1"  # the failure did not stop the other listener

        blocker.close()
        assert await lab.dp.apply([busy, fine]) == {busy.key: None, fine.key: None}
        assert lab.status(busy).error is None
        if protocol is Protocol.TCP:
            assert await request(busy) == "b1"

    in_lab(scenario)


def _unprivileged_port_start() -> int:
    try:
        return int(Path("/proc/sys/net/ipv4/ip_unprivileged_port_start").read_text())
    except (OSError, ValueError):
        return 1024


def test_privileged_port() -> None:
    """Without the privilege the kernel refuses; as root (or where low ports are open) a port held by another
    socket stands in, so the failure path is still exercised for real."""
    port = 80

    async def scenario(lab: Lab) -> None:
        config = lab.listener([], port=port)
        if os.geteuid() != 0 and port < _unprivileged_port_start():
            want = f"permission denied binding {config.address}:{port} (privileged port)"
            blocker = None
        else:
            want = f"address in use: {config.address}:{port}"
            blocker = _occupy(config.address, port)
        try:
            assert await lab.dp.apply([config]) == {config.key: want}
        finally:
            if blocker is not None:
                blocker.close()

    in_lab(scenario)


def test_permission_denied_from_the_kernel_is_reported(monkeypatch: pytest.MonkeyPatch) -> None:
    """The kernel's EACCES, injected at the socket's bind so the data plane's real path handles it."""
    real_bind = socket.socket.bind
    denied: list[Any] = []

    def bind(sock: socket.socket, address: Any) -> None:
        if address[0].startswith("127.0.100.") and 0 < address[1] < 1024:
            denied.append(address)
            raise PermissionError(errno.EACCES, "Permission denied")
        real_bind(sock, address)

    monkeypatch.setattr(socket.socket, "bind", bind)

    async def scenario(lab: Lab) -> None:
        b1 = await lab.echo("b1", "127.0.0.11")
        low = lab.listener([b1], port=80)
        high = lab.listener([b1])

        result = await lab.dp.apply([low, high])

        assert result == {low.key: f"permission denied binding {low.address}:80 (privileged port)", high.key: None}
        assert denied == [(low.address, 80)]
        assert await request(high) == "b1"

    in_lab(scenario)


def test_address_not_on_this_host() -> None:
    async def scenario(lab: Lab) -> None:
        config = lab.listener([], address="192.0.2.1", port=8080)  # TEST-NET-1: never local; nothing is sent
        assert await lab.dp.apply([config]) == {config.key: "address not available: 192.0.2.1:8080"}

    in_lab(scenario)
