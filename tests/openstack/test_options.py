"""The anchors' loadbalancer.openstack.org/* annotations: parsed once, before any call, into ``ServiceOptions``; a bad
one is an ``InvalidSpecError`` naming it. Each honoured one is read back from the cloud."""

from __future__ import annotations

import logging
import uuid
from typing import Any

import pytest
from openstack.connection import Connection

from cloudlb.errors import InvalidSpecError, UnsupportedFeatureError
from cloudlb_openstack.fake import FakeOpenStack
from cloudlb_openstack.provider import OpenStackProvider
from tests.openstack.helpers import make_spec, only_lb, tree, writes

OS = "loadbalancer.openstack.org/"


@pytest.mark.parametrize(
    ("annotations", "fields", "where"),
    [
        pytest.param({OS + "lb-method": "FASTEST"}, {}, OS + "lb-method", id="lb-method"),
        pytest.param(
            {OS + "lb-method": "ROUND_ROBIN", "cloudlb.io/algorithm": "least-connections"},
            {},
            OS + "lb-method",
            id="lb-method-conflicts-with-cloudlb-algorithm",
        ),
        pytest.param({OS + "subnet-id": "private-subnet"}, {}, OS + "subnet-id", id="subnet-id-not-a-uuid"),
        pytest.param({OS + "floating-network-id": "public"}, {}, OS + "floating-network-id", id="network-not-a-uuid"),
        pytest.param({OS + "enable-health-monitor": "maybe"}, {}, OS + "enable-health-monitor", id="bool"),
        pytest.param({OS + "keep-floatingip": "yes"}, {}, OS + "keep-floatingip", id="keep-floatingip"),
        pytest.param({OS + "health-monitor-delay": "0"}, {}, OS + "health-monitor-delay", id="delay-zero"),
        pytest.param({OS + "health-monitor-max-retries": "11"}, {}, OS + "health-monitor-max-retries", id="retries"),
        pytest.param(
            {OS + "health-monitor-delay": "3", OS + "health-monitor-timeout": "5"},
            {},
            OS + "health-monitor-timeout",
            id="timeout-over-delay",
        ),
        pytest.param({OS + "proxy-protocol": "v3"}, {}, OS + "proxy-protocol", id="proxy-protocol"),
        pytest.param(
            {OS + "proxy-protocol": "v1", "cloudlb.io/proxy-protocol": "v2"},
            {},
            OS + "proxy-protocol",
            id="proxy-protocol-conflict",
        ),
        pytest.param(
            {"cloudlb.io/health-check-interval": "2", "cloudlb.io/health-check-timeout": "1"},
            {"ports": (("UDP", 53),)},
            "cloudlb.io/health-check-interval",
            id="udp-connect-delay-under-3s",
        ),
        pytest.param(
            {}, {"loadBalancerSourceRanges": ["2001:db8::/32"]}, "spec.loadBalancerSourceRanges", id="v6-only"
        ),
    ],
)
def test_a_bad_annotation_is_refused_before_any_call(
    cloud: FakeOpenStack,
    provider: OpenStackProvider,
    annotations: dict[str, str],
    fields: dict[str, Any],
    where: str,
) -> None:
    spec = make_spec(annotations=annotations, **fields)

    with pytest.raises(InvalidSpecError) as raised:
        provider.plan(spec)
    with pytest.raises(InvalidSpecError):
        provider.ensure(spec)

    assert where in raised.value.path
    assert cloud.requests == []


def test_source_ip_port_is_unsupported(cloud: FakeOpenStack, provider: OpenStackProvider) -> None:
    with pytest.raises(UnsupportedFeatureError, match="SOURCE_IP_PORT"):
        provider.plan(make_spec(annotations={OS + "lb-method": "source_ip_port"}))
    assert cloud.requests == []


