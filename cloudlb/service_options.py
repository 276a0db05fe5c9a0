"""The per-field policies of the Kubernetes mapping: health check, scheme, affinity, source ranges and the rest.

Where this sits: ``kube.py`` calls one function here per field group of ``LoadBalancerSpec``. Each reads the
Service's ``spec`` and annotations (through ``annotations.py``), applies the defaults and cross-field rules that
design.md sets, and raises ``InvalidSpecError`` at the offending field.
"""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from cloudlb.annotations import (
    ALGORITHM,
    AWS_INTERNAL,
    AWS_SCHEME,
    AZURE_INTERNAL,
    HC_HEALTHY,
    HC_INTERVAL,
    HC_PATH,
    HC_PORT,
    HC_PROTOCOL,
    HC_TIMEOUT,
    HC_UNHEALTHY,
    INTERNAL,
    OPENSTACK_INTERNAL,
    PROXY_PROTOCOL,
    SOURCE_RANGES,
    annotation_path,
    parse_bool,
    parse_choice,
    parse_tags,
)
from cloudlb.errors import InvalidSpecError
from cloudlb.fields import index, opt_int, opt_list, opt_map, opt_str, parse_seconds, port_number, show
from cloudlb.model import (
    Algorithm,
    FrozenDict,
    HealthCheck,
    HealthCheckProtocol,
    IPFamily,
    ProxyProtocol,
    Scheme,
    SessionAffinity,
    TargetMode,
    TrafficPolicy,
)

__all__ = [
    "Traffic",
    "affinity",
    "health_check",
    "ip_families",
    "is_port_name",
    "load_balancer_ip",
    "parse_health_port",
    "proxy_protocol",
    "scheme",
    "source_ranges",
    "tags",
    "traffic",
]

LOCAL_HEALTH_PATH = "/healthz"  # what kube-proxy serves on healthCheckNodePort
DEFAULT_AFFINITY_TIMEOUT = 10800
_PORT_NAME = re.compile(r"[a-z0-9](?:[a-z0-9-]{0,13}[a-z0-9])?\Z")
_FAMILIES = {f.value: f for f in IPFamily}
_POLICIES = {p.value: p for p in TrafficPolicy}
_AFFINITIES = {a.value: a for a in SessionAffinity}
_ALGORITHMS = {a.value: a for a in Algorithm}
_HC_PROTOCOLS = {p.value.lower(): p for p in HealthCheckProtocol}
_PROXY = {"v1": ProxyProtocol.V1, "v2": ProxyProtocol.V2, "true": ProxyProtocol.V2, "false": ProxyProtocol.NONE}


def is_port_name(value: str) -> bool:
    """Kubernetes' IANA_SVC_NAME: what a named ``targetPort`` must look like."""
    return bool(_PORT_NAME.match(value)) and "--" not in value and any(c.isalpha() for c in value)


def ip_families(spec: Mapping[str, Any]) -> tuple[IPFamily, ...]:
    raw = opt_list(spec, "ipFamilies", "spec")
    if not raw:
        return (IPFamily.IPV4,)
    if len(raw) > 2:
        raise InvalidSpecError("spec.ipFamilies", f"at most two families, got {len(raw)}")
    out: list[IPFamily] = []
    for i, value in enumerate(raw):
        family = _FAMILIES.get(value) if isinstance(value, str) else None
        if family is None:
            raise InvalidSpecError(index("spec.ipFamilies", i), f"{show(value)} is not one of: IPv4, IPv6")
        if family in out:
            raise InvalidSpecError(index("spec.ipFamilies", i), f"{family} is listed twice")
        out.append(family)
    return tuple(out)


def load_balancer_ip(spec: Mapping[str, Any]) -> str | None:
    value = opt_str(spec, "loadBalancerIP", "spec")
    if not value:
        return None
    try:
        return str(ipaddress.ip_address(value))
    except ValueError:
        raise InvalidSpecError("spec.loadBalancerIP", f"{show(value)} is not an IP address") from None


@dataclass(frozen=True, slots=True)
class Traffic:
    policy: TrafficPolicy
    health_check_node_port: int | None
    probe_node_port: bool  # node targets with policy Local: the balancer must probe kube-proxy's health port


