"""Octavia's provisioning states: cloudlb waits for ACTIVE after every write, never writes into PENDING_*, and
fails fast, naming the load balancer, on ERROR."""

from __future__ import annotations

import pytest
from openstack.connection import Connection

from cloudlb.errors import PermanentError, TemporaryError
from cloudlb.retry import progress_hook
from cloudlb.testing.faultproxy import Fault, FaultProxy, FaultRule, Match
from cloudlb_openstack.fake import FakeOpenStack
from cloudlb_openstack.provider import OpenStackProvider
from tests.openstack.helpers import DELAY, endpoints, make_provider, make_spec, node_ip, only_lb, tree, writes

IMMUTABLE = (
    b'{"faultcode": "Client", "faultstring": "Load Balancer is immutable and cannot be updated.", "debuginfo": null}'
)


def test_a_normal_run_never_meets_a_409(cloud: FakeOpenStack, provider: OpenStackProvider) -> None:
    cloud.state.provisioning_delay = 0.05
    spec = make_spec(ports=(("TCP", 80), ("UDP", 53)), loadBalancerSourceRanges=["10.0.0.0/8"])

    provider.ensure(spec)
    provider.ensure(make_spec(ports=(("TCP", 80), ("TCP", 8080)), nodes=range(2, 7)))
    provider.delete(spec)

    assert writes(cloud) > 10
    assert cloud.count(status=409) == 0
    assert cloud.count("GET", r"/lbaas/loadbalancers/[^/]+$") > 0  # it polled between writes


def test_a_busy_load_balancer_is_waited_for_before_any_write(
    cloud: FakeOpenStack, provider: OpenStackProvider, conn: Connection
) -> None:
    provider.ensure(make_spec())
    lb = only_lb(conn)
    cloud.state.provisioning_delay = 0.3
    conn.load_balancer.update_load_balancer(lb.id, description="someone else's change")  # PENDING_UPDATE for 0.3 s
    cloud.state.provisioning_delay = DELAY

    provider.ensure(make_spec(nodes=range(1, 4)))

    assert cloud.count(status=409) == 0
    lb = conn.load_balancer.get_load_balancer(lb.id)
    assert lb.provisioning_status == "ACTIVE"
    assert "managed by cloudlb" in lb.description  # the drift it waited out was converged too
    [found] = tree(conn, lb.id).values()
    assert endpoints(found.members) == {(node_ip(n), 30000) for n in range(1, 4)}


def test_error_during_a_write_is_permanent_and_names_the_load_balancer(
    cloud: FakeOpenStack, provider: OpenStackProvider, conn: Connection
) -> None:
    provider.ensure(make_spec())
    lb = only_lb(conn)
    cloud.state.fail_next_operation(lb.id)

    with pytest.raises(PermanentError, match=f"{lb.name} \\({lb.id}\\) is in ERROR"):
        provider.ensure(make_spec(nodes=range(1, 4)))

    assert conn.load_balancer.get_load_balancer(lb.id).provisioning_status == "ERROR"


def test_a_load_balancer_in_error_is_reported_not_written_and_can_be_deleted(
    cloud: FakeOpenStack, provider: OpenStackProvider, conn: Connection
) -> None:
    spec = make_spec()
    provider.ensure(spec)
    lb = only_lb(conn)
    cloud.state.force_error(lb.id)
    start = writes(cloud)

    with pytest.raises(PermanentError, match=lb.name):
        provider.plan(make_spec(nodes=range(5)))
    with pytest.raises(PermanentError, match=lb.name):
        provider.ensure(make_spec(nodes=range(5)))
    assert writes(cloud) == start

    assert provider.delete(spec) is True
    assert list(conn.load_balancer.load_balancers()) == []
    assert list(conn.network.ips()) == []


def test_waits_report_progress_for_the_cli(provider: OpenStackProvider) -> None:
    seen: list[str] = []
    token = progress_hook.set(seen.append)
    try:
        provider.ensure(make_spec())
    finally:
        progress_hook.reset(token)

    assert seen
    assert all(
        message.startswith(f"waiting for load balancer {provider.load_balancer_name(make_spec())}") for message in seen
    )


def test_a_409_is_temporary_and_the_next_round_converges(cloud: FakeOpenStack) -> None:
    busy = Fault.throttling(IMMUTABLE, status=409, content_type="application/json")
    rules = [FaultRule(busy, nth=[1], when=Match(method="POST", path=r"/lbaas/loadbalancers$"))]
    with FaultProxy(cloud.url, rules=rules) as proxy:
        once = make_provider(cloud, auth_url=proxy.url, rounds=0)
        with pytest.raises(TemporaryError, match="immutable"):
            once.ensure(make_spec())
        proxy.rules = rules
        retried = make_provider(cloud, auth_url=proxy.url)
        retried.ensure(make_spec())
        injected = proxy.counts.faults

    assert injected == 2
    assert len(cloud.state.loadbalancers) == 1
    assert len(cloud.state.listeners) == 1


def test_a_quota_refusal_is_permanent_and_creates_nothing(cloud: FakeOpenStack, provider: OpenStackProvider) -> None:
    cloud.state.set_quota(load_balancer=0)

    with pytest.raises(PermanentError, match="Quota"):
        provider.ensure(make_spec())

    assert cloud.state.loadbalancers == {} and cloud.state.floatingips == {}
    assert cloud.count("POST", r"/lbaas/loadbalancers$") == 1  # not retried: waiting will not raise a quota
