"""Floating IPs: an external Service gets one; loadBalancerIP names one to use; cloudlb releases only those it
allocated (their tags say so) and only when keep-floatingip is not asked."""

from __future__ import annotations

import openstack
import pytest
from openstack.connection import Connection

from cloudlb.errors import ConflictError
from cloudlb.naming import CLUSTER_TAG, SERVICE_TAG, UID_TAG
from cloudlb_openstack.fake import FakeOpenStack
from cloudlb_openstack.provider import OpenStackProvider
from tests.openstack.helpers import CLUSTER, make_spec, only_lb, tags, writes

INTERNAL = {"service.beta.kubernetes.io/openstack-internal-load-balancer": "true"}
KEEP = {"loadbalancer.openstack.org/keep-floatingip": "true"}


def test_an_allocated_floating_ip_is_tagged_and_released_on_delete(
    provider: OpenStackProvider, conn: Connection
) -> None:
    spec = make_spec()
    status = provider.ensure(spec)
    lb = only_lb(conn)
    [fip] = list(conn.network.ips())

    assert fip.port_id == lb.vip_port_id
    assert status.ingress[0].ip == fip.floating_ip_address != lb.vip_address
    owner = {CLUSTER_TAG: CLUSTER, SERVICE_TAG: "demo/web", UID_TAG: "uid-1", "cloudlb.io/floating-ip": "release"}
    assert tags(fip) == owner

    assert provider.delete(spec) is True
    assert list(conn.network.ips()) == []


def test_a_users_floating_ip_named_by_load_balancer_ip_is_used_and_kept(
    cloud: FakeOpenStack, provider: OpenStackProvider, conn: Connection
) -> None:
    theirs = conn.network.create_ip(floating_network_id=cloud.external_network_id, tags=["owner=me"])
    spec = make_spec(loadBalancerIP=theirs.floating_ip_address)

    status = provider.ensure(spec)
    attached = conn.network.get_ip(theirs.id)
    provider.delete(spec)
    after = conn.network.get_ip(theirs.id)

    assert status.ingress[0].ip == theirs.floating_ip_address
    assert attached.port_id is not None
    assert [ip.id for ip in conn.network.ips()] == [theirs.id]  # none was allocated, and it was not released
    assert after.port_id is None and after.tags == ["owner=me"]


def test_an_address_no_floating_ip_has_yet_is_allocated_and_released(
    cloud: FakeOpenStack, provider: OpenStackProvider, conn: Connection
) -> None:
    spec = make_spec(loadBalancerIP="172.24.4.99")

    provider.ensure(spec)
    [fip] = list(conn.network.ips())
    provider.delete(spec)

    assert fip.floating_ip_address == "172.24.4.99"
    assert tags(fip)["cloudlb.io/floating-ip"] == "release"
    assert list(conn.network.ips()) == []


def test_keep_floatingip_keeps_an_allocated_one_and_reuses_it(provider: OpenStackProvider, conn: Connection) -> None:
    spec = make_spec(annotations=KEEP)
    provider.ensure(spec)
    [fip] = list(conn.network.ips())

    provider.delete(spec)
    [kept] = list(conn.network.ips())
    provider.ensure(spec)
    [again] = list(conn.network.ips())

    assert tags(fip)["cloudlb.io/floating-ip"] == "keep"
    assert kept.id == fip.id and kept.port_id is None
    assert again.id == fip.id and again.port_id == only_lb(conn).vip_port_id


def test_internal_services_get_no_floating_ip_and_lose_one_they_had(
    cloud: FakeOpenStack, provider: OpenStackProvider, conn: Connection
) -> None:
    provider.ensure(make_spec())
    lb = only_lb(conn)

    status = provider.ensure(make_spec(annotations=INTERNAL))

    assert list(conn.network.ips()) == []
    assert status.ingress[0].ip == lb.vip_address
    assert only_lb(conn).id == lb.id  # scheme is not a property of an Octavia load balancer: kept
    provider.ensure(make_spec())
    assert [ip.port_id for ip in conn.network.ips()] == [lb.vip_port_id]


def test_moving_to_a_users_floating_ip_releases_the_allocated_one(
    cloud: FakeOpenStack, provider: OpenStackProvider, conn: Connection
) -> None:
    provider.ensure(make_spec())
    [ours] = list(conn.network.ips())
    theirs = conn.network.create_ip(floating_network_id=cloud.external_network_id)

    provider.ensure(make_spec(loadBalancerIP=theirs.floating_ip_address))

    [left] = list(conn.network.ips())
    assert left.id == theirs.id and left.port_id == only_lb(conn).vip_port_id
    with pytest.raises(openstack.exceptions.NotFoundException):
        conn.network.get_ip(ours.id)


def test_a_floating_ip_attached_elsewhere_is_not_taken_over(
    cloud: FakeOpenStack, provider: OpenStackProvider, conn: Connection
) -> None:
    port = conn.network.create_port(network_id=conn.network.get_subnet(cloud.subnet_id).network_id)
    theirs = conn.network.create_ip(floating_network_id=cloud.external_network_id, port_id=port.id)
    start = writes(cloud)

    with pytest.raises(ConflictError, match=theirs.floating_ip_address):
        provider.plan(make_spec(loadBalancerIP=theirs.floating_ip_address))

    assert writes(cloud) == start
    assert conn.network.get_ip(theirs.id).port_id == port.id


def test_an_internal_load_balancer_ip_is_the_vip_address(provider: OpenStackProvider, conn: Connection) -> None:
    status = provider.ensure(make_spec(annotations=INTERNAL, loadBalancerIP="10.0.0.77"))

    lb = only_lb(conn)
    assert lb.vip_address == "10.0.0.77" == status.ingress[0].ip
    assert list(conn.network.ips()) == []

    moved = provider.ensure(make_spec(annotations=INTERNAL, loadBalancerIP="10.0.0.78"))

    assert only_lb(conn).id != lb.id and moved.ingress[0].ip == "10.0.0.78"  # a VIP cannot move: replaced
