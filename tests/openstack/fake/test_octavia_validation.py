"""Octavia's refusals, as the fake gives them: 400 for unknown or invalid fields (with Octavia's fault body), 409 for
duplicates, 403 over quota, 404 for what is not there. Each refusal must leave the cloud unchanged."""

from __future__ import annotations

import uuid
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import openstack
import pytest
from openstack.connection import Connection

from cloudlb_openstack.fake import FakeOpenStack
from tests.openstack.fake.helpers import connect, settle, tcp_stack

OCTAVIA_COLLECTIONS = ("loadbalancers", "listeners", "pools", "members", "healthmonitors")


@dataclass
class Stack:
    lb: Any
    tcp_listener: Any
    tcp_pool: Any
    udp_listener: Any
    udp_pool: Any
    subnet_id: str


@pytest.fixture
def stack(cloud: FakeOpenStack, conn: Connection) -> Stack:
    lb, tcp_listener, tcp_pool = tcp_stack(cloud, conn)
    udp_listener = conn.load_balancer.create_listener(load_balancer_id=lb.id, protocol="UDP", protocol_port=53)
    settle(cloud)
    udp_pool = conn.load_balancer.create_pool(listener_id=udp_listener.id, protocol="UDP", lb_algorithm="ROUND_ROBIN")
    settle(cloud)
    return Stack(lb, tcp_listener, tcp_pool, udp_listener, udp_pool, cloud.subnet_id)


def snapshot(cloud: FakeOpenStack) -> dict[str, Any]:
    state = cloud.state
    return {name: {k: dict(v) for k, v in state.collection(name).items()} for name in OCTAVIA_COLLECTIONS}


Request = tuple[str, str, Any]  # (method, path below the Octavia endpoint, JSON body)
Build = Callable[[Stack], Request]


def _body(defaults: dict[str, Any], changes: dict[str, Any]) -> dict[str, Any]:
    """``defaults`` with ``changes`` applied; a change to ``DROP`` removes the field."""
    merged = {**defaults, **changes}
    return {k: v for k, v in merged.items() if v is not DROP}


DROP = object()


def lb(envelope: str = "loadbalancer", **changes: Any) -> Build:
    return lambda s: ("POST", "/lbaas/loadbalancers", {envelope: _body({"vip_subnet_id": s.subnet_id}, changes)})


def listener(**changes: Any) -> Build:
    defaults = {"protocol": "TCP", "protocol_port": 81}
    return lambda s: (
        "POST",
        "/lbaas/listeners",
        {"listener": _body({"loadbalancer_id": s.lb.id, **defaults}, changes)},
    )


def pool(**changes: Any) -> Build:
    defaults = {"protocol": "TCP", "lb_algorithm": "ROUND_ROBIN"}
    return lambda s: ("POST", "/lbaas/pools", {"pool": _body({"loadbalancer_id": s.lb.id, **defaults}, changes)})


def member(**changes: Any) -> Build:
    body = _body({"address": "10.0.0.5", "protocol_port": 80}, changes)
    return lambda s: ("POST", f"/lbaas/pools/{s.tcp_pool.id}/members", {"member": body})


def batch(*members: dict[str, Any]) -> Build:
    return lambda s: ("PUT", f"/lbaas/pools/{s.tcp_pool.id}/members", {"members": list(members)})


def monitor(on: str = "tcp", **changes: Any) -> Build:
    defaults = {"type": "TCP", "delay": 5, "timeout": 3, "max_retries": 3}

    def build(s: Stack) -> Request:
        pool_id = s.tcp_pool.id if on == "tcp" else s.udp_pool.id
        return "POST", "/lbaas/healthmonitors", {"healthmonitor": _body({"pool_id": pool_id, **defaults}, changes)}

    return build


def put(kind: str, **fields: Any) -> Build:
    def build(s: Stack) -> Request:
        record = {"loadbalancer": s.lb, "listener": s.tcp_listener, "pool": s.tcp_pool}[kind]
        return "PUT", f"/lbaas/{kind}s/{record.id}", {kind: fields}

    return build


