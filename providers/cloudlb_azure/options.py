"""The Azure provider's two option sets, each parsed once, in one place.

Where this sits: ``AzureOptions`` holds the keyword arguments of ``get_provider("azure", **options)`` (a config
file's ``options``); ``AzureProvider`` builds it once. ``ServiceOptions`` holds what one Service asks of Azure: the
spec's own fields as Azure applies them, overridden by the anchors' ``service.beta.kubernetes.io/azure-*``
annotations. The provider parses it at the start of every ``plan``/``ensure``, before any call, and the rest of the
provider reads only its typed fields. A malformed annotation raises ``InvalidSpecError`` naming it.

Defaults that differ from cloud-provider-azure, and why: floating IP is off, so that a rule sends traffic to the
targets' own port (the nodePort, or the pod's port), which is what a ``Target`` means everywhere in cloudlb;
``azure-disable-load-balancer-floating-ip: "false"`` turns it on (node targets only).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from cloudlb.annotations import annotation_path, parse_bool, parse_choice
from cloudlb.errors import ConfigError, InvalidSpecError
from cloudlb.fields import show
from cloudlb.model import HealthCheckProtocol, LoadBalancerSpec, Scheme, TargetMode
from cloudlb.options import coerce_option, options_from_kwargs
from cloudlb.retry import Backoff
from cloudlb.service_options import source_ranges as parse_source_ranges
from cloudlb_azure.names import check_resource_name

__all__ = [
    "ALLOWED_IP_RANGES",
    "ANNOTATION_PREFIX",
    "DISABLE_FLOATING_IP",
    "DNS_LABEL",
    "IDLE_TIMEOUT",
    "INTERNAL_SUBNET",
    "PIP_NAME",
    "PROBE_COUNT",
    "PROBE_INTERVAL",
    "PROBE_PATH",
    "PROBE_PROTOCOL",
    "RESOURCE_GROUP",
    "AzureOptions",
    "Probe",
    "ServiceOptions",
]

ANNOTATION_PREFIX = "service.beta.kubernetes.io/azure-"
INTERNAL_SUBNET = "service.beta.kubernetes.io/azure-load-balancer-internal-subnet"
PIP_NAME = "service.beta.kubernetes.io/azure-pip-name"
DNS_LABEL = "service.beta.kubernetes.io/azure-dns-label-name"
RESOURCE_GROUP = "service.beta.kubernetes.io/azure-load-balancer-resource-group"
PROBE_PROTOCOL = "service.beta.kubernetes.io/azure-load-balancer-health-probe-protocol"
PROBE_PATH = "service.beta.kubernetes.io/azure-load-balancer-health-probe-request-path"
PROBE_INTERVAL = "service.beta.kubernetes.io/azure-load-balancer-health-probe-interval"
PROBE_COUNT = "service.beta.kubernetes.io/azure-load-balancer-health-probe-num-of-probe"
IDLE_TIMEOUT = "service.beta.kubernetes.io/azure-load-balancer-tcp-idle-timeout"
DISABLE_FLOATING_IP = "service.beta.kubernetes.io/azure-disable-load-balancer-floating-ip"
ALLOWED_IP_RANGES = "service.beta.kubernetes.io/azure-allowed-ip-ranges"

_PROBE_PROTOCOLS = {"tcp": "Tcp", "http": "Http", "https": "Https"}
_DNS_LABEL_CHARS = frozenset("abcdefghijklmnopqrstuvwxyz0123456789-")


@dataclass(frozen=True, slots=True)
class AzureOptions:
    """The keyword arguments of ``get_provider("azure", ...)``, typed and checked.

    ``*_rate_limit`` (requests a second, ``None``: off) and ``*_rate_burst`` keep each client below ARM's token
    buckets per subscription (reads 250 refilled at 25/s, writes and deletes 200 at 10/s). ``retry_*`` shape the one
    backoff for throttled and failed calls; ``poll_interval`` is the first wait on a long-running operation when
    ARM sends no hint, and ``poll_timeout`` bounds the wait. ``network_resource_group`` holds the vnet and the
    security group when they are not in ``resource_group`` (where the balancers and public IPs go).
    """

    subscription_id: str
    resource_group: str
    location: str
    base_url: str | None = None
    ca_bundle: str | None = None
    use_mock_credential: bool = False
    vnet_name: str | None = None
    subnet_name: str | None = None
    security_group_name: str | None = None
    network_resource_group: str | None = None
    read_rate_limit: float | None = 20.0
    read_rate_burst: float = 200.0
    write_rate_limit: float | None = 8.0
    write_rate_burst: float = 160.0
    delete_rate_limit: float | None = 8.0
    delete_rate_burst: float = 160.0
    retry_attempts: int = 8
    retry_initial_delay: float = 0.5
    retry_max_delay: float = 30.0
    retry_deadline: float | None = 300.0
    poll_interval: float = 2.0
    poll_timeout: float = 900.0
    timeout: float = 60.0

    @classmethod
    def build(cls, **options: Any) -> AzureOptions:
        """From ``get_provider`` keyword arguments; strings from YAML or ``-o KEY=VALUE`` are converted. None turns
        off what may be off (a rate limit, the deadline) and means the default elsewhere."""
        built = options_from_kwargs(cls, "azure", options, _coerce)
        built._check()
        return built

    def _check(self) -> None:
        for name in ("subscription_id", "resource_group", "location"):
            if not getattr(self, name):
                raise ConfigError(f"azure option {name!r} must not be empty")
        for name in ("read_rate_limit", "write_rate_limit", "delete_rate_limit", "poll_timeout", "timeout"):
            value = getattr(self, name)
            if value is not None and value <= 0:
                raise ConfigError(f"azure option {name!r} must be positive, got {value}")
        for name in ("read_rate_burst", "write_rate_burst", "delete_rate_burst"):
            if getattr(self, name) < 1:
                raise ConfigError(f"azure option {name!r} must be at least 1, got {getattr(self, name)}")
        if self.retry_attempts < 1:
            raise ConfigError(f"azure option 'retry_attempts' must be at least 1, got {self.retry_attempts}")
        if self.poll_interval < 0 or self.retry_initial_delay < 0:
            raise ConfigError("azure options 'poll_interval' and 'retry_initial_delay' must not be negative")
        if self.subnet_name and not self.vnet_name:
            raise ConfigError("azure option 'subnet_name' needs 'vnet_name': a subnet is named inside its vnet")

    @property
    def backoff(self) -> Backoff:
        return Backoff(
            initial=self.retry_initial_delay,
            max_delay=self.retry_max_delay,
            max_attempts=self.retry_attempts,
            deadline=self.retry_deadline,
        )


def _coerce(name: str, value: object, kind: str) -> object:
    return coerce_option("azure", name, value, kind)


@dataclass(frozen=True, slots=True)
class Probe:
    """An Azure health probe. ``port=None``: each rule's backend port. ``count`` is both ``numberOfProbes`` and
    ``probeThreshold`` (Azure has one threshold for up and down, and no timeout)."""

    protocol: str  # Tcp, Http or Https
    port: int | None
    path: str | None
    interval: int
    count: int


@dataclass(frozen=True, slots=True)
class ServiceOptions:
    """What one Service asks of Azure, from its spec and the anchors' annotations."""

    internal_subnet: str | None = None
    pip_name: str | None = None
    pip_resource_group: str | None = None
    dns_label: str | None = None
    idle_timeout: int = 4
    floating_ip: bool = False
    source_ranges: tuple[str, ...] = ()
    probe: Probe = Probe("Tcp", None, None, 10, 3)

    @classmethod
    def parse(cls, spec: LoadBalancerSpec) -> ServiceOptions:
        notes = spec.annotations
        internal = spec.scheme is Scheme.INTERNAL
        for key in (INTERNAL_SUBNET,):
            if key in notes and not internal:
                raise InvalidSpecError(annotation_path(key), "only applies to internal Services")
        for key in (PIP_NAME, DNS_LABEL, RESOURCE_GROUP):
            if key in notes and internal:
                raise InvalidSpecError(annotation_path(key), "only applies to external Services (public IPs)")
        pip_name = _name(notes, PIP_NAME)
        if pip_name and DNS_LABEL in notes:
            raise InvalidSpecError(
                annotation_path(DNS_LABEL),
                f"cloudlb sets DNS labels only on public IPs it allocates; {PIP_NAME} names your own: label it there",
            )
        if pip_name and spec.load_balancer_ip:
            raise InvalidSpecError("spec.loadBalancerIP", f"conflicts with {annotation_path(PIP_NAME)}; use one")
        floating = not parse_bool(notes, DISABLE_FLOATING_IP) if DISABLE_FLOATING_IP in notes else False
        if floating and spec.target_mode is TargetMode.POD:
            raise InvalidSpecError(
                annotation_path(DISABLE_FLOATING_IP),
                "floating IP sends traffic to the frontend port: node targets only",
            )
        return cls(
            internal_subnet=_name(notes, INTERNAL_SUBNET),
            pip_name=pip_name,
            pip_resource_group=_group(notes),
            dns_label=_dns_label(notes),
            idle_timeout=_integer(notes, IDLE_TIMEOUT, 4, 100, 4),
            floating_ip=floating,
            source_ranges=_ranges(spec),
            probe=_probe(spec),
        )


