"""What the daemon asks the data plane for, and what the data plane reports back.

Where this sits: the local provider's daemon turns each stored load balancer into ``ListenerConfig`` values and
hands the full desired set to ``Dataplane.apply``; ``Dataplane.status`` answers with ``ListenerStatus`` values.
Configs are frozen and hashable so the daemon can diff them; status is observed and never fed back.
"""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass, field

from cloudlb.model import Algorithm, HealthCheckProtocol, Protocol, ProxyProtocol

__all__ = [
    "Backend",
    "BackendHealth",
    "HealthCheckConfig",
    "ListenerConfig",
    "ListenerKey",
    "ListenerStatus",
    "format_hostport",
]

ListenerKey = tuple[str, int, Protocol]


def format_hostport(ip: str, port: int) -> str:
    """``127.0.0.1:80`` or ``[::1]:80``: the one spelling used in errors, metric labels and logs."""
    return f"[{ip}]:{port}" if ":" in ip else f"{ip}:{port}"


def _check_port(what: str, port: int, *, allow_zero: bool = False) -> None:
    low = 0 if allow_zero else 1
    if not low <= port <= 65535:
        raise ValueError(f"{what}: {port} is not a port")


@dataclass(frozen=True, slots=True, order=True)
class Backend:
    """One target: a node's InternalIP at the nodePort, or a pod's IP at its port."""

    ip: str
    port: int

    def __post_init__(self) -> None:
        ipaddress.ip_address(self.ip)  # raises ValueError: the data plane never resolves names
        _check_port("backend port", self.port)

    def __str__(self) -> str:
        return format_hostport(self.ip, self.port)


@dataclass(frozen=True, slots=True)
class HealthCheckConfig:
    """Active checks, run against every backend of a listener."""

    protocol: HealthCheckProtocol = HealthCheckProtocol.TCP
    port: int | None = None  # None: the backend's own port
    path: str = "/"
    interval: float = 10.0
    timeout: float = 5.0
    healthy_threshold: int = 2
    unhealthy_threshold: int = 3

    def __post_init__(self) -> None:
        if self.port is not None:
            _check_port("health check port", self.port)
        if self.interval <= 0 or self.timeout <= 0:
            raise ValueError("health check interval and timeout must be positive")
        if self.healthy_threshold < 1 or self.unhealthy_threshold < 1:
            raise ValueError("health check thresholds must be at least 1")
        if not self.path.startswith("/"):
            raise ValueError(f"health check path must start with '/': {self.path!r}")


@dataclass(frozen=True, slots=True)
class ListenerConfig:
    """One frontend (address, port, protocol) and the pool behind it."""

    lb_id: str
    address: str
    port: int
    protocol: Protocol
    backends: frozenset[Backend]
    algorithm: Algorithm = Algorithm.ROUND_ROBIN
    health_check: HealthCheckConfig | None = None
    source_ranges: tuple[str, ...] = ()  # CIDRs; empty means everyone
    proxy_protocol: ProxyProtocol = ProxyProtocol.NONE
    affinity_timeout: float = 10800.0  # SOURCE_IP: seconds since a client's last use; kube's ClientIP default
    udp_idle_timeout: float = 60.0
    drain_timeout: float = 300.0
    # Optional knobs beyond the contract; the defaults suit the daemon.
    connect_timeout: float = 5.0
    connect_attempts: int = 3  # backends tried per client connection before giving up
    ejection_time: float = 30.0  # without active checks, how long a passively ejected backend stays out

    def __post_init__(self) -> None:
        ipaddress.ip_address(self.address)
        if self.protocol not in (Protocol.TCP, Protocol.UDP):
            raise ValueError(f"the local data plane serves TCP and UDP, not {self.protocol}")
        _check_port("listener port", self.port)
        for cidr in self.source_ranges:
            ipaddress.ip_network(cidr, strict=False)
        if self.connect_attempts < 1:
            raise ValueError("connect_attempts must be at least 1")
        for name in ("affinity_timeout", "udp_idle_timeout", "connect_timeout", "ejection_time"):
            if getattr(self, name) <= 0:
                raise ValueError(f"{name} must be positive")
        if self.drain_timeout < 0:
            raise ValueError("drain_timeout must not be negative")

    @property
    def key(self) -> ListenerKey:
        return (self.address, self.port, self.protocol)

    @property
    def name(self) -> str:
        """``127.0.100.1:80/TCP``: the listener label in metrics and logs."""
        return f"{format_hostport(self.address, self.port)}/{self.protocol.value}"


@dataclass(frozen=True, slots=True)
class BackendHealth:
    """One backend as the data plane sees it now."""

    healthy: bool
    active_connections: int  # TCP connections, or UDP flows
    draining: bool = False  # removed from the config; established connections still running
    total_connections: int = 0
    connect_errors: int = 0  # failed connects (TCP) or port-unreachable replies (UDP), each a passive ejection
    bytes_in: int = 0  # from clients to this backend
    bytes_out: int = 0  # from this backend to clients
    last_error: str | None = None  # the last failed check or connect


@dataclass(frozen=True, slots=True)
class ListenerStatus:
    error: str | None  # None: serving; otherwise one line, e.g. "address in use: 127.0.100.1:8080"
    backends: dict[Backend, BackendHealth] = field(default_factory=dict)
    active_connections: int = 0
    refused: dict[str, int] = field(default_factory=dict)  # reason -> count