BAD_REQUESTS = [
    pytest.param(lb(colour="red"), "Unknown attribute for argument loadbalancer: colour", id="lb-unknown-field"),
    pytest.param(lb(vip_subnet_id=DROP), "VIP must contain one of", id="lb-no-vip"),
    pytest.param(lb(vip_subnet_id="nope"), "Invalid UUID", id="lb-bad-uuid"),
    pytest.param(lb(vip_subnet_id=str(uuid.uuid4())), "not found", id="lb-unknown-subnet"),
    pytest.param(lb(provider="f5"), "Provider 'f5' is not enabled", id="lb-unknown-provider"),
    pytest.param(lb(flavor_id=str(uuid.uuid4())), "not a valid option for flavor_id", id="lb-unknown-flavor"),
    pytest.param(lb(envelope="lb"), "Unknown attribute", id="lb-wrong-envelope"),
    pytest.param(put("loadbalancer", vip_address="10.0.0.9"), "argument loadbalancer: vip_address", id="lb-put-vip"),
    pytest.param(listener(protocol="FTP"), "Value should be one of: HTTP, HTTPS, TCP", id="listener-bad-protocol"),
    pytest.param(listener(protocol_port=0), "greater or equal to 1", id="listener-port-0"),
    pytest.param(listener(protocol_port=70000), "lower or equal to 65535", id="listener-port-70000"),
    pytest.param(listener(protocol=DROP), "Mandatory field missing", id="listener-no-protocol"),
    pytest.param(listener(allowed_cidrs=["10.0.0.0/33"]), "CIDR format", id="listener-bad-cidr"),
    pytest.param(listener(allowed_cidrs=["2001:db8::/32"]), "IP version incompatible", id="listener-cidr-family"),
    pytest.param(listener(insert_headers={"X-Forwarded-For": "true"}), "not a valid option for a TCP protocol",
                 id="listener-headers-on-tcp"),
    pytest.param(listener(default_tls_container_ref="ref"), "only allowed on TERMINATED_HTTPS",
                 id="listener-tls-on-tcp"),
    pytest.param(put("listener", protocol_port=8080), "argument listener: protocol_port", id="listener-put-port"),
    pytest.param(pool(lb_algorithm="RANDOM"), "Value should be one of: ROUND_ROBIN", id="pool-bad-algorithm"),
    pytest.param(pool(session_persistence={"type": "STICKY"}), "Value should be one of: SOURCE_IP, HTTP_COOKIE",
                 id="pool-bad-persistence-type"),
    pytest.param(pool(protocol="HTTP", session_persistence={"type": "APP_COOKIE"}), "cookie_name must be specified",
                 id="pool-app-cookie-without-name"),
    pytest.param(pool(protocol="HTTP", session_persistence={"type": "HTTP_COOKIE", "cookie_name": "c"}),
                 "cookie_name must not be specified", id="pool-cookie-name-on-http-cookie"),
    pytest.param(pool(protocol="UDP", session_persistence={"type": "HTTP_COOKIE"}), "not supported for UDP protocol",
                 id="pool-udp-http-cookie"),
    pytest.param(pool(session_persistence={"type": "SOURCE_IP", "persistence_timeout": 60}), "only for UDP protocol",
                 id="pool-tcp-persistence-timeout"),
    pytest.param(pool(loadbalancer_id=DROP), "Must provide at least one of: loadbalancer_id, listener_id",
                 id="pool-no-parent"),
    pytest.param(put("pool", protocol="UDP"), "argument pool: protocol", id="pool-put-protocol"),
    pytest.param(member(weight=300), "lower or equal to 256", id="member-weight-300"),
    pytest.param(member(address="ten"), "IPv4 or IPv6", id="member-bad-address"),
    pytest.param(member(address="169.254.169.254"), "not a valid option for member address", id="member-reserved"),
    pytest.param(batch({"address": "10.0.0.5"}), "Mandatory field missing", id="batch-member-without-port"),
    pytest.param(batch({"address": "10.0.0.5", "protocol_port": 80, "colour": "red"}),
                 "Unknown attribute for argument members: colour", id="batch-member-unknown-field"),
    pytest.param(monitor(type="UDP-CONNECT"), "UDP-CONNECT type is only supported for pools of type UDP",
                 id="monitor-udp-connect-on-tcp-pool"),
    pytest.param(monitor(on="udp", type="UDP-CONNECT", delay=1, timeout=1), "should be larger than 3",
                 id="monitor-udp-connect-short-delay"),
    pytest.param(monitor(on="udp", type="PING"), "only a UDP-CONNECT/SCTP/TCP/HTTP health monitor",
                 id="monitor-ping-on-udp-pool"),
    pytest.param(monitor(url_path="/"), "url_path is not a valid option for health monitors of type TCP",
                 id="monitor-url-on-tcp"),
    pytest.param(monitor(type="ICMP"), "Value should be one of", id="monitor-bad-type"),
    pytest.param(monitor(max_retries=11), "lower or equal to 10", id="monitor-retries-11"),
    pytest.param(monitor(delay=DROP), "Mandatory field missing", id="monitor-no-delay"),
    pytest.param(monitor(type="HTTP", expected_codes="abc"), "expected_codes", id="monitor-bad-expected-codes"),
]  # fmt: skip