def _name(notes: Mapping[str, str], key: str) -> str | None:
    value = notes.get(key, "").strip()
    return check_resource_name(value, annotation_path(key)) if value else None


def _group(notes: Mapping[str, str]) -> str | None:
    value = notes.get(RESOURCE_GROUP, "").strip()
    if not value:
        return None
    allowed = all(c.isalnum() or c in "-_.()" for c in value)
    if not (len(value) <= 90 and allowed and not value.endswith(".")):
        raise InvalidSpecError(annotation_path(RESOURCE_GROUP), f"{show(value)} is not a valid resource group name")
    return value


def _dns_label(notes: Mapping[str, str]) -> str | None:
    value = notes.get(DNS_LABEL, "").strip()
    if not value:
        return None
    ok = 3 <= len(value) <= 63 and set(value) <= _DNS_LABEL_CHARS and value[0].isalpha() and value[-1] != "-"
    if not ok:
        raise InvalidSpecError(
            annotation_path(DNS_LABEL),
            f"{show(value)} is not a DNS label Azure accepts: 3-63 lowercase letters, digits and '-', starting with a "
            "letter",
        )
    return value


def _integer(notes: Mapping[str, str], key: str, low: int, high: int, default: int) -> int:
    value = notes.get(key)
    if value is None:
        return default
    text = value.strip()
    if not (text.isascii() and text.isdigit() and low <= int(text) <= high):
        raise InvalidSpecError(annotation_path(key), f"{show(value)} is not an integer from {low} to {high}")
    return int(text)


