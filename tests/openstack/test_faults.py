"""Convergence through cloudlb's fault-injecting proxy: 409s, 503s and latency on 30% of the calls to Octavia and
Neutron. Reads are retried on the spot; a failed write ends the round, and the next round observes and plans what
is left, so nothing is created twice."""

from __future__ import annotations

import pytest
from openstack.connection import Connection

from cloudlb.testing.faultproxy import Fault, FaultKind, FaultProxy, FaultRule, Match
from cloudlb_openstack.fake import FakeOpenStack
from tests.openstack.helpers import endpoints, make_provider, make_spec, node_ip, only_lb, tree

SERVICES = Match(path=r"^/(load-balancer|networking)/")  # keystoneauth does not retry its own token request
BUSY = b'{"faultcode": "Client", "faultstring": "Load Balancer is immutable and cannot be updated.", "debuginfo": null}'
PORTS = (("TCP", 80), ("UDP", 53))


@pytest.mark.parametrize("seed", [1, 2])
def test_ensure_and_delete_converge_under_faults(cloud: FakeOpenStack, conn: Connection, seed: int) -> None:
    rules = [
        FaultRule(Fault.latency(0.01), rate=0.3, when=SERVICES),
        FaultRule(Fault.throttling(BUSY, status=409, content_type="application/json"), rate=0.3, when=SERVICES),
        FaultRule(Fault.server_error(503), rate=0.3, when=SERVICES),
    ]
    first, changed = make_spec(ports=PORTS), make_spec(ports=PORTS, nodes=range(2, 8), sessionAffinity="ClientIP")
    with FaultProxy(cloud.url, rules=rules, seed=seed) as proxy:
        provider = make_provider(cloud, auth_url=proxy.url, rounds=60, round_delay=0.005, read_retries=8)
        provider.ensure(first)
        provider.ensure(changed)
        converged = provider.plan(changed).is_empty
        counts = proxy.counts
        lb = only_lb(conn)
        ports = tree(conn, lb.id)
        fips = list(conn.network.ips())
        provider.delete(changed)
        provider.close()

    assert converged
    assert counts.injected[FaultKind.THROTTLING] > 0 and counts.injected[FaultKind.SERVER_ERROR] > 0
    assert counts.injected[FaultKind.LATENCY] > 0
    assert set(ports) == {("TCP", 80), ("UDP", 53)}
    for i, key in enumerate(PORTS):
        assert endpoints(ports[key].members) == {(node_ip(n), 30000 + i) for n in range(2, 8)}
        assert ports[key].pool.session_persistence["type"] == "SOURCE_IP"
        assert ports[key].monitor is not None
    assert [fip.port_id for fip in fips] == [lb.vip_port_id]  # one, attached: none allocated twice
    state = cloud.state
    assert (len(state.loadbalancers), len(state.floatingips), len(state.pools)) == (0, 0, 0)
    assert cloud.count(status=409) == 0  # every 409 was the proxy's: cloudlb never wrote into PENDING_*
