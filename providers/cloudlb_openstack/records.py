"""What the OpenStack provider reads from the cloud, as small frozen records.

Where this sits: ``client.py`` turns every object the APIs answer (plain JSON) into one of these, so that nothing above
it handles raw answers; ``observe.py`` groups them per Service and ``converge.py`` compares them with the desired state
(desired.py). Tags are read into a mapping with ``naming.tags_from_strings`` (Octavia and Neutron keep ``key=value``
strings). A pool's members are keyed by ``Member``, the same tuple the desired state uses, so the two compare as sets.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any, NamedTuple

from cloudlb.model import FrozenDict
from cloudlb.naming import tags_from_strings

__all__ = [
    "PENDING_PREFIX",
    "FloatingIPRecord",
    "ListenerRecord",
    "LoadBalancerRecord",
    "Member",
    "MemberRecord",
    "MonitorRecord",
    "PoolRecord",
    "floating_ip_record",
    "listener_record",
    "load_balancer_record",
    "member_record",
    "monitor_record",
    "pool_record",
]

PENDING_PREFIX = "PENDING_"


class Member(NamedTuple):
    """One pool member as the batch update takes it: the identity Octavia matches on (address, port) plus the
    attributes cloudlb sets. A NamedTuple, like ``Target``: pools of thousands are diffed as sets on every sync."""

    address: str
    port: int
    monitor_port: int | None = None
    subnet_id: str | None = None
    tags: tuple[str, ...] = ()

    def body(self) -> dict[str, Any]:
        """The member as one entry of ``PUT /v2/lbaas/pools/{id}/members``."""
        out: dict[str, Any] = {"address": self.address, "protocol_port": self.port, "tags": list(self.tags)}
        if self.monitor_port is not None:
            out["monitor_port"] = self.monitor_port
        if self.subnet_id is not None:
            out["subnet_id"] = self.subnet_id
        return out

    def label(self) -> str:
        return f"{self.address}:{self.port}"


def _tags(value: Iterable[str] | None) -> FrozenDict:
    return FrozenDict(tags_from_strings(value or ()))


@dataclass(frozen=True, slots=True)
class LoadBalancerRecord:
    id: str
    name: str
    description: str
    tags: FrozenDict
    provisioning_status: str
    vip_address: str
    vip_port_id: str
    vip_subnet_id: str | None
    flavor_id: str | None
    availability_zone: str | None

    @property
    def pending(self) -> bool:
        return self.provisioning_status.startswith(PENDING_PREFIX)

    @property
    def label(self) -> str:
        return f"{self.name} ({self.id})"


@dataclass(frozen=True, slots=True)
class ListenerRecord:
    id: str
    name: str
    protocol: str
    port: int
    allowed_cidrs: tuple[str, ...]
    tags: FrozenDict
    default_pool_id: str | None


@dataclass(frozen=True, slots=True)
class PoolRecord:
    id: str
    name: str
    protocol: str
    lb_algorithm: str
    persistence: Mapping[str, Any] | None  # type and persistence_timeout, the parts cloudlb sets
    tags: FrozenDict
    healthmonitor_id: str | None


@dataclass(frozen=True, slots=True)
class MonitorRecord:
    id: str
    name: str
    type: str
    settings: Mapping[str, Any]  # delay, timeout, retries and the HTTP fields, as the API names them
    tags: FrozenDict


@dataclass(frozen=True, slots=True)
class MemberRecord:
    id: str
    key: Member


@dataclass(frozen=True, slots=True)
class FloatingIPRecord:
    id: str
    address: str
    network_id: str
    port_id: str | None
    tags: FrozenDict


def load_balancer_record(lb: Mapping[str, Any]) -> LoadBalancerRecord:
    return LoadBalancerRecord(
        id=str(lb["id"]),
        name=str(lb.get("name") or ""),
        description=str(lb.get("description") or ""),
        tags=_tags(lb.get("tags")),
        provisioning_status=str(lb.get("provisioning_status") or ""),
        vip_address=str(lb.get("vip_address") or ""),
        vip_port_id=str(lb.get("vip_port_id") or ""),
        vip_subnet_id=lb.get("vip_subnet_id") or None,
        flavor_id=lb.get("flavor_id") or None,
        availability_zone=lb.get("availability_zone") or None,
    )


def listener_record(listener: Mapping[str, Any]) -> ListenerRecord:
    return ListenerRecord(
        id=str(listener["id"]),
        name=str(listener.get("name") or ""),
        protocol=str(listener["protocol"]),
        port=int(listener["protocol_port"]),
        allowed_cidrs=tuple(sorted(listener.get("allowed_cidrs") or ())),
        tags=_tags(listener.get("tags")),
        default_pool_id=listener.get("default_pool_id") or None,
    )


def pool_record(pool: Mapping[str, Any]) -> PoolRecord:
    raw = pool.get("session_persistence")
    persistence = None
    if raw:
        persistence = {"type": raw.get("type"), "persistence_timeout": raw.get("persistence_timeout")}
    return PoolRecord(
        id=str(pool["id"]),
        name=str(pool.get("name") or ""),
        protocol=str(pool["protocol"]),
        lb_algorithm=str(pool["lb_algorithm"]),
        persistence=persistence,
        tags=_tags(pool.get("tags")),
        healthmonitor_id=pool.get("healthmonitor_id") or None,
    )


MONITOR_SETTINGS = ("delay", "timeout", "max_retries", "max_retries_down", "http_method", "url_path", "expected_codes")


def monitor_record(monitor: Mapping[str, Any]) -> MonitorRecord:
    return MonitorRecord(
        id=str(monitor["id"]),
        name=str(monitor.get("name") or ""),
        type=str(monitor["type"]),
        settings={name: monitor.get(name) for name in MONITOR_SETTINGS},
        tags=_tags(monitor.get("tags")),
    )


def member_record(member: Mapping[str, Any]) -> MemberRecord:
    key = Member(
        address=str(member["address"]),
        port=int(member["protocol_port"]),
        monitor_port=member.get("monitor_port"),
        subnet_id=member.get("subnet_id") or None,
        tags=tuple(sorted(member.get("tags") or ())),
    )
    return MemberRecord(id=str(member["id"]), key=key)


def floating_ip_record(fip: Mapping[str, Any]) -> FloatingIPRecord:
    return FloatingIPRecord(
        id=str(fip["id"]),
        address=str(fip["floating_ip_address"]),
        network_id=str(fip["floating_network_id"]),
        port_id=fip.get("port_id") or None,
        tags=_tags(fip.get("tags")),
    )
