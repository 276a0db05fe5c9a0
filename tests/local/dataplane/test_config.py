"""The data plane's config values: keys, names, and what they reject."""

from __future__ import annotations

from typing import Any

import pytest

from cloudlb.model import Algorithm, Protocol, ProxyProtocol
from cloudlb_local.dataplane import Backend, HealthCheckConfig, ListenerConfig


def listener(**overrides: Any) -> ListenerConfig:
    fields: dict[str, Any] = {
        "lb_id": "lb-1",
        "address": "127.0.100.1",
        "port": 80,
        "protocol": Protocol.TCP,
        "backends": frozenset({Backend("127.0.0.11", 30080)}),
    }
    fields.update(overrides)
    return ListenerConfig(**fields)


def test_defaults_key_and_name() -> None:
    config = listener()
    assert config.key == ("127.0.100.1", 80, Protocol.TCP)
    assert config.name == "127.0.100.1:80/TCP"
    assert listener(address="::1", protocol=Protocol.UDP).name == "[::1]:80/UDP"
    assert (config.algorithm, config.proxy_protocol, config.source_ranges) == (
        Algorithm.ROUND_ROBIN,
        ProxyProtocol.NONE,
        (),
    )
    assert (config.affinity_timeout, config.udp_idle_timeout, config.drain_timeout) == (10800.0, 60.0, 300.0)
    assert str(Backend("::1", 8080)) == "[::1]:8080"
    assert hash(config) == hash(listener())  # frozen and hashable, for the daemon's diffs


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        pytest.param({"address": "lb.example"}, "does not appear to be an IPv4 or IPv6 address", id="name-not-ip"),
        pytest.param({"port": 0}, "listener port: 0 is not a port", id="port-zero"),
        pytest.param({"port": 65536}, "listener port: 65536 is not a port", id="port-high"),
        pytest.param({"protocol": Protocol.SCTP}, "serves TCP and UDP, not SCTP", id="sctp"),
        pytest.param({"source_ranges": ("10.0.0.0/33",)}, "10.0.0.0/33", id="bad-cidr"),
        pytest.param({"connect_attempts": 0}, "connect_attempts", id="no-attempts"),
        pytest.param({"udp_idle_timeout": 0}, "udp_idle_timeout must be positive", id="idle-zero"),
        pytest.param({"drain_timeout": -1}, "drain_timeout", id="negative-drain"),
    ],
)
def test_listener_rejects(overrides: dict[str, Any], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        listener(**overrides)


@pytest.mark.parametrize(
    ("build", "message"),
    [
        pytest.param(lambda: Backend("node-1", 80), "does not appear to be", id="backend-name"),
        pytest.param(lambda: Backend("127.0.0.1", 0), "backend port: 0", id="backend-port"),
        pytest.param(lambda: HealthCheckConfig(port=70000), "health check port: 70000", id="check-port"),
        pytest.param(lambda: HealthCheckConfig(interval=0), "interval and timeout", id="check-interval"),
        pytest.param(lambda: HealthCheckConfig(healthy_threshold=0), "thresholds", id="check-threshold"),
        pytest.param(lambda: HealthCheckConfig(path="healthz"), "must start with '/'", id="check-path"),
    ],
)
def test_parts_reject(build: Any, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        build()
