"""The AWS provider's two option sets, each parsed once, in one place.

Where this sits: ``AwsOptions`` holds the keyword arguments of ``get_provider("aws", **options)`` (the ``options``
of a config file); ``AwsProvider`` builds it once. ``ServiceOptions`` holds what one Service asks of AWS through the
anchors' ``service.beta.kubernetes.io/aws-load-balancer-*`` annotations; the provider parses it once per
``plan``/``ensure``, before any cloud call, and everything downstream (validate, nlb, classic, security groups)
reads the typed fields, never the raw annotations. A malformed annotation raises ``InvalidSpecError`` naming it.
Annotations core already applies (``-internal``, ``-scheme``, ``-nlb-target-type``, source ranges) arrive as
spec fields; anchor keys not listed here are ignored, as the in-tree provider ignores keys it does not know.
"""

from __future__ import annotations

import enum
from collections.abc import Mapping
from dataclasses import dataclass, replace

from cloudlb.annotations import annotation_path, parse_choice, parse_tags
from cloudlb.errors import ConfigError, InvalidSpecError
from cloudlb.fields import show
from cloudlb.model import (
    FrozenDict,
    HealthCheck,
    HealthCheckProtocol,
    LoadBalancerSpec,
    TargetMode,
    TrafficPolicy,
)
from cloudlb.options import coerce_option, options_from_kwargs
from cloudlb.retry import Backoff
from cloudlb.service_options import LOCAL_HEALTH_PATH, parse_health_port

__all__ = [
    "ANNOTATION_PREFIX",
    "AwsOptions",
    "LoadBalancerType",
    "ServiceOptions",
    "aws_annotation",
]

ANNOTATION_PREFIX = "service.beta.kubernetes.io/aws-load-balancer-"


def aws_annotation(suffix: str) -> str:
    """The full key of an anchor annotation: ``aws_annotation("type")`` is ``...aws-load-balancer-type``."""
    return ANNOTATION_PREFIX + suffix


TYPE = aws_annotation("type")
SUBNETS = aws_annotation("subnets")
SSL_CERT = aws_annotation("ssl-cert")
SSL_PORTS = aws_annotation("ssl-ports")
HC_PROTOCOL = aws_annotation("healthcheck-protocol")
HC_PORT = aws_annotation("healthcheck-port")
HC_PATH = aws_annotation("healthcheck-path")
HC_INTERVAL = aws_annotation("healthcheck-interval")
HC_TIMEOUT = aws_annotation("healthcheck-timeout")
HC_HEALTHY = aws_annotation("healthcheck-healthy-threshold")
HC_UNHEALTHY = aws_annotation("healthcheck-unhealthy-threshold")
TG_ATTRIBUTES = aws_annotation("target-group-attributes")
ADDITIONAL_TAGS = aws_annotation("additional-resource-tags")
EIP_ALLOCATIONS = aws_annotation("eip-allocations")
SECURITY_GROUPS = aws_annotation("security-groups")


class LoadBalancerType(enum.StrEnum):
    """Which AWS balancer serves a Service. Changing it replaces the balancer."""

    NLB = "nlb"  # ELBv2 Network Load Balancer
    CLB = "clb"  # classic ELB


# "external" is the AWS Load Balancer Controller's word for "an NLB it manages"; cloudlb manages it the same way.
_TYPES = {"nlb": LoadBalancerType.NLB, "external": LoadBalancerType.NLB, "clb": LoadBalancerType.CLB}
_TYPES_WITH_ALIASES = {**_TYPES, "classic": LoadBalancerType.CLB}
_HC_PROTOCOLS = {p.value.lower(): p for p in HealthCheckProtocol}
_DEFAULT_HEALTH_CHECK = HealthCheck()
_NO_TAGS = FrozenDict()


