"""Convergence under injected faults: cloudlb's FaultProxy between the SDK and the fake answers some requests with
429 (Retry-After), 5xx or a dropped connection. The provider honours Retry-After, repeats only what ARM refused,
observes again after anything else, and ends where a clean run ends."""

from __future__ import annotations

import ssl
import time
from collections.abc import Iterator
from typing import Any

import pytest
from azure.mgmt.network import NetworkManagementClient

from cloudlb.model import LoadBalancerSpec
from cloudlb.testing import Fault, FaultKind, FaultProxy, FaultRule, Match
from cloudlb_azure.fake import FakeArm
from cloudlb_azure.mock import seed_network
from cloudlb_azure.provider import AzureProvider
from tests.azure.conftest import FAST
from tests.azure.helpers import LOCATION, NSG, RG, SUBNET, VNET, lb, names, nodes, pool_ips, rules_of, service, spec

SERVICES = [
    spec(service("web", ports=((80, "TCP", 30080), (443, "TCP", 30443)))),
    spec(service("api", ports=((81, "TCP", 30081),), loadBalancerSourceRanges=["10.0.0.0/8"])),
    spec(service("db", annotations={"service.beta.kubernetes.io/azure-load-balancer-internal": "true"})),
]


@pytest.fixture(params=[False, True], ids=["http-upstream", "https-upstream"])
def fake(request: pytest.FixtureRequest) -> Iterator[FakeArm]:
    with FakeArm(lro_delay=0.002, tls=request.param) as arm:
        seed_network(
            arm, resource_group=RG, location=LOCATION, vnet_name=VNET, subnet_name=SUBNET, security_group_name=NSG
        )
        yield arm


@pytest.fixture
def proxy(fake: FakeArm) -> Iterator[FaultProxy]:
    context = ssl.create_default_context(cafile=fake.ca_path) if fake.tls else None
    with FaultProxy(fake.url, upstream_ssl_context=context, seed=11) as started:
        yield started


class Sleeps:
    """The provider's sleep: records every wait it asks for, and sleeps briefly (the fake settles in ms)."""

    def __init__(self) -> None:
        self.asked: list[float] = []

    def __call__(self, seconds: float) -> None:
        self.asked.append(seconds)
        time.sleep(min(seconds, 0.005))


@pytest.fixture
def sleeps() -> Sleeps:
    return Sleeps()


@pytest.fixture
def provider(proxy: FaultProxy, fake: FakeArm, sleeps: Sleeps) -> AzureProvider:
    tuning: dict[str, Any] = {**FAST, "retry_attempts": 30, "retry_max_delay": 0.02}
    return AzureProvider(
        fake.subscription_id,
        RG,
        LOCATION,
        base_url=proxy.url,  # plain HTTP on loopback: the provider lets the bearer policy send its token there
        use_mock_credential=True,
        vnet_name=VNET,
        subnet_name=SUBNET,
        security_group_name=NSG,
        sleep=sleeps,
        **tuning,
    )


@pytest.fixture
def client(fake: FakeArm) -> Iterator[NetworkManagementClient]:
    """Reads the fake directly, around the proxy."""
    from cloudlb_azure.credentials import FakeArmCredential, LoopbackHttpPolicy

    options: dict[str, Any] = (
        {"connection_verify": fake.ca_path} if fake.tls else {"per_call_policies": [LoopbackHttpPolicy()]}
    )
    with NetworkManagementClient(FakeArmCredential(), fake.subscription_id, base_url=fake.url, **options) as c:
        yield c


def assert_converged(provider: AzureProvider, client: NetworkManagementClient, specs: list[LoadBalancerSpec]) -> None:
    external = [s for s in specs if s.name != "db"]
    assert names(lb(client, "prod").frontend_ip_configurations) == sorted(
        provider.load_balancer_name(s) for s in external
    )
    assert pool_ips(lb(client, "prod"), "cloudlb-nodes") == {"10.1.0.1", "10.1.0.2", "10.1.0.3"}
    assert len(list(client.public_ip_addresses.list(RG))) == len(external)
    for s in external:
        assert len(rules_of(client, provider.load_balancer_name(s))) == 1
    for s in specs:
        assert provider.plan(s).is_empty


def test_a_429_is_waited_out_for_its_retry_after_and_the_write_lands_once(
    provider: AzureProvider, proxy: FaultProxy, fake: FakeArm, sleeps: Sleeps, client: NetworkManagementClient
) -> None:
    proxy.rules = [
        FaultRule(
            Fault.too_many_requests(retry_after=3), nth=frozenset({1}), when=Match(method="PUT", path="/loadBalancers/")
        )
    ]

    provider.ensure(SERVICES[0])

    assert proxy.counts.injected[FaultKind.TOO_MANY_REQUESTS] == 1
    assert 3.0 in sleeps.asked  # the wait ARM asked for, past the backoff's own
    assert [r.method for r in fake.requests if r.is_write and "/loadBalancers/" in r.path] == ["PUT"]
    assert_converged(provider, client, SERVICES[:1])


@pytest.mark.parametrize("fake", [False], ids=["http-upstream"], indirect=True)  # the 429 test covers https
@pytest.mark.parametrize(
    "fault",
    [
        pytest.param(Fault.server_error(503), id="503"),
        pytest.param(Fault.server_error(500), id="500"),
        pytest.param(Fault.reset(), id="reset"),
        pytest.param(Fault.too_many_requests(retry_after=1), id="429"),
    ],
)
def test_lifecycles_converge_under_random_faults(
    provider: AzureProvider, proxy: FaultProxy, client: NetworkManagementClient, fault: Fault
) -> None:
    proxy.rules = [FaultRule(fault, rate=0.25)]

    for s in SERVICES:
        provider.ensure(s)
    provider.update_targets(
        spec(service("web", ports=((80, "TCP", 30080), (443, "TCP", 30443))), node_list=nodes(1, 2, 3, 4))
    )
    provider.update_targets(SERVICES[0])
    provider.delete(SERVICES[1])

    proxy.rules = []
    assert proxy.counts.injected[fault.kind] > 0
    assert_converged(provider, client, [SERVICES[0], SERVICES[2]])
    for s in (SERVICES[0], SERVICES[2]):
        provider.delete(s)
    assert list(client.load_balancers.list(RG)) == []
    assert list(client.public_ip_addresses.list(RG)) == []
    assert client.network_security_groups.get(RG, NSG).security_rules == []
