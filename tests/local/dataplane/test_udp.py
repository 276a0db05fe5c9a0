"""UDP: per-client flows with their own upstream socket, replies back to the client, failover, idle expiry."""

from __future__ import annotations

import dataclasses
from collections import Counter

import pytest

from cloudlb.model import Algorithm, Protocol

from .support import CLIENT_IPS, Lab, UdpClient, in_lab, wait_until

pytestmark = pytest.mark.timeout(60)


def test_round_trip_keeps_a_client_on_its_flow(use_uvloop: bool) -> None:
    async def scenario(lab: Lab) -> None:
        u1 = await lab.udp("u1", "127.0.0.11")
        u2 = await lab.udp("u2", "127.0.0.12")
        config = lab.listener([u1, u2], protocol=Protocol.UDP)
        await lab.serve(config)
        client = await UdpClient.open(config)

        replies = [await client.ask(f"hello {n}".encode()) for n in range(5)]

        backend = replies[0].split(b":")[0]  # type: ignore[union-attr]
        assert replies == [backend + f":hello {n}".encode() for n in range(5)]
        health = lab.status(config).backends[(u1 if backend == b"u1" else u2).backend]
        assert (health.active_connections, health.total_connections) == (1, 1)
        assert (health.bytes_in, health.bytes_out) == (5 * 7, 5 * 10)
        client.close()

    in_lab(scenario, use_uvloop=use_uvloop)


def test_flows_spread_over_backends() -> None:
    async def scenario(lab: Lab) -> None:
        backends = [await lab.udp(f"u{n + 1}", ip) for n, ip in enumerate(("127.0.0.11", "127.0.0.12"))]
        config = lab.listener(backends, protocol=Protocol.UDP, algorithm=Algorithm.ROUND_ROBIN)
        await lab.serve(config)
        clients = [await UdpClient.open(config, source=ip) for ip in CLIENT_IPS[:4]]

        first = [await c.ask(b"x") for c in clients]

        assert Counter(first) == {b"u1:x": 2, b"u2:x": 2}
        for client in clients:
            client.close()

    in_lab(scenario)


def test_flow_fails_over_when_its_backend_is_removed() -> None:
    async def scenario(lab: Lab) -> None:
        u1 = await lab.udp("u1", "127.0.0.11")
        u2 = await lab.udp("u2", "127.0.0.12")
        config = lab.listener([u1, u2], protocol=Protocol.UDP)
        await lab.serve(config)
        client = await UdpClient.open(config)
        reply = await client.ask(b"a")
        assert reply is not None
        first, other = (u1, u2) if reply.startswith(b"u1") else (u2, u1)

        await lab.serve(dataclasses.replace(config, backends=frozenset({other.backend})))

        assert await client.ask(b"b") == other.name.encode() + b":b"
        assert await client.ask(b"c") == other.name.encode() + b":c"
        assert first.backend not in lab.status(config).backends  # its flow ended at the failover
        client.close()

    in_lab(scenario)


def test_flow_fails_over_when_its_backend_stops_answering() -> None:
    async def scenario(lab: Lab) -> None:
        u1 = await lab.udp("u1", "127.0.0.11")
        u2 = await lab.udp("u2", "127.0.0.12")
        config = lab.listener([u1, u2], protocol=Protocol.UDP)
        await lab.serve(config)
        client = await UdpClient.open(config)
        reply = await client.ask(b"a")
        assert reply is not None
        first, other = (u1, u2) if reply.startswith(b"u1") else (u2, u1)

        await first.stop()  # once the port is closed, a datagram to it draws an ICMP port unreachable

        for _ in range(25):  # bounded: the lost datagrams before the ejection get no answer
            reply = await client.ask(b"b", timeout=0.2)
            if reply is not None:
                break
        assert reply == other.name.encode() + b":b"
        health = lab.status(config).backends[first.backend]
        assert (health.healthy, health.last_error) == (False, "port unreachable")
        assert await client.ask(b"c") == other.name.encode() + b":c"
        client.close()

    in_lab(scenario)


def test_idle_flows_expire() -> None:
    async def scenario(lab: Lab) -> None:
        u1 = await lab.udp("u1", "127.0.0.11")
        config = lab.listener([u1], protocol=Protocol.UDP, udp_idle_timeout=0.2)
        await lab.serve(config)
        client = await UdpClient.open(config)
        assert await client.ask(b"a") == b"u1:a"
        assert lab.status(config).active_connections == 1

        await wait_until(lambda: lab.status(config).active_connections == 0, "the idle flow to expire")

        assert await client.ask(b"b") == b"u1:b"  # a new flow
        assert lab.status(config).backends[u1.backend].total_connections == 2
        client.close()

    in_lab(scenario)


def test_no_backend_drops_and_counts() -> None:
    async def scenario(lab: Lab) -> None:
        config = lab.listener([], protocol=Protocol.UDP)
        await lab.serve(config)
        client = await UdpClient.open(config)

        assert await client.ask(b"anyone?", timeout=0.3) is None

        await wait_until(lambda: lab.status(config).refused["no_backend"] == 1, "the refusal to be counted")
        client.close()

    in_lab(scenario)


def test_removed_udp_listener_frees_its_port() -> None:
    async def scenario(lab: Lab) -> None:
        u1 = await lab.udp("u1", "127.0.0.11")
        config = lab.listener([u1], protocol=Protocol.UDP)
        await lab.serve(config)
        client = await UdpClient.open(config)
        assert await client.ask(b"a") == b"u1:a"

        await lab.dp.apply([])
        assert await client.ask(b"b", timeout=0.3) is None
        await lab.serve(config)

        assert await client.ask(b"c") == b"u1:c"
        client.close()

    in_lab(scenario)
