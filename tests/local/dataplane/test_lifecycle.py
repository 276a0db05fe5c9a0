"""Changing the desired set: no backends, scaling to zero, draining, in-place reconfiguration, removal, close."""

from __future__ import annotations

import asyncio
import dataclasses

import pytest

from cloudlb.model import Algorithm, HealthCheckProtocol, ProxyProtocol
from cloudlb_local.dataplane import HealthCheckConfig

from .support import Held, Lab, connect, in_lab, request, requests, wait_until

pytestmark = pytest.mark.timeout(60)


def test_no_backends_refuses_and_counts() -> None:
    async def scenario(lab: Lab) -> None:
        config = lab.listener([])
        await lab.serve(config)

        assert await requests(config, 3) == [None] * 3

        assert lab.status(config).refused == {"source_range": 0, "no_backend": 3}

    in_lab(scenario)


def test_scale_to_zero_and_back() -> None:
    async def scenario(lab: Lab) -> None:
        b1, b2 = await lab.echoes(2)
        config = lab.listener([b1, b2])
        await lab.serve(config)
        held = await Held.open(config)
        listener = lab.dp._listeners[config.key]

        await lab.serve(dataclasses.replace(config, backends=frozenset()))
        assert await request(config) is None
        assert await held.echo(b"still here") == b"still here"  # established connections drain

        await lab.serve(config)
        assert sorted(await requests(config, 2)) == ["b1", "b2"]  # type: ignore[type-var]
        assert lab.dp._listeners[config.key] is listener  # the same socket served throughout
        assert lab.status(config).refused["no_backend"] == 1
        held.close()

    in_lab(scenario)


def test_removed_backend_drains_while_new_connections_go_elsewhere() -> None:
    async def scenario(lab: Lab) -> None:
        b1, b2 = await lab.echoes(2)
        config = lab.listener([b1, b2])
        await lab.serve(config)
        held = await Held.open(config)
        leaving, staying = (b1, b2) if held.name == "b1" else (b2, b1)

        await lab.serve(dataclasses.replace(config, backends=frozenset({staying.backend})))

        assert await requests(config, 4) == [staying.name] * 4
        assert await held.echo(b"long-lived") == b"long-lived"
        draining = lab.status(config).backends[leaving.backend]
        assert (draining.draining, draining.active_connections) == (True, 1)

        held.close()
        await wait_until(lambda: leaving.backend not in lab.status(config).backends, "the drained backend to go")

    in_lab(scenario)


def test_drain_timeout_cuts_what_is_left() -> None:
    async def scenario(lab: Lab) -> None:
        b1, b2 = await lab.echoes(2)
        config = lab.listener([b1, b2], drain_timeout=0.3)
        await lab.serve(config)
        held = await Held.open(config)
        staying = b2 if held.name == "b1" else b1

        await lab.serve(dataclasses.replace(config, backends=frozenset({staying.backend})))

        assert await held.is_cut()
        await wait_until(lambda: len(lab.status(config).backends) == 1, "the cut backend to go")
        assert await request(config) == staying.name

    in_lab(scenario)


def test_backend_readded_while_draining_keeps_its_connections() -> None:
    async def scenario(lab: Lab) -> None:
        b1 = await lab.echo("b1", "127.0.0.11")
        config = lab.listener([b1])
        await lab.serve(config)
        held = await Held.open(config)

        await lab.serve(dataclasses.replace(config, backends=frozenset()))
        await lab.serve(config)

        health = lab.status(config).backends[b1.backend]
        assert (health.draining, health.active_connections, health.healthy) == (False, 1, True)
        assert await held.echo() == b"ping"
        assert await request(config) == "b1"
        held.close()

    in_lab(scenario)