def traffic(spec: Mapping[str, Any], mode: TargetMode) -> Traffic:
    text = opt_str(spec, "externalTrafficPolicy", "spec") or "Cluster"
    policy = _POLICIES.get(text)
    if policy is None:
        raise InvalidSpecError("spec.externalTrafficPolicy", f"{show(text)} is not one of: Cluster, Local")
    node_port = port_number(spec, "healthCheckNodePort", "spec")
    if policy is TrafficPolicy.CLUSTER and node_port is not None:
        raise InvalidSpecError("spec.healthCheckNodePort", "may only be set with externalTrafficPolicy: Local")
    probe = policy is TrafficPolicy.LOCAL and mode is TargetMode.NODE
    if probe and node_port is None:
        raise InvalidSpecError(
            "spec.healthCheckNodePort",
            "required with externalTrafficPolicy: Local and node targets (the balancer probes it to find the "
            "nodes that run a ready pod)",
        )
    return Traffic(policy, node_port, probe)


def health_check(annotations: Mapping[str, str], traffic: Traffic) -> HealthCheck:
    """The defaults (TCP on the traffic port, or kube-proxy's /healthz for Local) overridden by annotations."""
    if traffic.probe_node_port:
        base = HealthCheck(HealthCheckProtocol.HTTP, traffic.health_check_node_port, LOCAL_HEALTH_PATH)
    else:
        base = HealthCheck()
    protocol: HealthCheckProtocol = parse_choice(annotations, HC_PROTOCOL, _HC_PROTOCOLS) or base.protocol
    path = annotations.get(HC_PATH)
    if path is not None:
        if protocol is HealthCheckProtocol.TCP:
            raise InvalidSpecError(
                annotation_path(HC_PATH), f"only applies to HTTP and HTTPS health checks; set {HC_PROTOCOL}"
            )
        if not path.startswith("/"):
            raise InvalidSpecError(annotation_path(HC_PATH), f"{show(path)} must start with /")
    path = None if protocol is HealthCheckProtocol.TCP else (path or base.path or "/")
    port = base.port
    if HC_PORT in annotations:
        port = parse_health_port(annotations[HC_PORT], annotation_path(HC_PORT))
    interval = _seconds(annotations, HC_INTERVAL, base.interval)
    timeout = _seconds(annotations, HC_TIMEOUT, base.timeout)
    if timeout >= interval:
        where = HC_TIMEOUT if HC_TIMEOUT in annotations else HC_INTERVAL
        raise InvalidSpecError(
            annotation_path(where), f"the timeout ({timeout:g}s) must be less than the interval ({interval:g}s)"
        )
    return HealthCheck(
        protocol=protocol,
        port=port,
        path=path,
        interval=interval,
        timeout=timeout,
        healthy_threshold=_threshold(annotations, HC_HEALTHY, base.healthy_threshold),
        unhealthy_threshold=_threshold(annotations, HC_UNHEALTHY, base.unhealthy_threshold),
    )


def parse_health_port(value: str, path: str) -> int | None:
    """A health-check port annotation: a port number, or ``traffic-port`` (None: each listener's own target port).
    ``path`` is the annotation's path for the ``InvalidSpecError`` (``annotation_path(key)``)."""
    text = value.strip()
    if text == "traffic-port":
        return None
    if text.isascii() and text.isdigit() and 1 <= int(text) <= 65535:
        return int(text)
    raise InvalidSpecError(path, f"{show(value)} is not a port (1..65535) or traffic-port")


def _seconds(annotations: Mapping[str, str], key: str, default: float) -> float:
    value = annotations.get(key)
    return default if value is None else parse_seconds(value, annotation_path(key))


def _threshold(annotations: Mapping[str, str], key: str, default: int) -> int:
    value = annotations.get(key)
    if value is None:
        return default
    text = value.strip()
    if text.isascii() and text.isdigit() and 1 <= int(text) <= 10:
        return int(text)
    raise InvalidSpecError(annotation_path(key), f"{show(value)} is not an integer from 1 to 10")


