"""The desired Octavia load balancer of a Service: pure data built from its spec and ``ServiceOptions``.

Where this sits: converge.py compares it with what observe.py read, field group by field group, and steps.py sends
its ``body()``s. One load balancer per Service, on the VIP subnet; per Service port a listener (source ranges as
``allowed_cidrs``), its default pool (the algorithm, ClientIP affinity as SOURCE_IP persistence, the proxy protocol
as the pool protocol) with a health monitor and the members. A monitor follows the spec's health check: TCP checks
become TCP, UDP-CONNECT or SCTP monitors by the pool's protocol; HTTP(S) checks (kube-proxy's ``/healthz`` for
externalTrafficPolicy: Local) become HTTP(S) monitors, and a check on another port sets each member's
``monitor_port``. An external Service also wants a floating IP; an internal one with ``loadBalancerIP`` wants that
VIP address.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from cloudlb.capabilities import EVERYWHERE
from cloudlb.errors import InvalidSpecError
from cloudlb.model import (
    FrozenDict,
    HealthCheckProtocol,
    Listener,
    LoadBalancerSpec,
    Protocol,
    ProxyProtocol,
    Scheme,
    SessionAffinity,
)
from cloudlb.naming import OPENSTACK_NAME_RULES, resource_name, tags_to_strings
from cloudlb_openstack.records import Member
from cloudlb_openstack.service import ServiceOptions
from cloudlb_openstack.tagging import desired_tags

__all__ = [
    "DesiredFloatingIP",
    "DesiredListener",
    "DesiredLoadBalancer",
    "DesiredMonitor",
    "DesiredPool",
    "desired_load_balancer",
    "load_balancer_name",
]

_POOL_PROTOCOL = {ProxyProtocol.NONE: "TCP", ProxyProtocol.V1: "PROXY", ProxyProtocol.V2: "PROXYV2"}
_PLAIN_MONITOR = {Protocol.TCP: "TCP", Protocol.UDP: "UDP-CONNECT", Protocol.SCTP: "SCTP"}


def load_balancer_name(spec: LoadBalancerSpec) -> str:
    return resource_name(spec.ref, OPENSTACK_NAME_RULES)


@dataclass(frozen=True, slots=True)
class DesiredMonitor:
    name: str
    type: str  # immutable in Octavia: a change replaces the monitor
    settings: Mapping[str, Any]  # delay, timeout, retries and, for HTTP(S), method, path and codes
    tags: FrozenDict

    def body(self, pool_id: str) -> dict[str, Any]:
        return {
            "pool_id": pool_id,
            "type": self.type,
            "name": self.name,
            "tags": tags_to_strings(self.tags),
            **self.settings,
        }


@dataclass(frozen=True, slots=True)
class DesiredPool:
    name: str
    protocol: str  # immutable: a change replaces the pool
    lb_algorithm: str
    persistence: Mapping[str, Any] | None
    tags: FrozenDict
    members: frozenset[Member]
    monitor: DesiredMonitor | None

    def body(self, *, listener_id: str | None = None, lb_id: str | None = None) -> dict[str, Any]:
        """A pool on a listener (its default pool) or, when replacing one, detached on the load balancer."""
        out: dict[str, Any] = {
            "name": self.name,
            "protocol": self.protocol,
            "lb_algorithm": self.lb_algorithm,
            "session_persistence": dict(self.persistence) if self.persistence else None,
            "tags": tags_to_strings(self.tags),
        }
        if listener_id is not None:
            out["listener_id"] = listener_id
        else:
            out["loadbalancer_id"] = lb_id
        return out


@dataclass(frozen=True, slots=True)
class DesiredListener:
    name: str
    protocol: str
    port: int
    allowed_cidrs: tuple[str, ...]  # empty: from anywhere
    tags: FrozenDict
    pool: DesiredPool

    @property
    def key(self) -> tuple[str, int]:
        return (self.protocol, self.port)

    @property
    def label(self) -> str:
        return f"{self.name} ({self.protocol}-{self.port})"

    def body(self, lb_id: str) -> dict[str, Any]:
        return {
            "loadbalancer_id": lb_id,
            "name": self.name,
            "protocol": self.protocol,
            "protocol_port": self.port,
            "allowed_cidrs": list(self.allowed_cidrs) or None,
            "tags": tags_to_strings(self.tags),
        }


@dataclass(frozen=True, slots=True)
class DesiredFloatingIP:
    network_id: str | None  # None: the cloud's one external network
    address: str | None  # loadBalancerIP: an existing floating IP to use, or the address to allocate
    keep: bool  # keep-floatingip: not released with the load balancer


@dataclass(frozen=True, slots=True)
class DesiredLoadBalancer:
    name: str
    description: str
    tags: FrozenDict
    uid: str
    vip_subnet_id: str | None
    vip_address: str | None
    flavor_id: str | None
    availability_zone: str | None
    listeners: tuple[DesiredListener, ...]
    floating_ip: DesiredFloatingIP | None

    def immutable(self) -> dict[str, Any]:
        """The fields Octavia cannot change on a load balancer; only those the spec pins are compared."""
        fields = {
            "vip_subnet_id": self.vip_subnet_id,
            "vip_address": self.vip_address,
            "flavor_id": self.flavor_id,
            "availability_zone": self.availability_zone,
        }
        return {k: v for k, v in fields.items() if v is not None}

    def body(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "name": self.name,
            "description": self.description,
            "tags": tags_to_strings(self.tags),
            **self.immutable(),
        }
        return out


def desired_load_balancer(spec: LoadBalancerSpec, service: ServiceOptions, *, uid: str) -> DesiredLoadBalancer:
    """The load balancer ``spec`` asks for. ``uid`` is the one its tags carry (see tagging.desired_tags)."""
    tags = desired_tags(spec, uid)
    internal = spec.scheme is Scheme.INTERNAL
    floating = None
    if not internal:
        floating = DesiredFloatingIP(service.floating_network_id, spec.load_balancer_ip, service.keep_floating_ip)
    return DesiredLoadBalancer(
        name=load_balancer_name(spec),
        description=f"Kubernetes Service {spec.ref.service} of cluster {spec.cluster}, managed by cloudlb"[:255],
        tags=tags,
        uid=uid,
        vip_subnet_id=service.subnet_id,
        vip_address=spec.load_balancer_ip if internal else None,
        flavor_id=service.flavor_id,
        availability_zone=service.availability_zone,
        listeners=tuple(_listener(spec, service, listener, tags) for listener in spec.listeners),
        floating_ip=floating,
    )


def _listener(spec: LoadBalancerSpec, service: ServiceOptions, listener: Listener, tags: FrozenDict) -> DesiredListener:
    name = resource_name(spec.ref, OPENSTACK_NAME_RULES, listener.protocol.value.lower(), str(listener.port))
    return DesiredListener(
        name=name,
        protocol=listener.protocol.value,
        port=listener.port,
        allowed_cidrs=_allowed_cidrs(spec.source_ranges),
        tags=tags,
        pool=_pool(spec, service, listener, name, tags),
    )


def _allowed_cidrs(ranges: tuple[str, ...]) -> tuple[str, ...]:
    """Source ranges as Octavia takes them. The VIP is IPv4, and Octavia refuses CIDRs of the other family; dropping
    IPv6 ranges is safe while an IPv4 one is left, but an IPv6-only list would silently open the listener to all."""
    if not set(ranges) - EVERYWHERE:
        return ()
    v4 = tuple(sorted(r for r in ranges if ipaddress.ip_network(r).version == 4))
    if not v4:
        raise InvalidSpecError(
            "spec.loadBalancerSourceRanges", "only IPv6 ranges are given, and the load balancer's address is IPv4"
        )
    return v4


def _pool(
    spec: LoadBalancerSpec, service: ServiceOptions, listener: Listener, name: str, tags: FrozenDict
) -> DesiredPool:
    protocol = listener.protocol
    persistence = None
    if spec.session_affinity is SessionAffinity.CLIENT_IP:
        timeout = spec.affinity_timeout if protocol is Protocol.UDP else None  # Octavia takes one for UDP only
        persistence = {"type": "SOURCE_IP", "persistence_timeout": timeout}
    monitor = _monitor(spec, service, protocol, name, tags) if service.health_monitor else None
    check_port = spec.health_check.port if monitor is not None else None
    member_tags = tuple(tags_to_strings(tags))
    members = frozenset(
        Member(t.ip, t.port, check_port, service.member_subnet_id, member_tags) for t in listener.targets
    )
    return DesiredPool(
        name=name,
        protocol=_POOL_PROTOCOL[service.proxy_protocol] if protocol is Protocol.TCP else protocol.value,
        lb_algorithm=service.lb_algorithm,
        persistence=persistence,
        tags=tags,
        members=members,
        monitor=monitor,
    )


def _monitor(
    spec: LoadBalancerSpec, service: ServiceOptions, protocol: Protocol, name: str, tags: FrozenDict
) -> DesiredMonitor:
    check, timing = spec.health_check, service.monitor
    settings: dict[str, Any] = {
        "delay": timing.delay,
        "timeout": timing.timeout,
        "max_retries": timing.max_retries,
        "max_retries_down": timing.max_retries_down,
    }
    if check.protocol is HealthCheckProtocol.TCP:
        kind = _PLAIN_MONITOR[protocol]
    else:
        kind = check.protocol.value
        settings.update(http_method="GET", url_path=check.path or "/", expected_codes="200")
    return DesiredMonitor(name=name, type=kind, settings=settings, tags=tags)