@pytest.mark.parametrize(("build", "fragment"), BAD_REQUESTS)
def test_invalid_bodies_are_400_and_change_nothing(
    cloud: FakeOpenStack, conn: Connection, stack: Stack, build: Build, fragment: str
) -> None:
    method, path, body = build(stack)
    before = snapshot(cloud)

    answer = conn.load_balancer.request(path, method, json=body)

    assert answer.status_code == 400, answer.text
    fault = answer.json()
    assert fault["faultcode"] == "Client" and fragment in fault["faultstring"]
    assert snapshot(cloud) == before


def test_pool_protocol_must_suit_the_listener(conn: Connection, stack: Stack) -> None:
    with pytest.raises(openstack.exceptions.BadRequestException, match="invalid while the listener protocol is 'UDP'"):
        conn.load_balancer.create_pool(listener_id=stack.udp_listener.id, protocol="TCP", lb_algorithm="ROUND_ROBIN")


def test_source_ip_port_is_not_offered_by_the_amphora_provider(conn: Connection, stack: Stack) -> None:
    with pytest.raises(openstack.exceptions.HttpException, match="does not support") as raised:
        conn.load_balancer.create_pool(loadbalancer_id=stack.lb.id, protocol="TCP", lb_algorithm="SOURCE_IP_PORT")
    assert raised.value.status_code == 501


def test_an_unknown_member_subnet_is_404(conn: Connection, stack: Stack) -> None:
    with pytest.raises(openstack.exceptions.NotFoundException, match="Subnet"):
        conn.load_balancer.create_member(
            stack.tcp_pool, address="10.0.0.5", protocol_port=80, subnet_id=str(uuid.uuid4())
        )


def test_same_port_conflicts_only_within_one_l4_protocol(cloud: FakeOpenStack, conn: Connection, stack: Stack) -> None:
    with pytest.raises(openstack.exceptions.ConflictException, match="protocol TCP and protocol_port 80"):
        conn.load_balancer.create_listener(load_balancer_id=stack.lb.id, protocol="HTTP", protocol_port=80)
    udp = conn.load_balancer.create_listener(load_balancer_id=stack.lb.id, protocol="UDP", protocol_port=80)
    settle(cloud)

    assert conn.load_balancer.get_listener(udp.id).provisioning_status == "ACTIVE"


