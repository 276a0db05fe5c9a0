"""Delete: one cascade DELETE per load balancer, then the floating IPs cloudlb allocated; resources of others,
however alike, are never touched."""

from __future__ import annotations

import copy

import openstack
import pytest
from openstack.connection import Connection

from cloudlb.model import OwnedLoadBalancer
from cloudlb.naming import CLUSTER_TAG, SERVICE_TAG, UID_TAG, tags_to_strings
from cloudlb_openstack.fake import FakeOpenStack
from cloudlb_openstack.provider import OpenStackProvider
from tests.openstack.helpers import CLUSTER, DELAY, make_spec, only_lb, tree, writes


def test_cascade_delete_leaves_nothing(cloud: FakeOpenStack, provider: OpenStackProvider, conn: Connection) -> None:
    spec = make_spec(ports=(("TCP", 80), ("UDP", 53)))
    provider.ensure(spec)
    lb = only_lb(conn)
    ports = tree(conn, lb.id)
    pools = [p.pool.id for p in ports.values()]
    start = writes(cloud)

    assert provider.delete(spec) is True

    assert writes(cloud) - start == 2  # the load balancer, with cascade, and the floating IP
    assert cloud.count("DELETE", r"/lbaas/loadbalancers/") == 1
    assert cloud.count("DELETE", r"/lbaas/(listeners|pools|healthmonitors)") == 0
    assert list(conn.load_balancer.load_balancers()) == []
    assert list(conn.load_balancer.listeners()) == []
    assert list(conn.load_balancer.pools()) == []
    assert list(conn.load_balancer.health_monitors()) == []
    for pool_id in pools:
        assert conn.load_balancer.get(f"/lbaas/pools/{pool_id}/members").status_code == 404
    with pytest.raises(openstack.exceptions.NotFoundException):
        conn.network.get_port(lb.vip_port_id)
    assert list(conn.network.ips()) == []
    assert provider.get(spec) is None
    assert provider.delete(spec) is False


def test_a_foreign_lookalike_and_its_floating_ip_are_never_touched(
    cloud: FakeOpenStack, provider: OpenStackProvider, conn: Connection
) -> None:
    spec = make_spec()
    foreign = {CLUSTER_TAG: "other-cluster", SERVICE_TAG: "demo/web", UID_TAG: "uid-1"}
    lb = conn.load_balancer.create_load_balancer(
        name=provider.load_balancer_name(spec), vip_subnet_id=cloud.subnet_id, tags=tags_to_strings(foreign)
    )
    fip = conn.network.create_ip(
        floating_network_id=cloud.external_network_id,
        port_id=lb.vip_port_id,
        tags=tags_to_strings({**foreign, "cloudlb.io/floating-ip": "release"}),
    )
    cloud.state.complete_all()
    before = copy.deepcopy((cloud.state.loadbalancers[lb.id], cloud.state.floatingips[fip.id]))

    assert provider.get(spec) is None
    assert provider.delete(spec) is False
    provider.ensure(spec)
    provider.delete(spec)

    assert (cloud.state.loadbalancers[lb.id], cloud.state.floatingips[fip.id]) == before
    touched = [r for r in cloud.requests if r.method in ("PUT", "DELETE") and (lb.id in r.path or fip.id in r.path)]
    assert touched == []
    assert [o.cluster for o in provider.list_owned("other-cluster")] == ["other-cluster"]
    assert provider.list_owned(CLUSTER) == []


def test_delete_waits_out_a_busy_load_balancer(
    cloud: FakeOpenStack, provider: OpenStackProvider, conn: Connection
) -> None:
    spec = make_spec()
    provider.ensure(spec)
    cloud.state.provisioning_delay = 0.2
    conn.load_balancer.update_load_balancer(only_lb(conn).id, description="busy")
    cloud.state.provisioning_delay = DELAY

    assert provider.delete(spec) is True

    assert cloud.count(status=409) == 0
    assert list(conn.load_balancer.load_balancers()) == []


def test_gc_deletes_by_owned_entry_only_what_its_tags_name(
    cloud: FakeOpenStack, provider: OpenStackProvider, conn: Connection
) -> None:
    provider.ensure(make_spec())
    [entry] = provider.list_owned(CLUSTER)
    other = OwnedLoadBalancer(CLUSTER, "demo", "web", "another-uid", entry.cloud_name, entry.cloud_id)

    assert provider.delete(other) is False  # the id alone proves nothing: the uid differs
    assert provider.delete(entry) is True

    assert list(conn.load_balancer.load_balancers()) == []
    assert list(conn.network.ips()) == []
