"""The desired Network Load Balancer for a spec: names, listeners, target groups, health checks, attributes, targets.

Where this sits: pure functions from (``LoadBalancerSpec``, ``ServiceOptions``, ``AwsOptions``) to the frozen
``DesiredLoadBalancer`` that ``validate`` checks and ``nlb`` diffs against what it observed. No I/O.

The shape: one listener and one target group per Service port; TCP and UDP on the same port become one TCP_UDP
listener and target group (an NLB listens once per port), which needs both to reach the same targets. Node targets
are instances (ids from the Node's ``spec.providerID``), pod targets are IPs.

Names carry what AWS cannot modify, so that a change to it yields a new name and the replacement can be created
before the old one is deleted (names are unique per region): the NLB's name carries its scheme, whether it has
security groups (when that differs from the provider's default) and its EIP allocations; each target group's name
carries the NLB's, its protocol, listener port, target type and port.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, NamedTuple

from cloudlb.errors import InvalidSpecError, UnsupportedFeatureError
from cloudlb.fields import child, index
from cloudlb.model import (
    Algorithm,
    HealthCheck,
    HealthCheckProtocol,
    Listener,
    LoadBalancerSpec,
    Protocol,
    ProxyProtocol,
    Scheme,
    SessionAffinity,
    Target,
    TargetMode,
)
from cloudlb.naming import AWS_NAME_RULES, resource_name
from cloudlb_aws.options import TG_ATTRIBUTES, AwsOptions, ServiceOptions

__all__ = [
    "DEFAULT_ATTRIBUTES",
    "AwsTarget",
    "DesiredListener",
    "DesiredLoadBalancer",
    "DesiredTargetGroup",
    "desired_load_balancer",
    "health_check_params",
    "instance_id",
    "load_balancer_name",
]

INTERNET_FACING = "internet-facing"
INTERNAL = "internal"
PROXY_V2 = "proxy_protocol_v2.enabled"
STICKY = "stickiness.enabled"
STICKY_TYPE = "stickiness.type"
# What AWS reports for a new NLB target group; a key it leaves out of DescribeTargetGroupAttributes has this value.
DEFAULT_ATTRIBUTES: Mapping[str, str] = {
    PROXY_V2: "false",
    STICKY: "false",
    STICKY_TYPE: "source_ip",
    "deregistration_delay.timeout_seconds": "300",
    "deregistration_delay.connection_termination.enabled": "false",
    "load_balancing.cross_zone.enabled": "use_load_balancer_configuration",
}
_INSTANCE = re.compile(r"aws:///(?:[^/]*/)?(i-[0-9a-fA-F]+)\Z")


class AwsTarget(NamedTuple):
    """A registered target as ELBv2 knows it: an instance id or an IP, and a port."""

    id: str
    port: int

    def __str__(self) -> str:
        return f"{self.id}:{self.port}"


@dataclass(frozen=True, slots=True)
class DesiredTargetGroup:
    """One target group. ``protocol``, ``port`` and ``target_type`` are fixed at creation (they are in ``name``)."""

    name: str
    label: str
    protocol: str  # TCP | UDP | TCP_UDP
    port: int
    target_type: str  # instance | ip
    health_check: Mapping[str, Any]  # the HealthCheck* fields of Create/ModifyTargetGroup
    attributes: Mapping[str, str]  # only the keys cloudlb sets; others are left as they are
    targets: frozenset[AwsTarget]


@dataclass(frozen=True, slots=True)
class DesiredListener:
    """One listener: ``target_group`` is the name of the ``DesiredTargetGroup`` it forwards to."""

    port: int
    protocol: str  # TCP | UDP | TCP_UDP | TLS
    certificate: str | None
    target_group: str
    label: str
    ports: tuple[int, ...]  # the Service ports (spec.ports indices) it serves, for error paths


@dataclass(frozen=True, slots=True)
class DesiredLoadBalancer:
    """The NLB for one Service. ``subnets`` are the explicit ones (ids or Name tags), empty to discover them."""

    name: str
    scheme: str  # internet-facing | internal
    attaches_groups: bool
    subnets: tuple[str, ...]
    eip_allocations: tuple[str, ...]
    listeners: tuple[DesiredListener, ...]
    target_groups: tuple[DesiredTargetGroup, ...]

    def target_group(self, name: str) -> DesiredTargetGroup:
        """The desired target group called ``name``."""
        return next(tg for tg in self.target_groups if tg.name == name)


def instance_id(target: Target, where: str) -> str:
    """The EC2 instance id in a node target's providerID (``aws:///us-east-1a/i-0abc...``)."""
    match = _INSTANCE.match(target.provider_id or "")
    if match is None:
        node = child("nodes", target.node_name) if target.node_name else where
        shown = repr(target.provider_id) if target.provider_id else "missing"
        raise InvalidSpecError(
            f"{node}.spec.providerID", f"{shown}: node targets on AWS need an instance id (aws:///<zone>/i-...)"
        )
    return match.group(1)


