"""loadBalancerSourceRanges: who may connect, checked per new connection (TCP) and per new flow (UDP)."""

from __future__ import annotations

import dataclasses

import pytest

from cloudlb.model import Protocol
from cloudlb_local.dataplane.source_ranges import SourceRanges

from .support import Held, Lab, UdpClient, in_lab, request, wait_until

pytestmark = pytest.mark.timeout(60)


@pytest.mark.parametrize(
    ("cidrs", "host", "allowed"),
    [
        pytest.param((), "203.0.113.9", True, id="empty-means-everyone"),
        pytest.param(("127.0.0.21/32",), "127.0.0.21", True, id="exact-host"),
        pytest.param(("127.0.0.21/32",), "127.0.0.22", False, id="other-host"),
        pytest.param(("10.0.0.0/8", "127.0.0.0/30"), "127.0.0.3", True, id="second-range"),
        pytest.param(("127.0.0.0/30",), "127.0.0.4", False, id="just-outside"),
        pytest.param(("127.0.0.5/30",), "127.0.0.6", True, id="host-bits-set"),
        pytest.param(("127.0.0.0/8",), "::ffff:127.0.0.9", True, id="v4-mapped-client"),
        pytest.param(("127.0.0.0/8",), "::1", False, id="v6-client-v4-ranges"),
        pytest.param(("::1/128",), "::1", True, id="v6-range"),
        pytest.param(("fe80::/10",), "fe80::1%lo", True, id="scoped"),
        pytest.param(("0.0.0.0/0",), "not-an-ip", False, id="garbage"),
    ],
)
def test_allows(cidrs: tuple[str, ...], host: str, allowed: bool) -> None:
    assert SourceRanges(cidrs).allows(host) is allowed


def test_tcp_ranges_allow_deny_swap_and_clear() -> None:
    inside, outside = "127.0.0.21", "127.0.0.22"

    async def scenario(lab: Lab) -> None:
        b1 = await lab.echo("b1", "127.0.0.11")
        config = lab.listener([b1], source_ranges=(f"{inside}/32",))
        await lab.serve(config)
        assert await request(config, inside) == "b1"
        assert await request(config, outside) is None
        held = await Held.open(config, inside)

        config = dataclasses.replace(config, source_ranges=(f"{outside}/32",))
        await lab.serve(config)
        assert await request(config, inside) is None
        assert await request(config, outside) == "b1"
        assert await held.echo() == b"ping"  # the check is made when a connection starts, not afterwards

        config = dataclasses.replace(config, source_ranges=())
        await lab.serve(config)
        assert await request(config, inside) == "b1"
        assert await request(config, outside) == "b1"

        status = lab.status(config)
        assert status.refused == {"source_range": 2, "no_backend": 0}
        assert status.backends[b1.backend].total_connections == 5
        held.close()

    in_lab(scenario)


def test_udp_ranges_drop_datagrams_and_end_flows_that_fall_outside() -> None:
    async def scenario(lab: Lab) -> None:
        u1 = await lab.udp("u1", "127.0.0.11")
        config = lab.listener([u1], protocol=Protocol.UDP, source_ranges=("127.0.0.21/32",))
        await lab.serve(config)
        inside = await UdpClient.open(config, source="127.0.0.21")
        outside = await UdpClient.open(config, source="127.0.0.22")

        assert await inside.ask(b"a") == b"u1:a"
        assert await outside.ask(b"a", timeout=0.3) is None
        await wait_until(lambda: lab.status(config).refused["source_range"] == 1, "the drop to be counted")
        assert u1.received == 1

        await lab.serve(dataclasses.replace(config, source_ranges=("127.0.0.22/32",)))
        assert lab.status(config).active_connections == 0  # the inside client's flow ended with the change
        assert await inside.ask(b"b", timeout=0.3) is None
        assert await outside.ask(b"b") == b"u1:b"
        inside.close()
        outside.close()

    in_lab(scenario)