def _ranges(spec: LoadBalancerSpec) -> tuple[str, ...]:
    raw = spec.annotations.get(ALLOWED_IP_RANGES)
    if raw is None:
        return spec.source_ranges
    if spec.source_ranges:
        raise InvalidSpecError(
            annotation_path(ALLOWED_IP_RANGES),
            "conflicts with spec.loadBalancerSourceRanges (or its annotation): give the allowed ranges in one place",
        )
    # The same parser as the core annotation, so both spell CIDRs alike; it reads this annotation under its key.
    renamed = {"service.beta.kubernetes.io/load-balancer-source-ranges": raw}
    try:
        return parse_source_ranges({}, renamed)
    except InvalidSpecError as exc:
        raise InvalidSpecError(annotation_path(ALLOWED_IP_RANGES), exc.message) from None


def _probe(spec: LoadBalancerSpec) -> Probe:
    """``spec.health_check`` (cloudlb.io/health-check-*, or kube-proxy's /healthz for Local), then the Azure probe
    annotations over it."""
    notes, check = spec.annotations, spec.health_check
    protocol: str = parse_choice(notes, PROBE_PROTOCOL, _PROBE_PROTOCOLS) or _PROBE_PROTOCOLS[check.protocol.lower()]
    path = notes.get(PROBE_PATH)
    if path is not None:
        if protocol == "Tcp":
            raise InvalidSpecError(annotation_path(PROBE_PATH), f"a Tcp probe has no path; set {PROBE_PROTOCOL}")
        if not path.startswith("/"):
            raise InvalidSpecError(annotation_path(PROBE_PATH), f"{show(path)} must start with /")
    if protocol == "Tcp":
        path = None
    else:
        default_path = check.path if check.protocol is not HealthCheckProtocol.TCP else None
        path = path or default_path or "/"
    interval = _integer(notes, PROBE_INTERVAL, 5, 2147483646, max(5, round(check.interval)))
    count = _integer(notes, PROBE_COUNT, 1, 2147483647, check.unhealthy_threshold)
    return Probe(protocol=protocol, port=check.port, path=path, interval=interval, count=count)