def _variant(spec: LoadBalancerSpec, service: ServiceOptions, options: AwsOptions, attaches_groups: bool) -> list[str]:
    flags = "i" if spec.scheme is Scheme.INTERNAL else ""
    if attaches_groups != options.manage_security_groups:
        flags += "s" if attaches_groups else "n"
    parts = [flags] if flags else []
    if service.eip_allocations:
        mapping = ",".join((*service.eip_allocations, "@", *service.subnets))
        parts.append("e" + hashlib.sha256(mapping.encode()).hexdigest()[:6])
    return parts


def load_balancer_name(
    spec: LoadBalancerSpec, service: ServiceOptions, options: AwsOptions, *, attaches_groups: bool
) -> str:
    """The NLB's name: at most 32 characters, unique through naming's hash, and carrying the unmodifiable fields."""
    return resource_name(spec.ref, AWS_NAME_RULES, *_variant(spec, service, options, attaches_groups))


def health_check_params(hc: HealthCheck) -> dict[str, Any]:
    """The HealthCheck* fields of CreateTargetGroup/ModifyTargetGroup for ``hc`` (validated by ``validate``)."""
    params: dict[str, Any] = {
        "HealthCheckEnabled": True,
        "HealthCheckProtocol": hc.protocol.value,
        "HealthCheckPort": str(hc.port) if hc.port else "traffic-port",
        "HealthCheckIntervalSeconds": int(hc.interval),
        "HealthCheckTimeoutSeconds": int(hc.timeout),
        "HealthyThresholdCount": hc.healthy_threshold,
        "UnhealthyThresholdCount": hc.unhealthy_threshold,
    }
    if hc.protocol is not HealthCheckProtocol.TCP:
        params["HealthCheckPath"] = hc.path or "/"
    return params


def _attributes(spec: LoadBalancerSpec, service: ServiceOptions) -> dict[str, str]:
    """The spec's proxy protocol and affinity as attributes, under the user's ``-target-group-attributes``.

    The spec's wish wins over the defaults, and the user's annotation over the defaults too; the two must not
    contradict each other. NLB stickiness is by source IP and has no timeout, so ``affinity_timeout`` is not used.
    """
    sticky = spec.session_affinity is SessionAffinity.CLIENT_IP or spec.algorithm is Algorithm.SOURCE_IP
    asked = {PROXY_V2: spec.proxy_protocol is ProxyProtocol.V2, STICKY: sticky}
    attrs = {key: "true" if on else "false" for key, on in asked.items()}
    if sticky:
        attrs[STICKY_TYPE] = "source_ip"
    for key, value in service.target_group_attributes.items():
        if asked.get(key) and value.strip().lower() != "true":
            raise InvalidSpecError(
                child("metadata.annotations", TG_ATTRIBUTES),
                f"{key}={value} contradicts the Service, which asks for it on (proxy protocol or ClientIP affinity)",
            )
        attrs[key] = value.strip()
    return attrs


