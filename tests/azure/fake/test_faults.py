"""The fake behind cloudlb's FaultProxy: injected 429s, 5xx and resets reach the SDK, which retries and converges,
and long-running operations are polled back through the proxy.

FaultProxy speaks plain HTTP to its clients, so the SDK reaches it through ``LoopbackHttpPolicy`` (its bearer
policy refuses http:// otherwise). Upstream, the fake serves either plain HTTP or HTTPS (the proxy then trusts the
fake's CA); either way its operation URLs lead back through the proxy.
"""

from __future__ import annotations

import ssl
from collections.abc import Iterator

import pytest
from azure.mgmt.network import NetworkManagementClient

from cloudlb.testing import Fault, FaultKind, FaultProxy, FaultRule, Match
from cloudlb_azure.credentials import FakeArmCredential, LoopbackHttpPolicy
from cloudlb_azure.fake import FakeArm
from cloudlb_azure.mock import seed_network
from tests.azure.fake.builders import LOCATION, NSG, RG, SUBNET, VNET, internal_frontend, load_balancer, public_ip


def seeded(fake: FakeArm) -> FakeArm:
    seed_network(
        fake, resource_group=RG, location=LOCATION, vnet_name=VNET, subnet_name=SUBNET, security_group_name=NSG
    )
    return fake


@pytest.fixture(params=[False, True], ids=["http-upstream", "https-upstream"])
def fake(request: pytest.FixtureRequest) -> Iterator[FakeArm]:
    with FakeArm(lro_delay=0.02, tls=request.param) as arm:
        yield seeded(arm)


@pytest.fixture
def proxy(fake: FakeArm) -> Iterator[FaultProxy]:
    context = ssl.create_default_context(cafile=fake.ca_path) if fake.tls else None
    with FaultProxy(fake.url, upstream_ssl_context=context, seed=3) as started:
        yield started


@pytest.fixture
def client(proxy: FaultProxy, fake: FakeArm) -> Iterator[NetworkManagementClient]:
    with NetworkManagementClient(
        FakeArmCredential(),
        fake.subscription_id,
        base_url=proxy.url,
        per_call_policies=[LoopbackHttpPolicy()],
        retry_backoff_factor=0.01,
    ) as c:
        yield c


def test_operations_are_polled_back_through_the_proxy(
    client: NetworkManagementClient, proxy: FaultProxy, fake: FakeArm
) -> None:
    client.load_balancers.begin_create_or_update(
        RG, "kube", load_balancer(frontends=[internal_frontend("fe")])
    ).result()

    assert any("/operations/" in r.path for r in fake.requests)
    assert proxy.counts.forwarded == len(fake.requests)


def test_a_429_with_retry_after_is_retried_and_the_write_lands_once(
    client: NetworkManagementClient, proxy: FaultProxy, fake: FakeArm
) -> None:
    proxy.rules = [FaultRule(Fault.too_many_requests(retry_after=1), nth=frozenset({1}), when=Match(method="PUT"))]

    created = client.public_ip_addresses.begin_create_or_update(RG, "pip", public_ip()).result()

    assert created.provisioning_state == "Succeeded"
    assert proxy.counts.injected[FaultKind.TOO_MANY_REQUESTS] == 1
    assert [w.method for w in fake.writes()] == ["PUT"]


@pytest.mark.parametrize(
    "fault",
    [
        pytest.param(Fault.server_error(503), id="503"),
        pytest.param(Fault.server_error(500), id="500"),
        pytest.param(Fault.reset(), id="reset"),
    ],
)
def test_a_failed_poll_is_retried_and_the_operation_completes(
    client: NetworkManagementClient, proxy: FaultProxy, fault: Fault
) -> None:
    proxy.rules = [FaultRule(fault, nth=frozenset({1}), when=Match(method="GET", path="/operations/"))]

    created = client.load_balancers.begin_create_or_update(
        RG, "kube", load_balancer(frontends=[internal_frontend("fe")])
    ).result()

    assert created.provisioning_state == "Succeeded"
    assert proxy.counts.injected[fault.kind] == 1
    assert client.load_balancers.get(RG, "kube").provisioning_state == "Succeeded"


def test_throttled_reads_and_writes_converge(client: NetworkManagementClient, proxy: FaultProxy, fake: FakeArm) -> None:
    proxy.rules = [FaultRule(Fault.server_error(503), rate=0.3)]

    for name in ("a", "b", "c"):
        client.public_ip_addresses.begin_create_or_update(RG, name, public_ip()).result()

    assert sorted(p.name or "" for p in client.public_ip_addresses.list(RG)) == ["a", "b", "c"]
    assert proxy.counts.injected[FaultKind.SERVER_ERROR] > 0