def test_lb_method_and_health_monitor_settings_are_applied_and_converged(
    cloud: FakeOpenStack, provider: OpenStackProvider, conn: Connection
) -> None:
    notes = {
        OS + "lb-method": "LEAST_CONNECTIONS",
        OS + "health-monitor-delay": "7",
        OS + "health-monitor-timeout": "4",
        OS + "health-monitor-max-retries": "5",
        OS + "health-monitor-max-retries-down": "6",
    }
    provider.ensure(make_spec(annotations=notes))
    [first] = tree(conn, only_lb(conn).id).values()
    before = writes(cloud)

    provider.ensure(make_spec(annotations={**notes, OS + "health-monitor-delay": "9"}))

    [second] = tree(conn, only_lb(conn).id).values()
    assert first.pool.lb_algorithm == "LEAST_CONNECTIONS"
    monitor = first.monitor
    assert (monitor.delay, monitor.timeout, monitor.max_retries, monitor.max_retries_down) == (7, 4, 5, 6)
    assert second.monitor.id == monitor.id and second.monitor.delay == 9  # changed in place
    assert writes(cloud) - before == cloud.count("PUT", r"/lbaas/healthmonitors/") == 1


def test_disabling_the_health_monitor_removes_it(
    cloud: FakeOpenStack, provider: OpenStackProvider, conn: Connection
) -> None:
    provider.ensure(make_spec(externalTrafficPolicy="Local", healthCheckNodePort=32000))

    provider.ensure(
        make_spec(
            externalTrafficPolicy="Local",
            healthCheckNodePort=32000,
            annotations={OS + "enable-health-monitor": "false"},
        )
    )

    [found] = tree(conn, only_lb(conn).id).values()
    assert found.monitor is None and list(conn.load_balancer.health_monitors()) == []
    assert {m["monitor_port"] for m in found.members} == {None}  # nothing probes it any more


def test_pinning_flavor_and_availability_zone_replaces_the_load_balancer(
    cloud: FakeOpenStack, provider: OpenStackProvider, conn: Connection
) -> None:
    provider.ensure(make_spec())
    old = only_lb(conn)
    [fip] = list(conn.network.ips())
    [flavor] = list(cloud.state.flavors)
    pinned = make_spec(annotations={OS + "flavor-id": flavor, OS + "availability-zone": "az1"})

    plan = provider.plan(pinned)
    provider.ensure(pinned)

    new = only_lb(conn)  # the old one is gone
    assert new.id != old.id and (new.flavor_id, new.availability_zone) == (flavor, "az1")
    assert (plan.changes[0].action.value, plan.changes[-1].action.value) == ("replace", "delete")
    [moved] = list(conn.network.ips())
    assert moved.id == fip.id and moved.port_id == new.vip_port_id  # the address stays with the Service
    assert set(tree(conn, new.id)) == {("TCP", 80)}
    assert cloud.count(status=409) == 0
    unpinned = writes(cloud)
    provider.ensure(make_spec())  # dropping a pin does not replace it again: any flavor will do
    assert writes(cloud) == unpinned


def test_subnet_annotations_choose_the_vip_and_member_subnets(
    cloud: FakeOpenStack, provider: OpenStackProvider, conn: Connection
) -> None:
    network = conn.network.get_subnet(cloud.subnet_id).network_id
    vip = conn.network.create_subnet(network_id=network, ip_version=4, cidr="10.0.1.0/24")
    members = conn.network.create_subnet(network_id=network, ip_version=4, cidr="10.1.0.0/16")

    provider.ensure(make_spec(annotations={OS + "subnet-id": vip.id, OS + "member-subnet-id": members.id}))

    lb = only_lb(conn)
    [found] = tree(conn, lb.id).values()
    assert lb.vip_subnet_id == vip.id and lb.vip_address.startswith("10.0.1.")
    assert {m["subnet_id"] for m in found.members} == {members.id}


def test_keys_cloudlb_does_not_implement_are_logged_and_ignored(
    provider: OpenStackProvider, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.WARNING, logger="cloudlb.openstack"):
        provider.plan(make_spec(annotations={OS + "x-forwarded-for": "true", OS + "timeout-client-data": "5000"}))

    assert "timeout-client-data, loadbalancer.openstack.org/x-forwarded-for" in caplog.text


def test_an_unknown_flavor_is_the_clouds_refusal(cloud: FakeOpenStack, provider: OpenStackProvider) -> None:
    from cloudlb.errors import PermanentError

    with pytest.raises(PermanentError, match="flavor_id"):
        provider.ensure(make_spec(annotations={OS + "flavor-id": str(uuid.uuid4())}))
    assert cloud.state.loadbalancers == {}
