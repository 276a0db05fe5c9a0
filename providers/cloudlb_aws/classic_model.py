"""The desired classic ELB for a spec, and the checks a classic ELB needs before any call.

Where this sits: pure functions from (``LoadBalancerSpec``, ``ServiceOptions``, ``AwsOptions``) to the frozen
``DesiredClassic`` that ``classic.ClassicBackend`` diffs against what it observed. No I/O.

A classic ELB forwards TCP (or TLS, terminated with the ``-ssl-cert`` certificate on the ``-ssl-ports``) from each
listener port to the listener's node port on every registered instance, and checks health on one target for the
whole balancer. So it takes node targets only, TCP only, and its health check runs on the first port's node port
unless one is named (ETP=Local: HTTP on healthCheckNodePort ``/healthz``). The name carries the scheme, which AWS
cannot change, so a scheme change creates a new balancer before the old one is deleted.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, NamedTuple

from cloudlb.annotations import annotation_path
from cloudlb.errors import InvalidSpecError, UnsupportedFeatureError
from cloudlb.fields import index, show
from cloudlb.model import (
    Algorithm,
    HealthCheckProtocol,
    LoadBalancerSpec,
    Protocol,
    ProxyProtocol,
    Scheme,
    SessionAffinity,
    TargetMode,
)
from cloudlb.naming import AWS_NAME_RULES, resource_name
from cloudlb_aws.nlb_model import instance_id
from cloudlb_aws.options import EIP_ALLOCATIONS, TG_ATTRIBUTES, AwsOptions, ServiceOptions

__all__ = [
    "MAX_CLASSIC_LISTENERS",
    "ClassicListener",
    "DesiredClassic",
    "check_classic",
    "classic_name",
    "desired_classic",
]

MAX_CLASSIC_LISTENERS = 100
# field: (lowest, highest) AWS accepts for a classic ELB's health check
_HC_LIMITS = {"interval": (5, 300), "timeout": (2, 60), "healthy_threshold": (2, 10), "unhealthy_threshold": (2, 10)}


class ClassicListener(NamedTuple):
    """One classic listener as DescribeLoadBalancers reports it (the instance side always speaks TCP)."""

    port: int
    protocol: str  # TCP | SSL
    instance_port: int
    certificate: str | None = None

    def label(self) -> str:
        return f"{self.protocol}-{self.port}->{self.instance_port}"

    def to_aws(self) -> dict[str, Any]:
        item: dict[str, Any] = {
            "Protocol": self.protocol,
            "LoadBalancerPort": self.port,
            "InstanceProtocol": "TCP",
            "InstancePort": self.instance_port,
        }
        if self.certificate:
            item["SSLCertificateId"] = self.certificate
        return item


@dataclass(frozen=True, slots=True)
class DesiredClassic:
    """The classic ELB for one Service. ``subnets`` are the explicit ones (ids or Name tags), empty to discover."""

    name: str
    scheme: str  # internet-facing | internal
    subnets: tuple[str, ...]
    listeners: frozenset[ClassicListener]
    health_check: Mapping[str, Any]  # the HealthCheck of ConfigureHealthCheck
    health_port: int
    instances: frozenset[str]


def classic_name(spec: LoadBalancerSpec) -> str:
    """The classic ELB's name: at most 32 characters, apart from the NLB's, and carrying the scheme."""
    return resource_name(spec.ref, AWS_NAME_RULES, "ci" if spec.scheme is Scheme.INTERNAL else "c")


def _unsupported(feature: str, spec: LoadBalancerSpec, detail: str) -> UnsupportedFeatureError:
    return UnsupportedFeatureError("aws", [feature], detail=f"service {spec.ref}: a classic ELB {detail}")


def check_classic(spec: LoadBalancerSpec, service: ServiceOptions) -> None:
    """What a classic ELB cannot do, refused before any call (``validate.check_spec`` checked the rest)."""
    if spec.target_mode is TargetMode.POD:
        raise _unsupported("pod-targets", spec, "registers instances only; use the NLB for pod targets")
    for i, listener in enumerate(spec.listeners):
        if listener.protocol is not Protocol.TCP:
            raise _unsupported(listener.protocol.value.lower(), spec, f"carries TCP only (spec.ports[{i}])")
        if not listener.node_port:
            raise InvalidSpecError(index("spec.ports", i) + ".nodePort", "a classic ELB forwards to a node port")
    if len({listener.port for listener in spec.listeners}) != len(spec.listeners):
        raise InvalidSpecError("spec.ports", "a classic ELB has one listener per port")
    if len(spec.listeners) > MAX_CLASSIC_LISTENERS:
        raise InvalidSpecError("spec.ports", f"a classic ELB has at most {MAX_CLASSIC_LISTENERS} listeners")
    if spec.proxy_protocol is ProxyProtocol.V2:
        raise _unsupported("proxy-protocol", spec, "sends PROXY protocol v1 only")
    if spec.session_affinity is SessionAffinity.CLIENT_IP or spec.algorithm is Algorithm.SOURCE_IP:
        raise _unsupported("session-affinity", spec, "has no source-IP stickiness for TCP")
    if service.eip_allocations:
        raise InvalidSpecError(annotation_path(EIP_ALLOCATIONS), "only a Network Load Balancer takes Elastic IPs")
    if service.target_group_attributes:
        raise InvalidSpecError(annotation_path(TG_ATTRIBUTES), "only a Network Load Balancer has target groups")
    hc = service.health_check
    for field, (low, high) in _HC_LIMITS.items():
        value = getattr(hc, field)
        if value != int(value) or not low <= value <= high:
            raise InvalidSpecError(
                f"health_check.{field}", f"{value:g}: a classic ELB health check takes a whole number in {low}..{high}"
            )
    if hc.timeout >= hc.interval:
        raise InvalidSpecError("health_check.timeout", f"{hc.timeout:g}s: must be shorter than the interval")
    name = classic_name(spec)
    if not AWS_NAME_RULES.is_valid(name):
        raise InvalidSpecError("metadata.name", f"{show(name)} is not a valid AWS load balancer name")


def desired_classic(spec: LoadBalancerSpec, service: ServiceOptions, options: AwsOptions) -> DesiredClassic:
    """Everything the classic ELB for ``spec`` should be (``check_classic`` passed). Raises ``InvalidSpecError``
    for a node target without an instance id."""
    listeners = frozenset(
        ClassicListener(
            listener.port,
            "SSL" if service.is_tls_port(listener.port, listener.name) else "TCP",
            listener.node_port or 0,
            service.ssl_certificate if service.is_tls_port(listener.port, listener.name) else None,
        )
        for listener in spec.listeners
    )
    instances = frozenset(
        instance_id(target, index("spec.ports", i))
        for i, listener in enumerate(spec.listeners)
        for target in listener.targets
    )
    hc = service.health_check
    first = spec.listeners[0].node_port if spec.listeners else None
    port = hc.port or first or 0
    target = f"{hc.protocol.value}:{port}"
    if hc.protocol is not HealthCheckProtocol.TCP:
        target += hc.path or "/"
    health_check = {
        "Target": target,
        "Interval": int(hc.interval),
        "Timeout": int(hc.timeout),
        "HealthyThreshold": hc.healthy_threshold,
        "UnhealthyThreshold": hc.unhealthy_threshold,
    }
    return DesiredClassic(
        name=classic_name(spec),
        scheme="internal" if spec.scheme is Scheme.INTERNAL else "internet-facing",
        subnets=service.subnets or options.subnets,
        listeners=listeners,
        health_check=health_check,
        health_port=port,
        instances=instances,
    )
