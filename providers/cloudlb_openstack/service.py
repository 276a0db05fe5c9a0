"""``ServiceOptions``: what one Service asks of OpenStack, parsed once from its spec and annotations.

Where this sits: the provider parses it at the start of ``plan``/``ensure``, before any cloud call, and everything
downstream (desired.py, the steps) reads its typed fields, never the raw annotations. It merges three sources: the
spec's neutral fields (algorithm, proxy protocol, health check), the anchors' ``loadbalancer.openstack.org/*``
annotations that apply here, and the provider's config as defaults. A malformed annotation, or one that contradicts
a ``cloudlb.io/`` annotation, raises ``InvalidSpecError`` naming it. Anchor keys cloudlb does not implement are
logged and ignored, so that manifests written for the in-tree provider keep applying.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Mapping
from dataclasses import dataclass

from cloudlb.annotations import ALGORITHM, HC_INTERVAL, HC_PROTOCOL, annotation_path, parse_bool
from cloudlb.annotations import PROXY_PROTOCOL as CLOUDLB_PROXY_PROTOCOL
from cloudlb.errors import InvalidSpecError, UnsupportedFeatureError
from cloudlb.fields import show
from cloudlb.model import Algorithm, HealthCheckProtocol, LoadBalancerSpec, Protocol, ProxyProtocol
from cloudlb_openstack.config import OpenStackConfig, check_uuid

__all__ = ["HONOURED", "PREFIX", "ServiceOptions"]

log = logging.getLogger("cloudlb.openstack")

PREFIX = "loadbalancer.openstack.org/"
FLOATING_NETWORK_ID = PREFIX + "floating-network-id"
SUBNET_ID = PREFIX + "subnet-id"
MEMBER_SUBNET_ID = PREFIX + "member-subnet-id"
LB_METHOD = PREFIX + "lb-method"
PROXY_PROTOCOL = PREFIX + "proxy-protocol"
ENABLE_HEALTH_MONITOR = PREFIX + "enable-health-monitor"
HM_DELAY = PREFIX + "health-monitor-delay"
HM_TIMEOUT = PREFIX + "health-monitor-timeout"
HM_MAX_RETRIES = PREFIX + "health-monitor-max-retries"
HM_MAX_RETRIES_DOWN = PREFIX + "health-monitor-max-retries-down"
KEEP_FLOATING_IP = PREFIX + "keep-floatingip"
FLAVOR_ID = PREFIX + "flavor-id"
AVAILABILITY_ZONE = PREFIX + "availability-zone"

HONOURED = frozenset(
    {
        FLOATING_NETWORK_ID,
        SUBNET_ID,
        MEMBER_SUBNET_ID,
        LB_METHOD,
        PROXY_PROTOCOL,
        ENABLE_HEALTH_MONITOR,
        HM_DELAY,
        HM_TIMEOUT,
        HM_MAX_RETRIES,
        HM_MAX_RETRIES_DOWN,
        KEEP_FLOATING_IP,
        FLAVOR_ID,
        AVAILABILITY_ZONE,
    }
)

_ALGORITHMS = {
    Algorithm.ROUND_ROBIN: "ROUND_ROBIN",
    Algorithm.LEAST_CONNECTIONS: "LEAST_CONNECTIONS",
    Algorithm.SOURCE_IP: "SOURCE_IP",
}
_LB_METHODS = {"round_robin": "ROUND_ROBIN", "least_connections": "LEAST_CONNECTIONS", "source_ip": "SOURCE_IP"}
_PROXY = {"true": ProxyProtocol.V1, "v1": ProxyProtocol.V1, "v2": ProxyProtocol.V2, "false": ProxyProtocol.NONE}
UDP_CONNECT_MIN_DELAY = 3  # Octavia's default udp_connect_min_interval_health_monitor, in seconds


@dataclass(frozen=True, slots=True)
class Monitor:
    """The health monitor's timing, in Octavia's whole seconds and retry counts."""

    delay: int
    timeout: int
    max_retries: int
    max_retries_down: int


@dataclass(frozen=True, slots=True)
class ServiceOptions:
    """One Service's OpenStack settings, resolved: every field is what cloudlb will ask Octavia and Neutron for."""

    subnet_id: str | None
    member_subnet_id: str | None
    floating_network_id: str | None
    lb_algorithm: str
    proxy_protocol: ProxyProtocol
    health_monitor: bool
    monitor: Monitor
    keep_floating_ip: bool
    flavor_id: str | None
    availability_zone: str | None

    @classmethod
    def parse(cls, spec: LoadBalancerSpec, config: OpenStackConfig) -> ServiceOptions:
        """Read ``spec``'s annotations over ``config``'s defaults; ``InvalidSpecError`` names a bad annotation."""
        notes = spec.annotations
        ignored = sorted(k for k in notes if k.startswith(PREFIX) and k not in HONOURED)
        if ignored:
            log.warning("service %s: cloudlb does not implement %s; ignored", spec.ref, ", ".join(ignored))
        monitored = parse_bool(notes, ENABLE_HEALTH_MONITOR) is not False
        return cls(
            subnet_id=_uuid(notes, SUBNET_ID) or config.subnet_id,
            member_subnet_id=_uuid(notes, MEMBER_SUBNET_ID) or config.member_subnet_id,
            floating_network_id=_uuid(notes, FLOATING_NETWORK_ID) or config.floating_network_id,
            lb_algorithm=_algorithm(spec),
            proxy_protocol=_proxy_protocol(spec),
            health_monitor=monitored,
            monitor=_monitor(spec, monitored),
            keep_floating_ip=parse_bool(notes, KEEP_FLOATING_IP) is True,
            flavor_id=_uuid(notes, FLAVOR_ID),
            availability_zone=_text(notes, AVAILABILITY_ZONE),
        )

    @classmethod
    def for_identity(cls, spec: LoadBalancerSpec, config: OpenStackConfig) -> ServiceOptions:
        """The spec's options when its annotations parse, else the defaults: get and delete need only the identity."""
        try:
            return cls.parse(spec, config)
        except InvalidSpecError:
            return cls.parse(LoadBalancerSpec(spec.cluster, spec.namespace, spec.name, spec.uid), config)