def affinity(spec: Mapping[str, Any], annotations: Mapping[str, str]) -> tuple[Algorithm, SessionAffinity, int]:
    """Algorithm, session affinity and its timeout. ClientIP affinity implies (and requires) source-ip."""
    text = opt_str(spec, "sessionAffinity", "spec") or "None"
    mode = _AFFINITIES.get(text)
    if mode is None:
        raise InvalidSpecError("spec.sessionAffinity", f"{show(text)} is not one of: None, ClientIP")
    algorithm: Algorithm | None = parse_choice(annotations, ALGORITHM, _ALGORITHMS)
    if mode is SessionAffinity.NONE:
        return algorithm or Algorithm.ROUND_ROBIN, mode, DEFAULT_AFFINITY_TIMEOUT
    if algorithm is not None and algorithm is not Algorithm.SOURCE_IP:
        raise InvalidSpecError(
            annotation_path(ALGORITHM),
            f"{show(annotations[ALGORITHM])} conflicts with spec.sessionAffinity: ClientIP, which needs "
            f'"{Algorithm.SOURCE_IP}"; change or remove one',
        )
    client_ip = opt_map(opt_map(spec, "sessionAffinityConfig", "spec"), "clientIP", "spec.sessionAffinityConfig")
    timeout = opt_int(client_ip, "timeoutSeconds", "spec.sessionAffinityConfig.clientIP", low=1, high=86400)
    return Algorithm.SOURCE_IP, mode, DEFAULT_AFFINITY_TIMEOUT if timeout is None else timeout


def scheme(annotations: Mapping[str, str]) -> Scheme:
    """Internal or external. ``cloudlb.io/internal`` and the anchors' equivalents vote; they must agree."""
    votes: list[tuple[str, bool]] = []
    for key, vote in (
        (INTERNAL, parse_bool(annotations, INTERNAL)),
        (AWS_INTERNAL, _aws_internal(annotations)),
        (AWS_SCHEME, parse_choice(annotations, AWS_SCHEME, {"internal": True, "internet-facing": False})),
        (AZURE_INTERNAL, parse_bool(annotations, AZURE_INTERNAL)),
        (OPENSTACK_INTERNAL, parse_bool(annotations, OPENSTACK_INTERNAL)),
    ):
        if vote is not None:
            votes.append((key, vote))
    for key, vote in votes[1:]:
        first_key, first = votes[0]
        if vote != first:
            raise InvalidSpecError(
                annotation_path(key),
                f"{show(annotations[key])} conflicts with {annotation_path(first_key)}: {show(annotations[first_key])}",
            )
    return Scheme.INTERNAL if votes and votes[0][1] else Scheme.EXTERNAL


def _aws_internal(annotations: Mapping[str, str]) -> bool | None:
    """The in-tree AWS provider's rule: "true" or a CIDR means internal; "false" means external."""
    value = annotations.get(AWS_INTERNAL)
    if value is None:
        return None
    text = value.strip().lower()
    if text in ("true", "false"):
        return text == "true"
    try:
        ipaddress.ip_network(text, strict=False)
    except ValueError:
        raise InvalidSpecError(annotation_path(AWS_INTERNAL), f"{show(value)} is not true, false or a CIDR") from None
    return True


def source_ranges(spec: Mapping[str, Any], annotations: Mapping[str, str]) -> tuple[str, ...]:
    """Normalised, deduplicated, sorted CIDRs; the field wins over the annotation; empty means everywhere."""
    items: list[tuple[str, object]] = [
        (index("spec.loadBalancerSourceRanges", i), value)
        for i, value in enumerate(opt_list(spec, "loadBalancerSourceRanges", "spec"))
    ]
    if not items and SOURCE_RANGES in annotations:
        path = annotation_path(SOURCE_RANGES)
        items = [(path, part.strip()) for part in annotations[SOURCE_RANGES].split(",") if part.strip()]
    networks: set[ipaddress.IPv4Network | ipaddress.IPv6Network] = set()
    for path, value in items:
        if not isinstance(value, str):
            raise InvalidSpecError(path, f"must be a string, not {show(value)}")
        try:
            networks.add(ipaddress.ip_network(value.strip(), strict=False))
        except ValueError:
            raise InvalidSpecError(path, f"{show(value)} is not a CIDR") from None
    ordered = sorted(networks, key=lambda n: (n.version, int(n.network_address), n.prefixlen))
    return tuple(str(n) for n in ordered)


def proxy_protocol(annotations: Mapping[str, str]) -> ProxyProtocol:
    value: ProxyProtocol | None = parse_choice(annotations, PROXY_PROTOCOL, _PROXY)
    return value or ProxyProtocol.NONE


def tags(annotations: Mapping[str, str]) -> FrozenDict:
    return parse_tags(annotations)