def _group_by_port(spec: LoadBalancerSpec) -> dict[int, list[tuple[int, Listener]]]:
    groups: dict[int, list[tuple[int, Listener]]] = {}
    for i, listener in enumerate(spec.listeners):
        groups.setdefault(listener.port, []).append((i, listener))
    return groups


def _aws_targets(listener: Listener, mode: TargetMode, where: str) -> frozenset[AwsTarget]:
    if mode is TargetMode.NODE:
        return frozenset(AwsTarget(instance_id(t, where), t.port) for t in listener.targets)
    return frozenset(AwsTarget(t.ip, t.port) for t in listener.targets)


def _backend_port(listener: Listener, mode: TargetMode) -> int:
    """The target group's own port: targets are registered with theirs, so this is the default they override."""
    if mode is TargetMode.NODE and listener.node_port:
        return listener.node_port
    if isinstance(listener.target_port, int):
        return listener.target_port
    return min((t.port for t in listener.targets), default=listener.port)


def desired_load_balancer(
    spec: LoadBalancerSpec, service: ServiceOptions, options: AwsOptions, *, attaches_groups: bool
) -> DesiredLoadBalancer:
    """Everything the NLB for ``spec`` should be. Raises ``InvalidSpecError``/``UnsupportedFeatureError`` for a
    spec no NLB can serve (a node without an instance id, TCP and UDP on one port reaching different targets)."""
    variant = _variant(spec, service, options, attaches_groups)
    target_type = "instance" if spec.target_mode is TargetMode.NODE else "ip"
    health_check = health_check_params(service.health_check)
    attributes = _attributes(spec, service)
    listeners: list[DesiredListener] = []
    groups: list[DesiredTargetGroup] = []
    for port, members in _group_by_port(spec).items():
        first_index, first = members[0]
        where = index("spec.ports", first_index)
        targets = _aws_targets(first, spec.target_mode, where)
        protocols = {listener.protocol for _, listener in members}
        for i, other in members[1:]:
            if _aws_targets(other, spec.target_mode, index("spec.ports", i)) != targets:
                raise UnsupportedFeatureError(
                    "aws",
                    ["mixed-protocols"],
                    detail=f"spec.ports[{first_index}] and spec.ports[{i}] share port {port}: an NLB serves both "
                    "through one TCP_UDP listener, so they need the same nodePort (or targetPort for pod targets)",
                )
        tg_protocol = "TCP_UDP" if protocols == {Protocol.TCP, Protocol.UDP} else first.protocol.value
        names = "+".join(listener.name for _, listener in members if listener.name)
        backend_port = _backend_port(first, spec.target_mode)
        tls = tg_protocol == "TCP" and any(service.is_tls_port(port, lst.name) for _, lst in members)
        listener_protocol = "TLS" if tls else tg_protocol
        label = f"{names} ({listener_protocol}-{port})" if names else f"{listener_protocol}-{port}"
        tg_part = f"{tg_protocol.lower()}{port}{target_type[0]}{backend_port}"
        tg_name = resource_name(spec.ref, AWS_NAME_RULES, *variant, tg_part)
        groups.append(
            DesiredTargetGroup(
                name=tg_name,
                label=label,
                protocol=tg_protocol,
                port=backend_port,
                target_type=target_type,
                health_check=health_check,
                attributes=attributes,
                targets=targets,
            )
        )
        listeners.append(
            DesiredListener(
                port=port,
                protocol=listener_protocol,
                certificate=service.ssl_certificate if tls else None,
                target_group=tg_name,
                label=label,
                ports=tuple(i for i, _ in members),
            )
        )
    return DesiredLoadBalancer(
        name=resource_name(spec.ref, AWS_NAME_RULES, *variant),
        scheme=INTERNAL if spec.scheme is Scheme.INTERNAL else INTERNET_FACING,
        attaches_groups=attaches_groups,
        subnets=service.subnets or options.subnets,
        eip_allocations=service.eip_allocations,
        listeners=tuple(listeners),
        target_groups=tuple(groups),
    )