def _uuid(notes: Mapping[str, str], key: str) -> str | None:
    value = _text(notes, key)
    if value is not None and not check_uuid(value):
        raise InvalidSpecError(annotation_path(key), f"{show(value)} is not a UUID")
    return value


def _text(notes: Mapping[str, str], key: str) -> str | None:
    value = notes.get(key)
    if value is None:
        return None
    text = value.strip()
    if not text or len(text) > 255:
        raise InvalidSpecError(annotation_path(key), f"{show(value)} must be 1 to 255 characters")
    return text


def _algorithm(spec: LoadBalancerSpec) -> str:
    notes = spec.annotations
    method = notes.get(LB_METHOD)
    if method is None:
        if spec.algorithm not in _ALGORITHMS:  # check_supported refuses it first; this keeps the mapping total
            raise UnsupportedFeatureError("openstack", [f"algorithm-{spec.algorithm.value}"], detail=str(spec.ref))
        return _ALGORITHMS[spec.algorithm]
    wanted = method.strip().lower()
    if wanted == "source_ip_port":
        raise UnsupportedFeatureError("openstack", ["lb-method SOURCE_IP_PORT"], detail="the amphora driver lacks it")
    if wanted not in _LB_METHODS:
        raise InvalidSpecError(
            annotation_path(LB_METHOD), f"{show(method)} is not one of: {', '.join(_LB_METHODS.values())}"
        )
    chosen = _LB_METHODS[wanted]
    if ALGORITHM in notes and _ALGORITHMS.get(spec.algorithm) != chosen:
        raise InvalidSpecError(
            annotation_path(LB_METHOD),
            f"{show(method)} conflicts with {annotation_path(ALGORITHM)}: {show(notes[ALGORITHM])}; remove one",
        )
    return chosen


def _proxy_protocol(spec: LoadBalancerSpec) -> ProxyProtocol:
    notes = spec.annotations
    value = notes.get(PROXY_PROTOCOL)
    if value is None:
        return spec.proxy_protocol
    wanted = _PROXY.get(value.strip().lower())
    if wanted is None:
        raise InvalidSpecError(annotation_path(PROXY_PROTOCOL), f"{show(value)} is not one of: true, false, v1, v2")
    if CLOUDLB_PROXY_PROTOCOL in notes and spec.proxy_protocol is not wanted:
        raise InvalidSpecError(
            annotation_path(PROXY_PROTOCOL),
            f"{show(value)} conflicts with {annotation_path(CLOUDLB_PROXY_PROTOCOL)}: "
            f"{show(notes[CLOUDLB_PROXY_PROTOCOL])}; remove one",
        )
    return wanted


def _count(notes: Mapping[str, str], key: str, low: int, high: int) -> int | None:
    value = notes.get(key)
    if value is None:
        return None
    text = value.strip()
    if text.isascii() and text.isdigit() and low <= int(text) <= high:
        return int(text)
    raise InvalidSpecError(annotation_path(key), f"{show(value)} is not an integer from {low} to {high}")


def _monitor(spec: LoadBalancerSpec, monitored: bool) -> Monitor:
    """The spec's health check in Octavia's units, with the anchors' ``health-monitor-*`` over it. The rules that
    depend on a pool's protocol apply only when there will be a monitor."""
    notes, check = spec.annotations, spec.health_check
    delay = _count(notes, HM_DELAY, 1, 2**31 - 1)
    timeout = _count(notes, HM_TIMEOUT, 1, 24 * 3600)
    monitor = Monitor(
        delay=delay if delay is not None else math.ceil(check.interval),
        timeout=timeout if timeout is not None else math.ceil(check.timeout),
        max_retries=_count(notes, HM_MAX_RETRIES, 1, 10) or check.healthy_threshold,
        max_retries_down=_count(notes, HM_MAX_RETRIES_DOWN, 1, 10) or check.unhealthy_threshold,
    )
    if monitor.timeout > monitor.delay:
        key = HM_TIMEOUT if timeout is not None else HM_DELAY
        raise InvalidSpecError(
            annotation_path(key), f"the timeout ({monitor.timeout}s) must not exceed the delay ({monitor.delay}s)"
        )
    if not monitored:
        return monitor
    udp = any(listener.protocol is Protocol.UDP for listener in spec.listeners)
    if udp and check.protocol is HealthCheckProtocol.TCP and monitor.delay < UDP_CONNECT_MIN_DELAY:
        key = HM_DELAY if delay is not None else HC_INTERVAL
        raise InvalidSpecError(
            annotation_path(key), f"UDP-CONNECT monitors need a delay of at least {UDP_CONNECT_MIN_DELAY}s"
        )
    if check.protocol is HealthCheckProtocol.HTTPS and spec.protocols & {Protocol.UDP, Protocol.SCTP}:
        raise InvalidSpecError(annotation_path(HC_PROTOCOL), "Octavia has no HTTPS monitor for UDP or SCTP pools")
    return monitor
