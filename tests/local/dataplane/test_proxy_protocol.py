"""PROXY protocol v1 and v2: header bytes, and the header a backend actually receives through the relay."""

from __future__ import annotations

import dataclasses
import json
import socket

import pytest

from cloudlb.model import ProxyProtocol
from cloudlb_local.dataplane import proxy_header

from .servers import parse_proxy_header
from .support import Lab, connect, in_lab

pytestmark = pytest.mark.timeout(60)


@pytest.mark.parametrize(
    ("client", "listener", "want_v1"),
    [
        pytest.param(
            ("192.0.2.7", 50000), ("127.0.100.1", 80), b"PROXY TCP4 192.0.2.7 127.0.100.1 50000 80\r\n", id="ipv4"
        ),
        pytest.param(
            ("2001:db8::7", 50000), ("2001:db8::1", 443), b"PROXY TCP6 2001:db8::7 2001:db8::1 50000 443\r\n", id="ipv6"
        ),
        pytest.param(
            ("::ffff:192.0.2.7", 1), ("::ffff:127.0.0.1", 2), b"PROXY TCP4 192.0.2.7 127.0.0.1 1 2\r\n", id="mapped-v4"
        ),
        pytest.param(
            ("192.0.2.7", 1), ("2001:db8::1", 2), b"PROXY TCP6 ::ffff:c000:207 2001:db8::1 1 2\r\n", id="mixed"
        ),
        pytest.param(
            ("fe80::1%lo", 1), ("fe80::2%lo", 2), b"PROXY TCP6 fe80::1 fe80::2 1 2\r\n", id="scoped-link-local"
        ),
    ],
)
def test_headers(client: tuple[str, int], listener: tuple[str, int], want_v1: bytes) -> None:
    assert proxy_header(ProxyProtocol.V1, client, listener) == want_v1
    v1 = parse_proxy_header(want_v1)
    v2 = parse_proxy_header(proxy_header(ProxyProtocol.V2, client, listener))
    assert (v2["family"], v2["src"], v2["dst"]) == (v1["family"], v1["src"], v1["dst"])
    assert v2["length"] == (12 if v1["family"] == "TCP4" else 36)
    assert proxy_header(ProxyProtocol.NONE, client, listener) == b""


@pytest.mark.parametrize("version", [pytest.param(ProxyProtocol.V1, id="v1"), pytest.param(ProxyProtocol.V2, id="v2")])
def test_backend_sees_the_real_client_over_ipv4(version: ProxyProtocol, use_uvloop: bool) -> None:
    async def scenario(lab: Lab) -> None:
        backend = await lab.proxy("p1", "127.0.0.11")
        config = lab.listener([backend], proxy_protocol=version)
        await lab.serve(config)
        reader, writer = await connect(config, source="127.0.0.21")
        client_port = writer.get_extra_info("sockname")[1]

        header = json.loads(await reader.readline())
        writer.write(b"payload after the header")
        echoed = await reader.readexactly(24)

        assert header["version"] == (1 if version is ProxyProtocol.V1 else 2)
        assert header["family"] == "TCP4"
        assert header["src"] == ["127.0.0.21", client_port]
        assert header["dst"] == [config.address, config.port]
        assert echoed == b"payload after the header"
        writer.close()

    in_lab(scenario, use_uvloop=use_uvloop)


def _ipv6_loopback() -> bool:
    try:
        with socket.socket(socket.AF_INET6) as sock:
            sock.bind(("::1", 0))
    except OSError:
        return False
    return True


@pytest.mark.skipif(not _ipv6_loopback(), reason="this host has no IPv6 loopback")
@pytest.mark.parametrize("version", [pytest.param(ProxyProtocol.V1, id="v1"), pytest.param(ProxyProtocol.V2, id="v2")])
def test_backend_sees_the_real_client_over_ipv6(version: ProxyProtocol) -> None:
    async def scenario(lab: Lab) -> None:
        backend = await lab.proxy("p1", "127.0.0.11")
        config = lab.listener([backend], address="::1", proxy_protocol=version)
        await lab.serve(config)
        reader, writer = await connect(config)
        client_port = writer.get_extra_info("sockname")[1]

        header = json.loads(await reader.readline())

        assert header["family"] == "TCP6"
        assert header["src"] == ["::1", client_port]
        assert header["dst"] == ["::1", config.port]
        writer.close()

    in_lab(scenario)


def test_proxy_protocol_can_be_turned_on_for_new_connections_only() -> None:
    async def scenario(lab: Lab) -> None:
        backend = await lab.proxy("p1", "127.0.0.11")
        plain = await lab.echo("e1", "127.0.0.12")
        config = lab.listener([plain])
        await lab.serve(config)
        reader, writer = await connect(config)
        assert await reader.readline() == b"e1\n"  # no header sent to a plain backend

        await lab.serve(
            dataclasses.replace(config, backends=frozenset({backend.backend}), proxy_protocol=ProxyProtocol.V1)
        )
        reader2, writer2 = await connect(config)
        assert json.loads(await reader2.readline())["version"] == 1
        writer.write(b"old")
        assert await reader.readexactly(3) == b"old"  # the established connection got no header mid-stream
        writer.close()
        writer2.close()

    in_lab(scenario)
