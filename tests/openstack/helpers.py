"""What the OpenStack provider's tests share: specs built from manifests, a provider on the fake, and read-backs.

Read-backs go through an openstacksdk connection of their own, never the provider's, so what a test asserts is what
the fake holds. Calls are counted in the fake's own request log. Large member lists are read through the SDK's
adapter as JSON: building an SDK resource per member would take seconds for 1,000.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

import openstack
from openstack.connection import Connection

from cloudlb import spec_from_manifests
from cloudlb.model import LoadBalancerSpec
from cloudlb.naming import tags_from_strings
from cloudlb_openstack.fake import FakeOpenStack
from cloudlb_openstack.provider import OpenStackProvider
from tests.kube.builders import node, port, service

CLUSTER = "test"
NAMESPACE = "demo"
DELAY = 0.02  # the fake's provisioning delay: short, but every write really passes through PENDING_*
FAST = {"poll_interval": 0.005, "max_poll_interval": 0.02, "round_delay": 0.01, "read_retries": 3}
WRITES = ("POST", "PUT", "DELETE", "PATCH")
SERVICES = r"^/(load-balancer|networking)/"


def options(cloud: FakeOpenStack, **extra: Any) -> dict[str, Any]:
    """What ``cloudlb mock-server openstack`` prints for this fake, with fast polling."""
    return {
        **cloud.connection_options(),
        "floating_network_id": cloud.external_network_id,
        "subnet_id": cloud.subnet_id,
        **FAST,
        **extra,
    }


def make_provider(cloud: FakeOpenStack, **extra: Any) -> OpenStackProvider:
    return OpenStackProvider(**options(cloud, **extra))


def connect(cloud: FakeOpenStack) -> Connection:
    return openstack.connection.Connection(**cloud.connection_options())


def node_ip(i: int) -> str:
    return f"10.1.{i // 250}.{i % 250 + 1}"


def make_spec(
    name: str = "web",
    *,
    ports: Sequence[tuple[str, int]] = (("TCP", 80),),
    nodes: Iterable[int] = range(3),
    annotations: dict[str, str] | None = None,
    uid: str | None = "uid-1",
    **fields: Any,
) -> LoadBalancerSpec:
    """A Service in node mode: port i has nodePort 30000+i; node i is at ``node_ip(i)``."""
    manifest = service(
        name,
        NAMESPACE,
        ports=[port(f"{p.lower()}-{n}", n, 30000 + i, p) for i, (p, n) in enumerate(ports)],
        annotations=annotations,
        uid=uid,
        **fields,
    )
    return spec_from_manifests(manifest, (), [node(f"node-{i}", node_ip(i)) for i in nodes], cluster=CLUSTER)


def writes(cloud: FakeOpenStack, path: str = SERVICES) -> int:
    """Mutating requests to Octavia and Neutron whose path matches ``path`` (a token request is not a write to
    the cloud)."""
    return sum(cloud.count(method, path) for method in WRITES)


@dataclass
class Port:
    listener: Any
    pool: Any
    monitor: Any
    members: list[dict[str, Any]]


def tree(conn: Connection, lb_id: str) -> dict[tuple[str, int], Port]:
    """A load balancer's ports as Octavia reports them: listener, default pool, monitor and members."""
    out = {}
    for listener in conn.load_balancer.listeners(load_balancer_id=lb_id):
        pool = conn.load_balancer.get_pool(listener.default_pool_id) if listener.default_pool_id else None
        monitor = None
        members: list[dict[str, Any]] = []
        if pool is not None:
            if pool.health_monitor_id:
                monitor = conn.load_balancer.get_health_monitor(pool.health_monitor_id)
            members = conn.load_balancer.get(f"/lbaas/pools/{pool.id}/members").json()["members"]
        out[(listener.protocol, listener.protocol_port)] = Port(listener, pool, monitor, members)
    return out


def endpoints(members: Iterable[dict[str, Any]]) -> set[tuple[str, int]]:
    return {(m["address"], m["protocol_port"]) for m in members}


def tags(resource: Any) -> dict[str, str]:
    raw = resource["tags"] if isinstance(resource, dict) else resource.tags
    return tags_from_strings(raw or ())


def only_lb(conn: Connection) -> Any:
    [lb] = list(conn.load_balancer.load_balancers())
    return lb
