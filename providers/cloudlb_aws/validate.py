"""Up-front checks of what AWS would refuse and moto does not: all run before the first cloud call.

Where this sits: ``AwsProvider.plan``/``ensure`` call ``check_spec`` (every type) and the backend's ``check``
(``check_nlb`` for NLBs) right after ``check_supported`` and before observing, so an invalid spec costs 0 calls.
Each error names the field or annotation to fix: ``InvalidSpecError`` for a value AWS refuses,
``UnsupportedFeatureError`` for something no AWS balancer of that type does. The limits are AWS's published ones:
50 tags a resource (keys up to 128 characters, values up to 256, no ``aws:`` prefix), 1,000 targets a target group,
50 listeners a balancer, names of 32 characters.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping

from cloudlb import annotations as core
from cloudlb.errors import InvalidSpecError, UnsupportedFeatureError
from cloudlb.fields import index, show
from cloudlb.model import LoadBalancerSpec, ProxyProtocol, Scheme
from cloudlb.naming import AWS_NAME_RULES
from cloudlb_aws import options as aws
from cloudlb_aws.nlb_model import DesiredLoadBalancer
from cloudlb_aws.options import ServiceOptions
from cloudlb_aws.tagging import desired_tags

__all__ = [
    "MAX_LISTENERS",
    "MAX_TAGS",
    "MAX_TAG_KEY",
    "MAX_TAG_VALUE",
    "MAX_TARGETS_PER_GROUP",
    "TARGET_GROUP_ATTRIBUTES",
    "check_nlb",
    "check_spec",
    "check_tags",
]

MAX_TAGS = 50
MAX_TAG_KEY = 128
MAX_TAG_VALUE = 256
MAX_TARGETS_PER_GROUP = 1000
MAX_LISTENERS = 50


def _boolean(value: str) -> bool:
    return value in ("true", "false")


def _within(low: int, high: int) -> Callable[[str], bool]:
    return lambda value: value.isdigit() and low <= int(value) <= high


def _count_or_off(value: str) -> bool:
    return value == "off" or (value.isdigit() and int(value) >= 1)


def _percent_or_off(value: str) -> bool:
    return value == "off" or (value.isdigit() and 1 <= int(value) <= 100)


# The NLB target group attributes and the values AWS accepts for each.
TARGET_GROUP_ATTRIBUTES: Mapping[str, Callable[[str], bool]] = {
    "deregistration_delay.timeout_seconds": _within(0, 3600),
    "deregistration_delay.connection_termination.enabled": _boolean,
    "preserve_client_ip.enabled": _boolean,
    "proxy_protocol_v2.enabled": _boolean,
    "stickiness.enabled": _boolean,
    "stickiness.type": lambda value: value == "source_ip",
    "load_balancing.cross_zone.enabled": lambda value: value in ("true", "false", "use_load_balancer_configuration"),
    "target_health_state.unhealthy.connection_termination.enabled": _boolean,
    "target_health_state.unhealthy.draining_interval_seconds": _within(0, 360000),
    "target_group_health.dns_failover.minimum_healthy_targets.count": _count_or_off,
    "target_group_health.dns_failover.minimum_healthy_targets.percentage": _percent_or_off,
    "target_group_health.unhealthy_state_routing.minimum_healthy_targets.count": _count_or_off,
    "target_group_health.unhealthy_state_routing.minimum_healthy_targets.percentage": _percent_or_off,
}

# Each health-check field, with the AWS annotation and the cloudlb.io one that may have set it.
_HC_SOURCES = {
    "interval": (aws.HC_INTERVAL, core.HC_INTERVAL),
    "timeout": (aws.HC_TIMEOUT, core.HC_TIMEOUT),
    "healthy_threshold": (aws.HC_HEALTHY, core.HC_HEALTHY),
    "unhealthy_threshold": (aws.HC_UNHEALTHY, core.HC_UNHEALTHY),
    "path": (aws.HC_PATH, core.HC_PATH),
}
# field: (lowest, highest) AWS accepts for an NLB target group
_HC_LIMITS = {"interval": (5, 300), "timeout": (2, 120), "healthy_threshold": (2, 10), "unhealthy_threshold": (2, 10)}


def _note(key: str) -> str:
    return core.annotation_path(key)


def check_tags(tags: Mapping[str, str], path: Callable[[str], str]) -> None:
    """AWS's tag limits for one resource's ``tags``; ``path(key)`` names where a bad key came from."""
    for key, value in tags.items():
        if not key or len(key) > MAX_TAG_KEY:
            raise InvalidSpecError(path(key), f"tag key {show(key)} must be 1 to {MAX_TAG_KEY} characters")
        if len(value) > MAX_TAG_VALUE:
            raise InvalidSpecError(path(key), f"the value of tag {show(key)} is longer than {MAX_TAG_VALUE}")
        if key.lower().startswith("aws:"):
            raise InvalidSpecError(path(key), f"tag key {show(key)}: the aws: prefix is reserved by AWS")
    if len(tags) > MAX_TAGS:
        raise InvalidSpecError(
            _note(core.TAGS), f"{len(tags)} tags with cloudlb's own; an AWS resource holds at most {MAX_TAGS}"
        )


def check_spec(spec: LoadBalancerSpec, service: ServiceOptions) -> None:
    """The checks every AWS balancer type shares: proxy protocol version, tags, the TLS annotations."""
    if spec.proxy_protocol is ProxyProtocol.V1:
        raise UnsupportedFeatureError(
            "aws", ["proxy-protocol-v1"], detail=f"service {spec.ref}: AWS balancers send PROXY protocol v2; use v2"
        )

    def tag_path(key: str) -> str:
        return _note(core.TAGS) if key in spec.tags else _note(aws.ADDITIONAL_TAGS)

    check_tags(desired_tags(spec, service), tag_path)
    if service.ssl_ports is not None and service.ssl_certificate is None:
        raise InvalidSpecError(_note(aws.SSL_PORTS), f"a TLS listener needs a certificate: set {aws.SSL_CERT}")
    if service.ssl_ports:
        known = {str(lst.port) for lst in spec.listeners} | {lst.name for lst in spec.listeners if lst.name}
        unknown = sorted(service.ssl_ports - known)
        if unknown:
            raise InvalidSpecError(
                _note(aws.SSL_PORTS), f"{', '.join(unknown)}: not a port number or name of the Service"
            )
    for key, value in service.target_group_attributes.items():
        accepts = TARGET_GROUP_ATTRIBUTES.get(key)
        if accepts is None:
            raise InvalidSpecError(_note(aws.TG_ATTRIBUTES), f"{show(key)} is not a Network Load Balancer attribute")
        if not accepts(value.strip().lower()):
            raise InvalidSpecError(_note(aws.TG_ATTRIBUTES), f"{key}={value} is not a value AWS accepts")
    if service.eip_allocations and spec.scheme is Scheme.INTERNAL:
        raise InvalidSpecError(_note(aws.EIP_ALLOCATIONS), "only an internet-facing balancer takes Elastic IPs")


def check_nlb(spec: LoadBalancerSpec, service: ServiceOptions, desired: DesiredLoadBalancer) -> None:
    """The NLB's own limits: listeners, targets per group, names, health check ranges, TLS on UDP, EIPs."""
    if len(desired.listeners) > MAX_LISTENERS:
        raise InvalidSpecError(
            "spec.ports", f"{len(desired.listeners)} listeners; a Network Load Balancer has at most {MAX_LISTENERS}"
        )
    for name in (desired.name, *(tg.name for tg in desired.target_groups)):
        if not AWS_NAME_RULES.is_valid(name):
            raise InvalidSpecError("metadata.name", f"{show(name)} is not a valid AWS load balancer name")
    for listener, group in zip(desired.listeners, desired.target_groups, strict=True):
        where = index("spec.ports", listener.ports[0])
        if len(group.targets) > MAX_TARGETS_PER_GROUP:
            raise InvalidSpecError(
                where, f"{len(group.targets)} targets; an AWS target group holds at most {MAX_TARGETS_PER_GROUP}"
            )
        ports = {str(listener.port)} | {spec.listeners[i].name for i in listener.ports}
        asked_tls = service.ssl_ports is not None and bool(ports & service.ssl_ports)
        if asked_tls and listener.protocol != "TLS":
            raise InvalidSpecError(_note(aws.SSL_PORTS), f"port {listener.port} carries {listener.protocol}, not TCP")
    _check_health(spec, service)
    if service.eip_allocations and desired.subnets and len(desired.subnets) != len(service.eip_allocations):
        raise InvalidSpecError(
            _note(aws.EIP_ALLOCATIONS),
            f"{len(service.eip_allocations)} allocations for {len(desired.subnets)} subnets: give one per subnet",
        )


def _check_health(spec: LoadBalancerSpec, service: ServiceOptions) -> None:
    hc = service.health_check

    def where(name: str) -> str:
        for key in _HC_SOURCES[name]:
            if key in spec.annotations:
                return _note(key)
        return f"health_check.{name}"

    for name, (low, high) in _HC_LIMITS.items():
        value = getattr(hc, name)
        if value != int(value) or not low <= value <= high:
            raise InvalidSpecError(where(name), f"{value:g}: an NLB health check takes a whole number in {low}..{high}")
    if hc.timeout > hc.interval:
        raise InvalidSpecError(where("timeout"), f"the timeout ({hc.timeout:g}s) is longer than the interval")
    if hc.path is not None and len(hc.path) > 1024:
        raise InvalidSpecError(where("path"), "longer than 1024 characters")
