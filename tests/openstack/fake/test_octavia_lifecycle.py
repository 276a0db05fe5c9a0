"""Octavia's resources through openstacksdk: the provisioning state machine, each resource's lifecycle read back,
the batch member update and cascade delete."""

from __future__ import annotations

import ipaddress

import openstack
import pytest
from openstack.connection import Connection

from cloudlb_openstack.fake import FakeOpenStack
from tests.openstack.fake.helpers import active_lb, connect, settle, tcp_stack, wait_for_lb


def test_a_new_lb_is_pending_then_active_and_refuses_writes_meanwhile(cloud: FakeOpenStack, conn: Connection) -> None:
    created = conn.load_balancer.create_load_balancer(name="web", vip_subnet_id=cloud.subnet_id)

    with pytest.raises(openstack.exceptions.ConflictException, match="is immutable"):
        conn.load_balancer.create_listener(load_balancer_id=created.id, protocol="TCP", protocol_port=80)
    pending = conn.load_balancer.get_load_balancer(created.id)
    settle(cloud)
    active = conn.load_balancer.get_load_balancer(created.id)

    assert (created.provisioning_status, created.operating_status) == ("PENDING_CREATE", "OFFLINE")
    assert pending.provisioning_status == "PENDING_CREATE"
    assert (active.provisioning_status, active.operating_status) == ("ACTIVE", "ONLINE")
    assert list(conn.load_balancer.listeners()) == []
    assert cloud.count("POST", "/lbaas/listeners$", 409) == 1


def test_the_vip_comes_from_the_subnet_through_a_port_the_lb_owns(cloud: FakeOpenStack, conn: Connection) -> None:
    lb = active_lb(cloud, conn, name="web")
    port = conn.network.get_port(lb.vip_port_id)
    subnet = conn.network.get_subnet(cloud.subnet_id)

    assert ipaddress.ip_address(lb.vip_address) in ipaddress.ip_network(subnet.cidr)
    assert lb.vip_subnet_id == cloud.subnet_id and lb.vip_network_id == subnet.network_id
    assert port.fixed_ips == [{"subnet_id": cloud.subnet_id, "ip_address": lb.vip_address}]
    assert (port.name, port.device_owner, port.device_id) == (f"octavia-lb-{lb.id}", "Octavia", f"lb-{lb.id}")


def test_a_requested_vip_address_is_honoured_and_a_taken_one_refused(cloud: FakeOpenStack, conn: Connection) -> None:
    first = active_lb(cloud, conn, vip_address="10.0.0.77")

    with pytest.raises(openstack.exceptions.ConflictException, match="already allocated"):
        conn.load_balancer.create_load_balancer(vip_subnet_id=cloud.subnet_id, vip_address="10.0.0.77")

    assert first.vip_address == "10.0.0.77"
    assert [lb.id for lb in conn.load_balancer.load_balancers()] == [first.id]