def test_reconfigure_in_place_keeps_an_established_connection() -> None:
    async def scenario(lab: Lab) -> None:
        b1, b2, b3 = await lab.echoes(3)
        config = lab.listener([b1, b2])
        await lab.serve(config)
        held = await Held.open(config, source="127.0.0.21")
        listener = lab.dp._listeners[config.key]
        changes = [
            {"algorithm": Algorithm.LEAST_CONNECTIONS},
            {"algorithm": Algorithm.SOURCE_IP, "affinity_timeout": 60.0},
            {"health_check": HealthCheckConfig(interval=0.05, timeout=1)},
            {"health_check": HealthCheckConfig(protocol=HealthCheckProtocol.TCP, interval=0.1, timeout=1)},
            {"source_ranges": ("127.0.0.21/32",)},
            {"proxy_protocol": ProxyProtocol.V2},
            {"backends": frozenset({b1.backend, b2.backend, b3.backend})},
            {"lb_id": "renamed", "udp_idle_timeout": 5.0, "drain_timeout": 10.0, "connect_timeout": 2.0},
            {"source_ranges": ()},
        ]

        for number, change in enumerate(changes):
            config = dataclasses.replace(config, **change)  # type: ignore[arg-type]
            await lab.serve(config)
            assert await held.echo(f"after change {number}".encode()) == f"after change {number}".encode()

        assert lab.dp._listeners[config.key] is listener
        assert listener.config == config
        held.close()

    in_lab(scenario)


def test_removed_listener_stops_accepting_and_drains() -> None:
    async def scenario(lab: Lab) -> None:
        b1 = await lab.echo("b1", "127.0.0.11")
        config = lab.listener([b1])
        await lab.serve(config)
        held = await Held.open(config)

        assert await lab.dp.apply([]) == {}

        assert lab.dp.status() == {}
        with pytest.raises(ConnectionRefusedError):
            await connect(config)
        assert await held.echo(b"draining") == b"draining"

        await lab.serve(config)  # the port was freed at once, so the key can come back during the drain
        assert await request(config) == "b1"
        assert await held.echo(b"old one") == b"old one"
        held.close()

    in_lab(scenario)


def test_removed_listener_is_cut_after_its_drain_timeout() -> None:
    async def scenario(lab: Lab) -> None:
        b1 = await lab.echo("b1", "127.0.0.11")
        config = lab.listener([b1], drain_timeout=0.3)
        await lab.serve(config)
        held = await Held.open(config)

        await lab.dp.apply([])

        assert await held.is_cut()

    in_lab(scenario)


def test_close_lets_connections_finish() -> None:
    async def scenario(lab: Lab) -> None:
        b1 = await lab.echo("b1", "127.0.0.11")
        config = lab.listener([b1])
        await lab.serve(config)
        held = await Held.open(config)

        closing = asyncio.create_task(lab.dp.close(drain_timeout=20))
        await wait_until(lambda: lab.dp.status() == {}, "close to begin")
        with pytest.raises(ConnectionRefusedError):
            await connect(config)
        assert await held.echo(b"finishing") == b"finishing"
        assert not closing.done()

        held.close()
        await asyncio.wait_for(closing, 10)

    in_lab(scenario)


def test_close_cuts_connections_after_its_timeout() -> None:
    async def scenario(lab: Lab) -> None:
        b1 = await lab.echo("b1", "127.0.0.11")
        config = lab.listener([b1])
        await lab.serve(config)
        held = await Held.open(config)

        await lab.dp.close(drain_timeout=0.2)

        assert await held.is_cut()
        with pytest.raises(RuntimeError, match="closed"):
            await lab.dp.apply([config])

    in_lab(scenario)


def test_two_configs_for_one_key_are_rejected() -> None:
    async def scenario(lab: Lab) -> None:
        config = lab.listener([])
        with pytest.raises(ValueError, match="two different configs"):
            await lab.dp.apply([config, dataclasses.replace(config, lb_id="other")])
        assert await lab.dp.apply([config, config]) == {config.key: None}  # the same one twice is fine

    in_lab(scenario)
