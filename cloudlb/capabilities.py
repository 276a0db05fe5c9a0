"""What a spec asks of a provider, and the check every provider runs before it touches the cloud.

Where this sits: a provider declares ``capabilities`` (a frozenset of ``Feature``). At the start of ``plan()`` and
``ensure()``, before any cloud call, it calls ``check_supported(self.name, self.capabilities, spec)``, which maps the
spec onto features with ``required_features`` and raises ``UnsupportedFeatureError`` naming every missing one. The
check is up front so that a balancer is never half-built before the provider finds out it cannot finish it.
"""

from __future__ import annotations

from collections.abc import Iterable

from cloudlb.errors import UnsupportedFeatureError
from cloudlb.model import (
    Algorithm,
    Feature,
    HealthCheckProtocol,
    IPFamily,
    LoadBalancerSpec,
    Protocol,
    ProxyProtocol,
    Scheme,
    SessionAffinity,
    TargetMode,
)

__all__ = ["EVERYWHERE", "check_supported", "missing_features", "required_features"]

# Source ranges that restrict nothing; a spec listing only these needs no SOURCE_RANGES support.
EVERYWHERE = frozenset({"0.0.0.0/0", "::/0"})

_PROTOCOL = {Protocol.TCP: Feature.TCP, Protocol.UDP: Feature.UDP, Protocol.SCTP: Feature.SCTP}
_TARGETS = {TargetMode.NODE: Feature.NODE_TARGETS, TargetMode.POD: Feature.POD_TARGETS}
_ALGORITHM = {
    Algorithm.ROUND_ROBIN: Feature.ALGORITHM_ROUND_ROBIN,
    Algorithm.RANDOM: Feature.ALGORITHM_RANDOM,
    Algorithm.LEAST_CONNECTIONS: Feature.ALGORITHM_LEAST_CONNECTIONS,
    Algorithm.SOURCE_IP: Feature.ALGORITHM_SOURCE_IP,
}


def required_features(spec: LoadBalancerSpec) -> frozenset[Feature]:
    """Every feature a provider needs to honour ``spec``.

    A spec without listeners (an identity-only spec built to ``get`` or ``delete`` a Service that is gone) serves
    nothing, so it needs nothing. ``algorithm`` always maps to a feature, the default round-robin included: a
    provider declares the algorithm its balancer uses when none is asked for.
    """
    if not spec.listeners:
        return frozenset()
    needed = {_PROTOCOL[protocol] for protocol in spec.protocols}
    if len(spec.protocols) > 1:
        needed.add(Feature.MIXED_PROTOCOLS)
    if set(spec.source_ranges) - EVERYWHERE:
        needed.add(Feature.SOURCE_RANGES)
    if spec.session_affinity is SessionAffinity.CLIENT_IP:
        needed.add(Feature.SESSION_AFFINITY)
    needed.add(_TARGETS[spec.target_mode])
    if spec.scheme is Scheme.INTERNAL:
        needed.add(Feature.INTERNAL)
    if spec.load_balancer_ip:
        needed.add(Feature.LOAD_BALANCER_IP)
    if IPFamily.IPV6 in spec.ip_families:
        needed.add(Feature.IPV6)
    if spec.proxy_protocol is not ProxyProtocol.NONE:
        needed.add(Feature.PROXY_PROTOCOL)
    if spec.health_check.protocol in (HealthCheckProtocol.HTTP, HealthCheckProtocol.HTTPS):
        needed.add(Feature.HTTP_HEALTH_CHECK)
    needed.add(_ALGORITHM[spec.algorithm])
    return frozenset(needed)


def missing_features(capabilities: Iterable[Feature], spec: LoadBalancerSpec) -> frozenset[Feature]:
    """The features ``spec`` needs that ``capabilities`` lacks (empty when the spec is supported)."""
    return required_features(spec) - frozenset(capabilities)


def check_supported(provider_name: str, capabilities: Iterable[Feature], spec: LoadBalancerSpec) -> None:
    """Raise ``UnsupportedFeatureError`` listing every feature ``spec`` needs and the provider lacks.

    Call it before any cloud call: it makes none itself, so an unsupported spec costs the cloud nothing.
    """
    missing = missing_features(capabilities, spec)
    if missing:
        raise UnsupportedFeatureError(
            provider_name,
            (feature.value for feature in missing),
            detail=f"service {spec.ref}",
        )