def test_full_lifecycle_reads_back_every_field(cloud: FakeOpenStack, conn: Connection) -> None:
    lb = active_lb(cloud, conn, name="web", description="d", tags=["k=v"])
    listener = conn.load_balancer.create_listener(
        name="web-80", load_balancer_id=lb.id, protocol="TCP", protocol_port=80,
        allowed_cidrs=["192.0.2.0/24", "198.51.100.7/32"], tags=["k=v"],
    )  # fmt: skip
    assert conn.load_balancer.get_load_balancer(lb.id).provisioning_status == "PENDING_UPDATE"
    assert listener.provisioning_status == "PENDING_CREATE"
    settle(cloud)
    pool = conn.load_balancer.create_pool(
        name="web-80", listener_id=listener.id, protocol="TCP", lb_algorithm="SOURCE_IP",
        session_persistence={"type": "SOURCE_IP"}, tags=["k=v"],
    )  # fmt: skip
    settle(cloud)
    member = conn.load_balancer.create_member(pool, address="10.0.0.20", protocol_port=30080, weight=3)
    settle(cloud)
    monitor = conn.load_balancer.create_health_monitor(
        pool_id=pool.id, type="HTTP", delay=5, timeout=3, max_retries=2, url_path="/healthz"
    )
    settle(cloud)

    lb = conn.load_balancer.get_load_balancer(lb.id)
    listener = conn.load_balancer.get_listener(listener.id)
    pool = conn.load_balancer.get_pool(pool.id)
    member = conn.load_balancer.get_member(member.id, pool.id)
    monitor = conn.load_balancer.get_health_monitor(monitor.id)

    assert (lb.name, lb.description, lb.tags, lb.provider) == ("web", "d", ["k=v"], "amphora")
    assert lb.listeners == [{"id": listener.id}] and lb.pools == [{"id": pool.id}]
    assert (listener.protocol, listener.protocol_port, listener.connection_limit) == ("TCP", 80, -1)
    assert listener.allowed_cidrs == ["192.0.2.0/24", "198.51.100.7/32"]
    assert listener.default_pool_id == pool.id and listener.load_balancers == [{"id": lb.id}]
    assert (pool.protocol, pool.lb_algorithm, pool.health_monitor_id) == ("TCP", "SOURCE_IP", monitor.id)
    assert pool.session_persistence == {
        "type": "SOURCE_IP", "cookie_name": None, "persistence_timeout": None, "persistence_granularity": None
    }  # fmt: skip
    assert pool.listeners == [{"id": listener.id}] and pool.members == [{"id": member.id}]
    assert (member.address, member.protocol_port, member.weight, member.backup) == ("10.0.0.20", 30080, 3, False)
    assert member.operating_status == "ONLINE"  # the pool has a monitor
    assert (monitor.type, monitor.delay, monitor.timeout, monitor.max_retries) == ("HTTP", 5, 3, 2)
    assert (monitor.http_method, monitor.url_path, monitor.expected_codes) == ("GET", "/healthz", "200")
    assert monitor.max_retries_down == 3 and monitor.pools == [{"id": pool.id}]
    statuses = {r.provisioning_status for r in (lb, listener, pool, member, monitor)}
    assert statuses == {"ACTIVE"}
    tree = conn.load_balancer.get(f"/lbaas/loadbalancers/{lb.id}/status").json()["statuses"]["loadbalancer"]
    tree_pool = tree["listeners"][0]["pools"][0]
    assert (tree["id"], tree["listeners"][0]["id"], tree_pool["id"]) == (lb.id, listener.id, pool.id)
    assert tree_pool["health_monitor"]["type"] == "HTTP"
    assert [(m["address"], m["operating_status"]) for m in tree_pool["members"]] == [("10.0.0.20", "ONLINE")]


def test_updates_and_deletes_of_children(cloud: FakeOpenStack, conn: Connection) -> None:
    lb, listener, pool = tcp_stack(cloud, conn)
    member = conn.load_balancer.create_member(pool, address="10.0.0.21", protocol_port=30080)
    settle(cloud)

    conn.load_balancer.update_listener(listener, allowed_cidrs=["203.0.113.0/24"], connection_limit=100)
    assert conn.load_balancer.get_pool(pool.id).provisioning_status == "ACTIVE"
    settle(cloud)
    updated_pool = conn.load_balancer.update_pool(pool, lb_algorithm="LEAST_CONNECTIONS")
    assert updated_pool.provisioning_status == "PENDING_UPDATE"
    assert conn.load_balancer.get_listener(listener.id).provisioning_status == "PENDING_UPDATE"  # locked with it
    settle(cloud)
    conn.load_balancer.update_member(member, pool, weight=0, admin_state_up=False)
    settle(cloud)
    read_member = conn.load_balancer.get_member(member.id, pool.id)
    read_listener = conn.load_balancer.get_listener(listener.id)
    conn.load_balancer.delete_pool(pool.id)
    assert conn.load_balancer.get_pool(pool.id).provisioning_status == "PENDING_DELETE"
    settle(cloud)

    assert read_listener.allowed_cidrs == ["203.0.113.0/24"] and read_listener.connection_limit == 100
    assert (read_member.weight, read_member.is_admin_state_up, read_member.operating_status) == (0, False, "OFFLINE")
    assert list(conn.load_balancer.pools()) == []
    assert cloud.state.members == {}  # the pool's members went with it
    assert conn.load_balancer.get_listener(listener.id).default_pool_id is None
    conn.load_balancer.delete_listener(listener.id)
    settle(cloud)
    assert conn.load_balancer.get_load_balancer(lb.id).listeners == []