def test_duplicates_are_409(cloud: FakeOpenStack, conn: Connection, stack: Stack) -> None:
    conn.load_balancer.create_member(stack.tcp_pool, address="10.0.0.5", protocol_port=80)
    settle(cloud)
    conn.load_balancer.create_health_monitor(pool_id=stack.tcp_pool.id, type="TCP", delay=5, timeout=3, max_retries=3)
    settle(cloud)

    with pytest.raises(openstack.exceptions.ConflictException, match=r"already using ip address 10\.0\.0\.5"):
        conn.load_balancer.create_member(stack.tcp_pool, address="10.0.0.5", protocol_port=80)
    with pytest.raises(openstack.exceptions.ConflictException, match="already has a health monitor"):
        conn.load_balancer.create_health_monitor(
            pool_id=stack.tcp_pool.id, type="TCP", delay=5, timeout=3, max_retries=3
        )
    with pytest.raises(openstack.exceptions.ConflictException, match="already has a default pool"):
        conn.load_balancer.create_pool(listener_id=stack.tcp_listener.id, protocol="TCP", lb_algorithm="ROUND_ROBIN")
    twice = [{"address": "10.0.0.6", "protocol_port": 80}] * 2
    answer = conn.load_balancer.put(f"/lbaas/pools/{stack.tcp_pool.id}/members", json={"members": twice})

    assert answer.status_code == 409
    assert [m.address for m in conn.load_balancer.members(stack.tcp_pool.id)] == ["10.0.0.5"]


def test_over_quota_is_403(cloud: FakeOpenStack, conn: Connection) -> None:
    cloud.state.set_quota(load_balancer=1, member=2)
    lb, _, pool = tcp_stack(cloud, conn)
    path = f"/lbaas/pools/{pool.id}/members"

    with pytest.raises(
        openstack.exceptions.ForbiddenException, match="Quota has been met for resources: Load Balancer"
    ):
        conn.load_balancer.create_load_balancer(vip_subnet_id=cloud.subnet_id)
    three = conn.load_balancer.put(
        path, json={"members": [{"address": f"10.0.0.{i}", "protocol_port": 80} for i in (1, 2, 3)]}
    )
    two = conn.load_balancer.put(
        path, json={"members": [{"address": f"10.0.0.{i}", "protocol_port": 80} for i in (1, 2)]}
    )
    settle(cloud)
    swapped = conn.load_balancer.put(
        path, json={"members": [{"address": f"10.0.0.{i}", "protocol_port": 80} for i in (3, 4)]}
    )
    settle(cloud)
    quota = conn.load_balancer.get_quota(cloud.state.project.id)

    assert (three.status_code, two.status_code, swapped.status_code) == (403, 202, 202)
    assert sorted(m.address for m in conn.load_balancer.members(pool.id)) == ["10.0.0.3", "10.0.0.4"]
    assert [lb.id for lb in conn.load_balancer.load_balancers()] == [lb.id]
    assert (quota.load_balancers, quota.members, quota.listeners) == (1, 2, -1)
    assert cloud.count(status=403) == 2


def test_missing_resources_are_404_with_a_fault_body(conn: Connection, stack: Stack) -> None:
    missing = str(uuid.uuid4())

    with pytest.raises(openstack.exceptions.NotFoundException) as raised:
        conn.load_balancer.get_load_balancer(missing)
    answer = conn.load_balancer.get(f"/lbaas/pools/{stack.tcp_pool.id}/members/{missing}")
    nowhere = conn.load_balancer.get("/lbaas/widgets")

    assert raised.value.response is not None
    assert raised.value.response.json() == {
        "faultcode": "Client", "faultstring": f"Load Balancer {missing} not found.", "debuginfo": None
    }  # fmt: skip
    assert answer.status_code == 404 and answer.json()["faultstring"] == f"Member {missing} not found."
    assert nowhere.status_code == 404


def test_creating_a_child_of_another_projects_lb_is_403(cloud: FakeOpenStack, conn: Connection) -> None:
    other = cloud.state.add_project("other")
    cloud.state.add_user("olga", "pw", projects=[other.id])
    their_conn = connect(cloud, username="olga", password="pw", project_name="other")
    theirs = their_conn.load_balancer.create_load_balancer(vip_network_id=cloud.external_network_id)
    settle(cloud)

    with pytest.raises(openstack.exceptions.ForbiddenException):
        conn.load_balancer.create_listener(load_balancer_id=theirs.id, protocol="TCP", protocol_port=80)
    assert cloud.state.listeners == {}
