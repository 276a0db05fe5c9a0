"""Reading one Service's resources from OpenStack, found by their ownership tags, never by name.

Where this sits: the provider calls ``find`` and then ``observe``; converge.py plans from the ``Observation``. The
reads, for a Service whose load balancer has P pools:

- ``GET /lbaas/loadbalancers?tags=<cluster>,<service>``: every incarnation of the Service, sorted by ``classify``
  into mine (the kept one first: the one whose unmodifiable fields match the spec) and stale (another uid);
- for the kept one: its listeners and pools (``?loadbalancer_id=``), the Service's health monitors (by tags) and
  each pool's members: 3 + P calls;
- floating IPs: those tagged for the Service (so one whose creation answer was lost is found), those on the kept
  load balancer's VIP port, and, when ``loadBalancerIP`` names one not among them, that address: 2 or 3 calls.

``Depth.TARGETS`` (update_targets) reads listeners, pools and members only; ``Depth.IDENTITY`` (get, delete) only
the load balancers.
"""

from __future__ import annotations

import enum
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field

from cloudlb.apply import Classified, classify
from cloudlb.model import ServiceRef
from cloudlb.naming import CLUSTER_TAG, SERVICE_TAG, Ownership, ownership
from cloudlb_openstack.client import OpenStackClient
from cloudlb_openstack.records import (
    FloatingIPRecord,
    ListenerRecord,
    LoadBalancerRecord,
    MemberRecord,
    MonitorRecord,
    PoolRecord,
)

__all__ = ["Depth", "FloatingIPs", "Observation", "find", "observe", "service_tags"]


class Depth(enum.Enum):
    FULL = "full"
    TARGETS = "targets"
    IDENTITY = "identity"


def service_tags(ref: ServiceRef) -> dict[str, str]:
    """The tag filter every read of a Service uses: any uid, so stale incarnations are found too."""
    return {CLUSTER_TAG: ref.cluster, SERVICE_TAG: ref.service}


@dataclass(frozen=True)
class FloatingIPs:
    """The floating IPs that concern a Service. ``mine``/``stale`` carry its tags (cloudlb allocated them)."""

    mine: tuple[FloatingIPRecord, ...] = ()
    stale: tuple[FloatingIPRecord, ...] = ()
    on_port: tuple[FloatingIPRecord, ...] = ()  # on the kept load balancer's VIP port, whoever allocated them
    at_address: FloatingIPRecord | None = None  # the one loadBalancerIP names, if it exists

    def is_mine(self, fip: FloatingIPRecord) -> bool:
        return any(f.id == fip.id for f in self.mine)


@dataclass(frozen=True)
class Observation:
    ref: ServiceRef
    load_balancers: Classified[LoadBalancerRecord]
    kept: LoadBalancerRecord | None
    listeners: tuple[ListenerRecord, ...] = ()
    pools: tuple[PoolRecord, ...] = ()
    monitors: Mapping[str, MonitorRecord] = field(default_factory=dict)
    members: Mapping[str, tuple[MemberRecord, ...]] = field(default_factory=dict)  # pool id -> its members
    floating_ips: FloatingIPs = FloatingIPs()

    @property
    def replaced(self) -> tuple[LoadBalancerRecord, ...]:
        """Load balancers of this Service other than the kept one: duplicates, or ones a new one replaces."""
        return tuple(lb for lb in self.load_balancers.mine if lb is not self.kept)

    def owns(self, tags: Mapping[str, str]) -> bool:
        """Whether a child resource carries this Service's tags (any uid: the load balancer already is ours)."""
        return ownership(tags, self.ref) is not Ownership.FOREIGN


def find(
    client: OpenStackClient, ref: ServiceRef, *, prefer: Callable[[LoadBalancerRecord], bool] | None = None
) -> Classified[LoadBalancerRecord]:
    """The Service's load balancers, mine best first (``prefer``, then an exact uid, then by id), and stale."""
    found = client.load_balancers(service_tags(ref))
    return classify(found, ref, tags=lambda lb: lb.tags, key=lambda lb: lb.id, prefer=prefer)


def observe(
    client: OpenStackClient,
    ref: ServiceRef,
    found: Classified[LoadBalancerRecord],
    kept: LoadBalancerRecord | None,
    *,
    depth: Depth,
    address: str | None = None,
) -> Observation:
    """Read what lies under ``kept`` (and the Service's floating IPs at full depth)."""
    if depth is Depth.IDENTITY:
        return Observation(ref, found, kept)
    listeners: tuple[ListenerRecord, ...] = ()
    pools: tuple[PoolRecord, ...] = ()
    monitors: dict[str, MonitorRecord] = {}
    members: dict[str, tuple[MemberRecord, ...]] = {}
    if kept is not None:
        listeners = tuple(client.listeners(kept.id))
        pools = tuple(client.pools(kept.id))
        if depth is Depth.FULL:
            monitors = {m.id: m for m in client.monitors(service_tags(ref))}
        owned = Observation(ref, found, kept)
        for pool in pools:
            if owned.owns(pool.tags):
                members[pool.id] = tuple(client.members(pool.id))
    fips = _floating_ips(client, ref, kept, address) if depth is Depth.FULL else FloatingIPs()
    return Observation(ref, found, kept, listeners, pools, monitors, members, fips)


def _floating_ips(
    client: OpenStackClient, ref: ServiceRef, kept: LoadBalancerRecord | None, address: str | None
) -> FloatingIPs:
    tagged = classify(client.floating_ips(tags=service_tags(ref)), ref, tags=lambda f: f.tags, key=lambda f: f.id)
    on_port = tuple(client.floating_ips(port_id=kept.vip_port_id)) if kept is not None else ()
    at_address = None
    if address is not None:
        known = {f.address: f for f in (*tagged.mine, *tagged.stale, *on_port)}
        at_address = known.get(address)
        if at_address is None:
            at_address = next(iter(client.floating_ips(floating_ip_address=address)), None)
    return FloatingIPs(tagged.mine, tagged.stale, on_port, at_address)