def test_batch_member_update_replaces_the_whole_set(cloud: FakeOpenStack, conn: Connection) -> None:
    _, _, pool = tcp_stack(cloud, conn)
    path = f"/lbaas/pools/{pool.id}/members"
    first = conn.load_balancer.put(path, json={"members": [
        {"address": "10.0.0.31", "protocol_port": 30080},
        {"address": "10.0.0.32", "protocol_port": 30080, "weight": 2},
    ]})  # fmt: skip
    settle(cloud)
    before = {m.address: m.id for m in conn.load_balancer.members(pool.id)}

    second = conn.load_balancer.put(path, json={"members": [
        {"address": "10.0.0.32", "protocol_port": 30080, "weight": 5, "name": "kept"},
        {"address": "10.0.0.33", "protocol_port": 30080},
    ]})  # fmt: skip
    during = {m.address: m.provisioning_status for m in conn.load_balancer.members(pool.id)}
    settle(cloud)
    after = {m.address: m for m in conn.load_balancer.members(pool.id)}

    assert (first.status_code, second.status_code) == (202, 202) and second.content == b""
    assert during == {"10.0.0.31": "PENDING_DELETE", "10.0.0.32": "PENDING_UPDATE", "10.0.0.33": "PENDING_CREATE"}
    assert sorted(after) == ["10.0.0.32", "10.0.0.33"]
    assert after["10.0.0.32"].id == before["10.0.0.32"]  # updated in place, not replaced
    assert (after["10.0.0.32"].weight, after["10.0.0.32"].name) == (5, "kept")
    assert after["10.0.0.33"].weight == 1
    assert cloud.count("PUT", f"/pools/{pool.id}/members$", 202) == 2


def test_batch_member_update_additive_only_keeps_unlisted(cloud: FakeOpenStack, conn: Connection) -> None:
    _, _, pool = tcp_stack(cloud, conn)
    path = f"/lbaas/pools/{pool.id}/members"
    conn.load_balancer.put(path, json={"members": [{"address": "10.0.0.41", "protocol_port": 80}]})
    settle(cloud)

    conn.load_balancer.put(
        path + "?additive_only=true", json={"members": [{"address": "10.0.0.42", "protocol_port": 80}]}
    )
    settle(cloud)

    assert sorted(m.address for m in conn.load_balancer.members(pool.id)) == ["10.0.0.41", "10.0.0.42"]


def test_batch_member_update_while_pending_is_409_and_changes_nothing(cloud: FakeOpenStack, conn: Connection) -> None:
    _, listener, pool = tcp_stack(cloud, conn)
    conn.load_balancer.update_listener(listener, name="renamed")  # the LB is PENDING_UPDATE now

    answer = conn.load_balancer.put(
        f"/lbaas/pools/{pool.id}/members", json={"members": [{"address": "10.0.0.51", "protocol_port": 80}]}
    )

    assert answer.status_code == 409
    assert "is immutable" in answer.json()["faultstring"]
    assert list(conn.load_balancer.members(pool.id)) == []


def test_cascade_delete_leaves_nothing_and_frees_the_vip(cloud: FakeOpenStack, conn: Connection) -> None:
    lb, _, pool = tcp_stack(cloud, conn)
    conn.load_balancer.put(
        f"/lbaas/pools/{pool.id}/members", json={"members": [{"address": "10.0.0.61", "protocol_port": 80}]}
    )
    settle(cloud)
    conn.load_balancer.create_health_monitor(pool_id=pool.id, type="TCP", delay=5, timeout=3, max_retries=3)
    settle(cloud)
    fip = conn.network.create_ip(floating_network_id=cloud.external_network_id, port_id=lb.vip_port_id)

    with pytest.raises(openstack.exceptions.BadRequestException, match="it has children"):
        conn.load_balancer.delete_load_balancer(lb.id)
    conn.load_balancer.delete_load_balancer(lb.id, cascade=True)
    pending = conn.load_balancer.get_load_balancer(lb.id)
    with pytest.raises(openstack.exceptions.ConflictException):
        conn.load_balancer.delete_load_balancer(lb.id, cascade=True)
    settle(cloud)

    assert pending.provisioning_status == "PENDING_DELETE"
    assert conn.load_balancer.find_load_balancer(lb.id) is None
    for listing in ("load_balancers", "listeners", "pools", "health_monitors"):
        assert list(getattr(conn.load_balancer, listing)()) == [], listing
    assert cloud.state.members == {}
    assert conn.network.find_port(lb.vip_port_id) is None
    assert lb.vip_address not in cloud.state.allocated[cloud.subnet_id]
    released = conn.network.get_ip(fip.id)  # the floating IP is the user's: it stays, disassociated
    assert (released.port_id, released.fixed_ip_address, released.status) == (None, None, "DOWN")


