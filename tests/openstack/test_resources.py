"""What each Service port becomes in Octavia, read back through openstacksdk: a listener, its pool and monitor and the
members; algorithms, ClientIP affinity, source ranges, the proxy protocol and tags."""

from __future__ import annotations

import pytest
from openstack.connection import Connection

from cloudlb.errors import UnsupportedFeatureError
from cloudlb.naming import CLUSTER_TAG, SERVICE_TAG, UID_TAG
from cloudlb_openstack.fake import FakeOpenStack
from cloudlb_openstack.provider import OpenStackProvider
from tests.openstack.helpers import CLUSTER, endpoints, make_spec, node_ip, only_lb, tags, tree, writes

MIXED = (("TCP", 80), ("TCP", 443), ("UDP", 53))


def test_each_port_gets_a_listener_a_pool_a_monitor_and_its_members(
    cloud: FakeOpenStack, provider: OpenStackProvider, conn: Connection
) -> None:
    spec = make_spec(ports=MIXED)

    status = provider.ensure(spec)

    lb = only_lb(conn)
    ports = tree(conn, lb.id)
    assert (lb.name, lb.vip_subnet_id, lb.provisioning_status) == (
        provider.load_balancer_name(spec),
        cloud.subnet_id,
        "ACTIVE",
    )
    assert set(ports) == {("TCP", 80), ("TCP", 443), ("UDP", 53)}
    expected = {("TCP", "TCP", "TCP"), ("UDP", "UDP", "UDP-CONNECT")}
    assert {(p.listener.protocol, p.pool.protocol, p.monitor.type) for p in ports.values()} == expected
    for i, key in enumerate(MIXED):
        found = ports[key]
        assert endpoints(found.members) == {(node_ip(n), 30000 + i) for n in range(3)}
        assert found.pool.lb_algorithm == "ROUND_ROBIN" and found.pool.session_persistence is None
        assert found.listener.allowed_cidrs is None
        monitor = found.monitor
        assert (monitor.delay, monitor.timeout, monitor.max_retries, monitor.max_retries_down) == (10, 5, 2, 3)
        assert all(m["monitor_port"] is None for m in found.members)
    [fip] = list(conn.network.ips())
    assert fip.port_id == lb.vip_port_id
    assert status.to_kube() == {"ingress": [{"ip": fip.floating_ip_address}]}
    assert status.cloud_id == lb.id


def test_external_traffic_policy_local_probes_the_health_check_node_port(
    cloud: FakeOpenStack, provider: OpenStackProvider, conn: Connection
) -> None:
    local = make_spec(externalTrafficPolicy="Local", healthCheckNodePort=32000)
    provider.ensure(local)
    [found] = tree(conn, only_lb(conn).id).values()

    assert (found.monitor.type, found.monitor.http_method, found.monitor.url_path) == ("HTTP", "GET", "/healthz")
    assert {m["monitor_port"] for m in found.members} == {32000}

    cluster = make_spec()
    before = writes(cloud, r"/members/[^/]+$")
    provider.ensure(cluster)
    [back] = tree(conn, only_lb(conn).id).values()

    assert back.monitor.type == "TCP"
    assert {m["monitor_port"] for m in back.members} == {None}
    # The batch update keeps a field it is not given: clearing monitor_port takes one PUT per member, and no batch.
    assert writes(cloud, r"/members/[^/]+$") - before == 3
    assert provider.plan(cluster).is_empty


@pytest.mark.parametrize(
    ("algorithm", "octavia"),
    [
        pytest.param("round-robin", "ROUND_ROBIN", id="round-robin"),
        pytest.param("least-connections", "LEAST_CONNECTIONS", id="least-connections"),
        pytest.param("source-ip", "SOURCE_IP", id="source-ip"),
    ],
)
def test_algorithms_map_to_octavias(
    provider: OpenStackProvider, conn: Connection, algorithm: str, octavia: str
) -> None:
    provider.ensure(make_spec(annotations={"cloudlb.io/algorithm": algorithm}))

    [found] = tree(conn, only_lb(conn).id).values()
    assert found.pool.lb_algorithm == octavia


def test_random_is_refused_at_plan_time_before_any_call(cloud: FakeOpenStack, provider: OpenStackProvider) -> None:
    spec = make_spec(annotations={"cloudlb.io/algorithm": "random"})

    with pytest.raises(UnsupportedFeatureError, match="algorithm-random"):
        provider.plan(spec)
    with pytest.raises(UnsupportedFeatureError):
        provider.ensure(spec)

    assert cloud.requests == []  # not even a token


