"""Prometheus metrics, read back through the text format the daemon serves."""

from __future__ import annotations

import pytest
from prometheus_client import CollectorRegistry
from prometheus_client.parser import text_string_to_metric_families

from cloudlb.model import Protocol
from cloudlb_local.dataplane import Dataplane, render_metrics

from .support import Held, Lab, UdpClient, dead_backend, in_lab, request, requests

pytestmark = pytest.mark.timeout(60)

Samples = dict[tuple[str, frozenset[tuple[str, str]]], float]


def scrape(registry: CollectorRegistry) -> Samples:
    text = render_metrics(registry).decode()
    return {
        (s.name, frozenset(s.labels.items())): s.value
        for family in text_string_to_metric_families(text)
        for s in family.samples
        if s.name.startswith("cloudlb_")
    }


def value(samples: Samples, name: str, **labels: str) -> float:
    return samples[(name, frozenset(labels.items()))]


def test_tcp_metrics_count_connections_bytes_refusals_and_health() -> None:
    async def scenario(lab: Lab) -> None:
        b1 = await lab.echo("b1", "127.0.0.11")
        dead = dead_backend("127.0.0.12")
        config = lab.listener([b1, dead], lb_id="lb-7", source_ranges=("127.0.0.21/32",), ejection_time=3600)
        await lab.serve(config)
        assert await requests(config, 3, source="127.0.0.21") == ["b1"] * 3
        assert await request(config, "127.0.0.22") is None
        held = await Held.open(config, "127.0.0.21")
        assert await held.echo(b"12345") == b"12345"

        samples = scrape(lab.registry)

        live = {"lb": "lb-7", "listener": config.name, "target": str(b1.backend)}
        gone = {"lb": "lb-7", "listener": config.name, "target": str(dead)}
        assert value(samples, "cloudlb_connections_total", **live) == 4
        assert value(samples, "cloudlb_connections_total", **gone) == 0
        assert value(samples, "cloudlb_active_connections", **live) == 1
        assert value(samples, "cloudlb_bytes_total", direction="in", **live) == 5  # counted while still open
        assert value(samples, "cloudlb_bytes_total", direction="out", **live) == 4 * len("b1\n") + 5
        assert value(samples, "cloudlb_target_healthy", **live) == 1
        assert value(samples, "cloudlb_target_healthy", **gone) == 0
        assert value(samples, "cloudlb_connect_errors_total", **gone) == 1
        refused = {"lb": "lb-7", "listener": config.name}
        assert value(samples, "cloudlb_refused_total", reason="source_range", **refused) == 1
        assert value(samples, "cloudlb_refused_total", reason="no_backend", **refused) == 0
        held.close()

    in_lab(scenario)


def test_udp_flows_are_counted_as_connections() -> None:
    async def scenario(lab: Lab) -> None:
        u1 = await lab.udp("u1", "127.0.0.11")
        config = lab.listener([u1], protocol=Protocol.UDP)
        await lab.serve(config)
        client = await UdpClient.open(config)
        for _ in range(3):
            assert await client.ask(b"abc") == b"u1:abc"

        samples = scrape(lab.registry)

        labels = {"lb": "lb-test", "listener": config.name, "target": str(u1.backend)}
        assert config.name.endswith("/UDP")
        assert value(samples, "cloudlb_connections_total", **labels) == 1
        assert value(samples, "cloudlb_active_connections", **labels) == 1
        assert value(samples, "cloudlb_bytes_total", direction="in", **labels) == 9
        assert value(samples, "cloudlb_bytes_total", direction="out", **labels) == 18
        client.close()

    in_lab(scenario)


def test_metrics_leave_the_registry_on_close() -> None:
    async def scenario(lab: Lab) -> None:
        b1 = await lab.echo("b1", "127.0.0.11")
        config = lab.listener([b1])
        await lab.serve(config)
        assert await request(config) == "b1"
        assert scrape(lab.registry)

        await lab.dp.close()

        assert scrape(lab.registry) == {}

    in_lab(scenario)


def test_registries() -> None:
    async def scenario(lab: Lab) -> None:
        private_a, private_b = Dataplane(), Dataplane()  # each gets its own registry
        assert private_a.registry is not private_b.registry
        with pytest.raises(ValueError, match="Duplicated timeseries"):
            Dataplane(metrics_registry=lab.registry)  # one data plane per registry
        await private_a.close()
        await private_b.close()

    in_lab(scenario)