@dataclass(frozen=True, slots=True)
class AwsOptions:
    """The keyword arguments of ``get_provider("aws", ...)``, typed and checked.

    ``rate_limit``/``targets_rate_limit`` are requests a second with a burst, kept below ELBv2's published limits
    (about 10/s burst 40 in general; Register/DeregisterTargets about 4/s burst 20); ``None`` turns a limiter off.
    ``retry_*`` shape the one backoff used for throttled and failed calls. ``manage_security_groups=False`` leaves
    every security group to the user: the NLB gets only the groups the Service's annotation names, and source
    ranges become unsupported.
    """

    region: str | None = None
    endpoint_url: str | None = None
    aws_access_key_id: str | None = None
    aws_secret_access_key: str | None = None
    aws_session_token: str | None = None
    subnets: tuple[str, ...] = ()
    vpc_id: str | None = None
    default_type: LoadBalancerType = LoadBalancerType.NLB
    rate_limit: float | None = 10.0
    rate_burst: float = 40.0
    targets_rate_limit: float | None = 4.0
    targets_rate_burst: float = 20.0
    retry_attempts: int = 8
    retry_initial_delay: float = 0.5
    retry_max_delay: float = 20.0
    retry_deadline: float | None = 120.0
    timeout: float = 30.0
    manage_security_groups: bool = True

    @classmethod
    def from_kwargs(cls, **options: object) -> AwsOptions:
        """Build from ``get_provider`` keyword arguments (or a config file's ``options``); ``ConfigError`` names
        the first bad option, and suggests the nearest name for an unknown one."""
        built = options_from_kwargs(cls, "aws", options, _coerce)
        built._check()
        return built

    def _check(self) -> None:
        for name in ("rate_limit", "targets_rate_limit", "rate_burst", "targets_rate_burst", "timeout"):
            value = getattr(self, name)
            if value is not None and value <= 0:
                raise ConfigError(f"aws option {name!r} must be positive, got {value}")
        if self.retry_attempts < 1:
            raise ConfigError(f"aws option 'retry_attempts' must be at least 1, got {self.retry_attempts}")
        for subnet in self.subnets:
            if not subnet.startswith("subnet-"):
                raise ConfigError(f"aws option 'subnets': {subnet!r} is not a subnet id (subnet-...)")

    @property
    def backoff(self) -> Backoff:
        """The backoff for one throttled or failed call."""
        return Backoff(
            initial=self.retry_initial_delay,
            max_delay=self.retry_max_delay,
            max_attempts=self.retry_attempts,
            deadline=self.retry_deadline,
        )

    @property
    def ensure_backoff(self) -> Backoff:
        """The backoff between whole observe-plan-apply rounds, when a round ends in a temporary error."""
        return Backoff(
            initial=self.retry_initial_delay,
            max_delay=self.retry_max_delay,
            max_attempts=4,
            deadline=self.retry_deadline,
        )


def _coerce(name: str, value: object, kind: str) -> object:
    """A config value as its field's type (``kind`` is the annotation's text); YAML and CLI flags are loose."""
    if kind.startswith("tuple"):
        items = value.split(",") if isinstance(value, str) else value
        if not isinstance(items, list | tuple) or not all(isinstance(i, str) for i in items):
            raise ConfigError(f"aws option {name!r} must be a list of ids, not {show(value)}")
        return tuple(i.strip() for i in items if i.strip())
    if kind == "LoadBalancerType":
        chosen = _TYPES_WITH_ALIASES.get(str(value).strip().lower())
        if chosen is None:
            raise ConfigError(f"aws option {name!r} must be nlb or clb, not {show(value)}")
        return chosen
    return coerce_option("aws", name, value, kind)


@dataclass(frozen=True, slots=True)
class ServiceOptions:
    """What one Service asks of AWS, from its annotations and the provider's defaults.

    ``health_check`` is the spec's health check with the ``-healthcheck-*`` annotations applied over it.
    ``ssl_ports`` is None for "every port" (when ``ssl_certificate`` is set), else port numbers or names as written.
    ``target_group_attributes`` are the user's, exactly as given; the provider adds its own (proxy protocol,
    stickiness) when it builds the desired target groups. ``subnets`` are ids or Name tags, empty to use the
    provider's ``subnets`` or discover them by tags.
    """

    type: LoadBalancerType = LoadBalancerType.NLB
    subnets: tuple[str, ...] = ()
    ssl_certificate: str | None = None
    ssl_ports: frozenset[str] | None = None
    health_check: HealthCheck = _DEFAULT_HEALTH_CHECK
    target_group_attributes: FrozenDict = _NO_TAGS
    additional_tags: FrozenDict = _NO_TAGS
    eip_allocations: tuple[str, ...] = ()
    security_groups: tuple[str, ...] = ()

    @classmethod
    def parse(cls, spec: LoadBalancerSpec, options: AwsOptions) -> ServiceOptions:
        """Read every AWS annotation of ``spec`` once. Raises ``InvalidSpecError`` naming the annotation."""
        notes = spec.annotations
        lb_type: LoadBalancerType = parse_choice(notes, TYPE, _TYPES_WITH_ALIASES) or options.default_type
        certificate = _one_certificate(notes)
        return cls(
            type=lb_type,
            subnets=_ids(notes, SUBNETS, prefix=None),
            ssl_certificate=certificate,
            ssl_ports=_ssl_ports(notes),
            health_check=_health_check(notes, _local_traffic_rule(spec)),
            target_group_attributes=parse_tags(notes, TG_ATTRIBUTES),
            additional_tags=parse_tags(notes, ADDITIONAL_TAGS),
            eip_allocations=_ids(notes, EIP_ALLOCATIONS, prefix="eipalloc-"),
            security_groups=_ids(notes, SECURITY_GROUPS, prefix="sg-"),
        )

    def is_tls_port(self, port: int, name: str) -> bool:
        """Whether the Service port ``port`` (named ``name``) gets a TLS listener."""
        if self.ssl_certificate is None:
            return False
        return self.ssl_ports is None or str(port) in self.ssl_ports or (bool(name) and name in self.ssl_ports)