def test_a_port_passed_as_vip_stays_after_the_lb(cloud: FakeOpenStack, conn: Connection) -> None:
    network_id = conn.network.get_subnet(cloud.subnet_id).network_id
    port = conn.network.create_port(network_id=network_id, name="mine")
    lb = conn.load_balancer.create_load_balancer(vip_port_id=port.id)
    settle(cloud)
    conn.load_balancer.delete_load_balancer(lb.id)
    settle(cloud)

    assert lb.vip_address == port.fixed_ips[0]["ip_address"]
    assert conn.network.get_port(port.id).name == "mine"


def test_the_state_machine_runs_on_the_wall_clock_for_sdk_waits() -> None:
    with FakeOpenStack(provisioning_delay=0.05) as cloud:
        conn = connect(cloud)
        lb = conn.load_balancer.create_load_balancer(vip_subnet_id=cloud.subnet_id)
        wait_for_lb(conn, lb.id, wait=30)
        listener = conn.load_balancer.create_listener(load_balancer_id=lb.id, protocol="UDP", protocol_port=53)
        wait_for_lb(conn, lb.id, wait=30)

        assert conn.load_balancer.get_listener(listener.id).provisioning_status == "ACTIVE"
        assert cloud.count(status=409) == 0


def test_forced_error_refuses_writes_but_not_delete(cloud: FakeOpenStack, conn: Connection) -> None:
    lb = active_lb(cloud, conn)
    cloud.state.force_error(lb.id)

    with pytest.raises(openstack.exceptions.ConflictException):
        conn.load_balancer.create_listener(load_balancer_id=lb.id, protocol="TCP", protocol_port=80)
    errored = conn.load_balancer.get_load_balancer(lb.id)
    conn.load_balancer.delete_load_balancer(lb.id)
    settle(cloud)

    assert errored.provisioning_status == "ERROR"
    assert list(conn.load_balancer.load_balancers()) == []


def test_a_failing_operation_ends_in_error_for_the_sdk_wait(cloud: FakeOpenStack, conn: Connection) -> None:
    lb = active_lb(cloud, conn)
    cloud.state.fail_next_operation(lb.id)
    listener = conn.load_balancer.create_listener(load_balancer_id=lb.id, protocol="TCP", protocol_port=80)
    settle(cloud)

    with pytest.raises(openstack.exceptions.ResourceFailure):
        wait_for_lb(conn, lb.id, wait=5)
    assert conn.load_balancer.get_listener(listener.id).provisioning_status == "ERROR"


def test_a_null_in_a_put_clears_the_field(cloud: FakeOpenStack, conn: Connection) -> None:
    lb = active_lb(cloud, conn)
    listener = conn.load_balancer.create_listener(
        load_balancer_id=lb.id, protocol="TCP", protocol_port=80, name="l", allowed_cidrs=["10.0.0.0/8"], tags=["t"]
    )
    settle(cloud)

    answer = conn.load_balancer.put(
        f"/lbaas/listeners/{listener.id}",
        json={"listener": {"name": None, "allowed_cidrs": None, "tags": None, "admin_state_up": None}},
    )
    settle(cloud)
    read = conn.load_balancer.get_listener(listener.id)

    assert answer.status_code == 200
    assert (read.name, read.allowed_cidrs, read.tags, read.is_admin_state_up) == ("", None, [], True)
