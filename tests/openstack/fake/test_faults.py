"""The fake behind cloudlb's fault-injecting proxy: openstacksdk rides out injected 503s, resets and latency with its
own retries, or surfaces the error as its exception when it has none. The catalog the fake hands out names the
proxy, so every service call goes through it."""

from __future__ import annotations

import openstack
import pytest

from cloudlb.testing.faultproxy import Fault, FaultKind, FaultProxy, FaultRule, Match
from cloudlb_openstack.fake import FakeOpenStack
from tests.openstack.fake.helpers import connect, settle

SERVICES = Match(path=r"^/(load-balancer|networking)/")  # the token request is left alone: keystoneauth does not
# retry its own auth call


def test_the_sdk_converges_through_503s_resets_and_latency(cloud: FakeOpenStack) -> None:
    rules = [
        FaultRule(Fault.latency(0.01), rate=0.3, when=SERVICES),
        FaultRule(Fault.server_error(503), rate=0.3, when=SERVICES),
        FaultRule(Fault.reset(), rate=0.05, when=SERVICES),
    ]
    with FaultProxy(cloud.url, rules=rules, seed=5) as proxy:
        conn = connect(
            cloud,
            auth_url=proxy.url,
            status_code_retries=20,
            status_code_retry_delay=0.001,
            connect_retries=20,
            connect_retry_delay=0.001,
        )
        lb = conn.load_balancer.create_load_balancer(name="web", vip_subnet_id=cloud.subnet_id)
        settle(cloud)
        listener = conn.load_balancer.create_listener(load_balancer_id=lb.id, protocol="TCP", protocol_port=80)
        settle(cloud)
        pool = conn.load_balancer.create_pool(listener_id=listener.id, protocol="TCP", lb_algorithm="ROUND_ROBIN")
        settle(cloud)
        members = [{"address": f"10.0.0.{host}", "protocol_port": 30080} for host in range(100, 110)]
        batch = conn.load_balancer.put(f"/lbaas/pools/{pool.id}/members", json={"members": members})
        settle(cloud)
        fip = conn.network.create_ip(floating_network_id=cloud.external_network_id, port_id=lb.vip_port_id)
        read_back = sorted(m.address for m in conn.load_balancer.members(pool.id))
        lb_names = [item.name for item in conn.load_balancer.load_balancers()]
        fip_port = conn.network.get_ip(fip.id).port_id
        endpoint, proxy_url = conn.load_balancer.get_endpoint(), proxy.url
        counts = proxy.counts

    assert batch.status_code == 202
    assert read_back == [m["address"] for m in members]
    assert lb_names == ["web"]  # no duplicate from a retried create
    assert fip_port == lb.vip_port_id
    assert str(endpoint).startswith(proxy_url)
    assert counts.injected[FaultKind.SERVER_ERROR] > 0 and counts.injected[FaultKind.LATENCY] > 0
    assert counts.forwarded == len(cloud.requests)  # every call the fake answered came through the proxy
    assert cloud.count(status=409) == 0


def test_without_retries_an_injected_503_is_the_sdks_exception(cloud: FakeOpenStack) -> None:
    rules = [FaultRule(Fault.server_error(503), nth=[1], when=Match(method="POST", path="/lbaas/loadbalancers$"))]
    with FaultProxy(cloud.url, rules=rules) as proxy:
        conn = connect(cloud, auth_url=proxy.url)

        with pytest.raises(openstack.exceptions.HttpException) as raised:
            conn.load_balancer.create_load_balancer(vip_subnet_id=cloud.subnet_id)
        after_failure = list(conn.load_balancer.load_balancers())
        conn.load_balancer.create_load_balancer(vip_subnet_id=cloud.subnet_id)  # the next attempt is forwarded

    assert raised.value.status_code == 503
    assert after_failure == []  # the proxy answered; the fake never saw the request
    assert len(cloud.state.loadbalancers) == 1
