"""The plan/ensure discipline on a Service that uses most of what the provider offers: plan reads only, ensure
converges, and a second ensure writes nothing."""

from __future__ import annotations

from typing import Any

from openstack.connection import Connection

from cloudlb.naming import UID_TAG
from cloudlb_openstack.fake import FakeOpenStack
from cloudlb_openstack.provider import OpenStackProvider
from tests.openstack.helpers import endpoints, make_spec, node_ip, only_lb, tags, tree, writes

RICH: dict[str, Any] = {
    "ports": (("TCP", 80), ("TCP", 443), ("UDP", 53)),
    "externalTrafficPolicy": "Local",
    "healthCheckNodePort": 32000,
    "sessionAffinity": "ClientIP",
    "loadBalancerSourceRanges": ["10.0.0.0/8"],
    "annotations": {
        "cloudlb.io/tags": "team=web",
        "loadbalancer.openstack.org/proxy-protocol": "v2",
        "loadbalancer.openstack.org/health-monitor-max-retries": "4",
    },
}


def test_plan_reads_only_and_a_second_ensure_writes_nothing(
    cloud: FakeOpenStack, provider: OpenStackProvider, conn: Connection
) -> None:
    spec = make_spec(**RICH)

    plan = provider.plan(spec)
    assert not plan.is_empty and writes(cloud) == 0
    status = provider.ensure(spec)
    created = writes(cloud)

    assert provider.plan(spec).is_empty
    assert provider.ensure(spec) == status == provider.get(spec)
    assert writes(cloud) == created
    ports = tree(conn, only_lb(conn).id)
    assert {key: p.pool.protocol for key, p in ports.items()} == {
        ("TCP", 80): "PROXYV2",
        ("TCP", 443): "PROXYV2",
        ("UDP", 53): "UDP",  # there is no PROXY protocol for UDP
    }
    assert {p.monitor.max_retries for p in ports.values()} == {4}
    assert cloud.count(status=409) == 0


def test_ports_that_change_are_created_before_old_ones_are_deleted(
    cloud: FakeOpenStack, provider: OpenStackProvider, conn: Connection
) -> None:
    provider.ensure(make_spec(ports=(("TCP", 80), ("TCP", 443))))
    lb = only_lb(conn)
    kept = tree(conn, lb.id)[("TCP", 80)].listener.id
    changed = make_spec(ports=(("TCP", 80), ("TCP", 8443), ("UDP", 53)))

    plan = provider.plan(changed)
    provider.ensure(changed)

    shown = [(c.action.value, c.resource, c.name.rsplit(" ", 1)[-1]) for c in plan]
    assert shown.index(("create", "listener", "(TCP-8443)")) < shown.index(("delete", "listener", "(TCP-443)"))
    ports = tree(conn, only_lb(conn).id)
    assert set(ports) == {("TCP", 80), ("TCP", 8443), ("UDP", 53)}
    assert ports[("TCP", 80)].listener.id == kept  # untouched
    assert endpoints(ports[("TCP", 8443)].members) == {(node_ip(n), 30001) for n in range(3)}
    assert len(list(conn.load_balancer.pools())) == 3  # the old port's pool went with its listener


def test_a_spec_from_a_file_keeps_the_uid_a_controller_recorded(
    cloud: FakeOpenStack, provider: OpenStackProvider, conn: Connection
) -> None:
    provider.ensure(make_spec(uid="uid-7"))
    start = writes(cloud)

    from_file = make_spec(uid=None, nodes=range(1, 4))
    provider.ensure(from_file)

    assert writes(cloud) - start == 1  # the members, nothing about tags
    lb = only_lb(conn)
    assert tags(lb)[UID_TAG] == "uid-7"
    assert all(tags(m)[UID_TAG] == "uid-7" for p in tree(conn, lb.id).values() for m in p.members)


def test_a_recreated_service_replaces_what_its_earlier_self_left(
    cloud: FakeOpenStack, provider: OpenStackProvider, conn: Connection
) -> None:
    provider.ensure(make_spec(uid="uid-1"))
    old = only_lb(conn)

    provider.ensure(make_spec(uid="uid-2"))

    new = only_lb(conn)
    [fip] = list(conn.network.ips())
    assert new.id != old.id and tags(new)[UID_TAG] == "uid-2"
    assert tags(fip)[UID_TAG] == "uid-2" and fip.port_id == new.vip_port_id