def test_client_ip_affinity_is_source_ip_persistence(
    cloud: FakeOpenStack, provider: OpenStackProvider, conn: Connection
) -> None:
    sticky = make_spec(ports=(("TCP", 80), ("UDP", 53)), sessionAffinity="ClientIP")
    provider.ensure(sticky)
    ports = tree(conn, only_lb(conn).id)

    assert ports[("TCP", 80)].pool.lb_algorithm == "SOURCE_IP"
    assert ports[("TCP", 80)].pool.session_persistence["type"] == "SOURCE_IP"
    assert ports[("UDP", 53)].pool.session_persistence["persistence_timeout"] == 10800  # UDP pools take a timeout

    provider.ensure(make_spec(ports=(("TCP", 80), ("UDP", 53))))

    back = tree(conn, only_lb(conn).id)
    assert {p.pool.session_persistence for p in back.values()} == {None}
    assert {p.pool.lb_algorithm for p in back.values()} == {"ROUND_ROBIN"}


def test_source_ranges_become_allowed_cidrs_and_follow_changes(
    cloud: FakeOpenStack, provider: OpenStackProvider, conn: Connection
) -> None:
    def cidrs() -> set[tuple[str, ...] | None]:
        found = tree(conn, only_lb(conn).id).values()
        return {tuple(p.listener.allowed_cidrs) if p.listener.allowed_cidrs else None for p in found}

    provider.ensure(make_spec(ports=MIXED[:2], loadBalancerSourceRanges=["192.0.2.0/24", "10.0.0.0/8"]))
    first = cidrs()
    before, listener_puts = writes(cloud), cloud.count("PUT", "/lbaas/listeners/")
    provider.ensure(make_spec(ports=MIXED[:2], loadBalancerSourceRanges=["203.0.113.7/32"]))
    narrowed = cidrs()
    changed, changed_listeners = writes(cloud) - before, cloud.count("PUT", "/lbaas/listeners/") - listener_puts
    provider.ensure(make_spec(ports=MIXED[:2]))

    assert first == {("10.0.0.0/8", "192.0.2.0/24")}
    assert narrowed == {("203.0.113.7/32",)}
    assert changed == changed_listeners == 2  # one PUT per listener, nothing else
    assert cidrs() == {None}


def test_proxy_protocol_is_the_pool_protocol_and_a_change_replaces_the_pool(
    cloud: FakeOpenStack, provider: OpenStackProvider, conn: Connection
) -> None:
    provider.ensure(make_spec(annotations={"loadbalancer.openstack.org/proxy-protocol": "true"}))
    [first] = tree(conn, only_lb(conn).id).values()

    plan = provider.plan(make_spec(annotations={"loadbalancer.openstack.org/proxy-protocol": "v2"}))
    provider.ensure(make_spec(annotations={"loadbalancer.openstack.org/proxy-protocol": "v2"}))
    [second] = tree(conn, only_lb(conn).id).values()

    assert first.pool.protocol == "PROXY"
    # The new pool is built and filled before the listener switches to it; the old one then goes, unshown.
    assert [(c.action.value, c.resource) for c in plan] == [
        ("replace", "pool"),
        ("update", "members"),
        ("create", "health-monitor"),
    ]
    assert second.pool.protocol == "PROXYV2" and second.pool.id != first.pool.id
    assert second.listener.id == first.listener.id
    assert endpoints(second.members) == endpoints(first.members)
    assert second.monitor is not None
    assert [p.id for p in conn.load_balancer.pools()] == [second.pool.id]  # the old pool is gone


def test_every_octavia_resource_carries_the_ownership_and_user_tags(
    cloud: FakeOpenStack, provider: OpenStackProvider, conn: Connection
) -> None:
    spec = make_spec(annotations={"cloudlb.io/tags": "team=web,tier=edge"})
    provider.ensure(spec)
    lb = only_lb(conn)
    conn.load_balancer.update_load_balancer(lb.id, tags=[*lb.tags, "other-tool=1"])  # someone else's tag
    cloud.state.complete_all()

    provider.ensure(make_spec(annotations={"cloudlb.io/tags": "team=api"}))

    lb = only_lb(conn)
    [found] = tree(conn, lb.id).values()
    owner = {CLUSTER_TAG: CLUSTER, SERVICE_TAG: "demo/web", UID_TAG: "uid-1"}
    for resource in (found.listener, found.pool, found.monitor, *found.members):
        assert owner.items() <= tags(resource).items()
        assert tags(resource)["team"] == "api" and "tier" not in tags(resource)
    assert tags(lb)["other-tool"] == "1" and "tier" not in tags(lb)
    assert cloud.count(status=409) == 0
