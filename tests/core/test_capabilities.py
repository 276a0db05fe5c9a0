"""required_features maps a spec onto what it needs; check_supported refuses a spec naming every missing feature."""

from __future__ import annotations

from typing import Any

import pytest

from cloudlb.capabilities import check_supported, required_features
from cloudlb.errors import UnsupportedFeatureError
from cloudlb.model import (
    Algorithm,
    Feature,
    HealthCheck,
    HealthCheckProtocol,
    IPFamily,
    Listener,
    LoadBalancerSpec,
    Protocol,
    ProxyProtocol,
    Scheme,
    SessionAffinity,
    TargetMode,
)

F = Feature
BASELINE = {F.TCP, F.NODE_TARGETS, F.ALGORITHM_ROUND_ROBIN}


def spec(*protocols: Protocol, **fields: Any) -> LoadBalancerSpec:
    listeners = tuple(
        Listener(name=f"p{i}", protocol=protocol, port=80 + i)
        for i, protocol in enumerate(protocols or (Protocol.TCP,))
    )
    return LoadBalancerSpec(cluster="c", namespace="ns", name="svc", uid="u", listeners=listeners, **fields)


@pytest.mark.parametrize(
    ("given", "needs"),
    [
        pytest.param(spec(), BASELINE, id="defaults"),
        pytest.param(spec(Protocol.UDP), {F.UDP, F.NODE_TARGETS, F.ALGORITHM_ROUND_ROBIN}, id="udp"),
        pytest.param(spec(Protocol.SCTP), {F.SCTP, F.NODE_TARGETS, F.ALGORITHM_ROUND_ROBIN}, id="sctp"),
        pytest.param(spec(Protocol.TCP, Protocol.TCP), BASELINE, id="two-tcp-is-not-mixed"),
        pytest.param(spec(Protocol.TCP, Protocol.UDP), BASELINE | {F.UDP, F.MIXED_PROTOCOLS}, id="mixed"),
        pytest.param(spec(source_ranges=("10.0.0.0/8",)), BASELINE | {F.SOURCE_RANGES}, id="source-ranges"),
        pytest.param(spec(source_ranges=("0.0.0.0/0", "::/0")), BASELINE, id="source-ranges-everything"),
        pytest.param(
            spec(source_ranges=("0.0.0.0/0", "10.0.0.0/8")), BASELINE | {F.SOURCE_RANGES}, id="everything-and-more"
        ),
        pytest.param(spec(session_affinity=SessionAffinity.CLIENT_IP), BASELINE | {F.SESSION_AFFINITY}, id="affinity"),
        pytest.param(
            spec(target_mode=TargetMode.POD), {F.TCP, F.POD_TARGETS, F.ALGORITHM_ROUND_ROBIN}, id="pod-targets"
        ),
        pytest.param(spec(scheme=Scheme.INTERNAL), BASELINE | {F.INTERNAL}, id="internal"),
        pytest.param(spec(load_balancer_ip="10.0.0.5"), BASELINE | {F.LOAD_BALANCER_IP}, id="load-balancer-ip"),
        pytest.param(spec(ip_families=(IPFamily.IPV6,)), BASELINE | {F.IPV6}, id="ipv6"),
        pytest.param(spec(ip_families=(IPFamily.IPV4, IPFamily.IPV6)), BASELINE | {F.IPV6}, id="dual-stack"),
        pytest.param(spec(proxy_protocol=ProxyProtocol.V1), BASELINE | {F.PROXY_PROTOCOL}, id="proxy-protocol"),
        pytest.param(
            spec(health_check=HealthCheck(protocol=HealthCheckProtocol.HTTP)),
            BASELINE | {F.HTTP_HEALTH_CHECK},
            id="http-check",
        ),
        pytest.param(
            spec(health_check=HealthCheck(protocol=HealthCheckProtocol.HTTPS)),
            BASELINE | {F.HTTP_HEALTH_CHECK},
            id="https-check",
        ),
        pytest.param(
            spec(algorithm=Algorithm.RANDOM), {F.TCP, F.NODE_TARGETS, F.ALGORITHM_RANDOM}, id="algorithm-random"
        ),
        pytest.param(
            spec(algorithm=Algorithm.LEAST_CONNECTIONS),
            {F.TCP, F.NODE_TARGETS, F.ALGORITHM_LEAST_CONNECTIONS},
            id="algorithm-least-connections",
        ),
        pytest.param(
            spec(algorithm=Algorithm.SOURCE_IP),
            {F.TCP, F.NODE_TARGETS, F.ALGORITHM_SOURCE_IP},
            id="algorithm-source-ip",
        ),
        pytest.param(
            LoadBalancerSpec(cluster="c", namespace="ns", name="svc", scheme=Scheme.INTERNAL), set(), id="identity-only"
        ),
    ],
)
def test_required_features(given: LoadBalancerSpec, needs: set[Feature]) -> None:
    assert required_features(given) == needs


def test_every_feature_but_tls_is_reachable_from_some_spec() -> None:
    """Guards the mapping: a Feature no spec can ask for is either dead or forgotten here (TLS has no spec field)."""
    specs = [
        spec(Protocol.TCP, Protocol.UDP, Protocol.SCTP),
        spec(
            target_mode=TargetMode.POD,
            scheme=Scheme.INTERNAL,
            source_ranges=("10.0.0.0/8",),
            session_affinity=SessionAffinity.CLIENT_IP,
            load_balancer_ip="10.0.0.5",
            ip_families=(IPFamily.IPV6,),
            proxy_protocol=ProxyProtocol.V2,
            health_check=HealthCheck(protocol=HealthCheckProtocol.HTTP),
        ),
        *(spec(algorithm=algorithm) for algorithm in Algorithm),
    ]
    reached = set().union(*(required_features(s) for s in specs))

    assert set(Feature) - reached == {Feature.TLS}


def test_check_supported_names_every_missing_feature() -> None:
    wanted = spec(Protocol.TCP, Protocol.UDP, session_affinity=SessionAffinity.CLIENT_IP)

    with pytest.raises(UnsupportedFeatureError) as error:
        check_supported("tiny", {F.TCP, F.NODE_TARGETS, F.ALGORITHM_ROUND_ROBIN}, wanted)

    assert error.value.provider == "tiny"
    assert error.value.features == ("mixed-protocols", "session-affinity", "udp")
    assert "ns/svc" in str(error.value)


def test_check_supported_accepts_a_spec_within_the_capabilities() -> None:
    check_supported("full", frozenset(Feature), spec(Protocol.TCP, Protocol.UDP, scheme=Scheme.INTERNAL))