def _split(value: str) -> list[str]:
    return [item.strip() for item in value.split(",") if item.strip()]


def _ids(notes: Mapping[str, str], key: str, *, prefix: str | None) -> tuple[str, ...]:
    """A comma-separated list, deduplicated in order; each item must start with ``prefix`` when one is given."""
    value = notes.get(key)
    if value is None:
        return ()
    items = list(dict.fromkeys(_split(value)))
    if not items:
        raise InvalidSpecError(annotation_path(key), "is empty; remove it or list at least one id")
    for item in items:
        if prefix is not None and not item.startswith(prefix):
            raise InvalidSpecError(annotation_path(key), f"{show(item)} is not an id starting with {prefix}")
    return tuple(items)


def _one_certificate(notes: Mapping[str, str]) -> str | None:
    value = notes.get(SSL_CERT)
    if value is None:
        return None
    arns = _split(value)
    if len(arns) != 1:
        raise InvalidSpecError(annotation_path(SSL_CERT), f"give exactly one certificate ARN, not {len(arns)}")
    if not arns[0].startswith("arn:"):
        raise InvalidSpecError(annotation_path(SSL_CERT), f"{show(arns[0])} is not an ARN (arn:aws:acm:...)")
    return arns[0]


def _ssl_ports(notes: Mapping[str, str]) -> frozenset[str] | None:
    value = notes.get(SSL_PORTS)
    if value is None or value.strip() == "*":
        return None
    items = _split(value)
    if not items:
        raise InvalidSpecError(annotation_path(SSL_PORTS), 'is empty; use "*" for every port or list ports')
    return frozenset(items)


def _local_traffic_rule(spec: LoadBalancerSpec) -> HealthCheck:
    """The spec's health check, with kube-proxy's ``/healthz`` on healthCheckNodePort for ETP=Local node targets.

    kube.py builds specs this way already; a spec built by hand gets the same rule here, so only the nodes running a
    ready pod receive traffic.
    """
    hc = spec.health_check
    local = spec.traffic_policy is TrafficPolicy.LOCAL and spec.target_mode is TargetMode.NODE
    if local and spec.health_check_node_port and hc.protocol is HealthCheckProtocol.TCP and hc.port is None:
        return replace(hc, protocol=HealthCheckProtocol.HTTP, port=spec.health_check_node_port, path=LOCAL_HEALTH_PATH)
    return hc


def _health_check(notes: Mapping[str, str], base: HealthCheck) -> HealthCheck:
    """``base`` with the ``-healthcheck-*`` annotations applied; ranges are checked by ``validate``."""
    protocol: HealthCheckProtocol = parse_choice(notes, HC_PROTOCOL, _HC_PROTOCOLS) or base.protocol
    path = notes.get(HC_PATH, base.path)
    if path is not None and not path.startswith("/"):
        raise InvalidSpecError(annotation_path(HC_PATH), f"{show(path)} must start with /")
    if protocol is HealthCheckProtocol.TCP:
        if HC_PATH in notes:
            raise InvalidSpecError(
                annotation_path(HC_PATH), f"only applies to HTTP and HTTPS health checks; set {HC_PROTOCOL}"
            )
        path = None
    elif path is None:
        path = "/"
    port = base.port
    if HC_PORT in notes:
        port = parse_health_port(notes[HC_PORT], annotation_path(HC_PORT))
    return replace(
        base,
        protocol=protocol,
        port=port,
        path=path,
        interval=_whole(notes, HC_INTERVAL, base.interval),
        timeout=_whole(notes, HC_TIMEOUT, base.timeout),
        healthy_threshold=int(_whole(notes, HC_HEALTHY, base.healthy_threshold)),
        unhealthy_threshold=int(_whole(notes, HC_UNHEALTHY, base.unhealthy_threshold)),
    )


def _whole(notes: Mapping[str, str], key: str, default: float) -> float:
    value = notes.get(key)
    if value is None:
        return default
    text = value.strip()
    if not (text.isascii() and text.isdigit()):
        raise InvalidSpecError(annotation_path(key), f"{show(value)} is not a whole number")
    return float(int(text))
