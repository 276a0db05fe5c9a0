"""Every call counted from the fake ARM's log: what a create, a converged sync, a target churn and a delete cost,
and the client-side token buckets each kind of call waits on."""

from __future__ import annotations

import time

import pytest

from cloudlb.errors import InvalidSpecError
from cloudlb_azure.fake import FakeArm
from cloudlb_azure.provider import AzureProvider
from tests.azure.conftest import MakeProvider
from tests.azure.helpers import nodes, service, spec, writes

WEB = spec(service("web"))
API = spec(service("api", ports=((81, "TCP", 30081),)))
INTERNAL = spec(service("db", annotations={"service.beta.kubernetes.io/azure-load-balancer-internal": "true"}))
OBSERVE = 4  # GET of each scheme's balancer, LIST of the group's public IPs, GET of the security group


def base(provider: AzureProvider, s: object) -> str:
    return provider.load_balancer_name(s)  # type: ignore[arg-type]


def test_creating_the_first_service_writes_address_balancer_and_rules_once_each(
    provider: AzureProvider, fake: FakeArm
) -> None:
    provider.ensure(WEB)

    name = base(provider, WEB)
    assert [w for w in writes(fake)] == [
        ("PUT", f"publicIPAddresses/{name}-pip-{_uid_hash('uid-default-web')}"),
        ("PUT", "loadBalancers/prod"),
        ("PUT", "networkSecurityGroups/nsg"),
    ]
    reads = [r for r in fake.requests if not r.is_write]
    assert len(reads) >= OBSERVE + 3  # and at least one poll per long-running write


def test_a_second_service_costs_the_same_three_writes(provider: AzureProvider, fake: FakeArm) -> None:
    provider.ensure(WEB)
    start = len(fake.requests)

    provider.ensure(API)

    assert [method for method, _ in writes(fake, start)] == ["PUT", "PUT", "PUT"]
    assert [what.split("/")[0] for _, what in writes(fake, start)] == [
        "publicIPAddresses",
        "loadBalancers",
        "networkSecurityGroups",
    ]


def test_an_internal_service_is_one_write(provider: AzureProvider, fake: FakeArm) -> None:
    provider.ensure(INTERNAL)

    assert writes(fake) == [("PUT", "loadBalancers/prod-internal")]


@pytest.mark.parametrize("s", [pytest.param(WEB, id="external"), pytest.param(INTERNAL, id="internal")])
def test_a_converged_service_costs_the_observation_and_no_write(
    provider: AzureProvider, fake: FakeArm, s: object
) -> None:
    provider.ensure(s)  # type: ignore[arg-type]
    start = len(fake.requests)

    provider.ensure(s)  # type: ignore[arg-type]

    assert writes(fake, start) == []
    assert len(fake.requests) - start == OBSERVE


def test_churn_of_five_percent_is_one_pool_put(provider: AzureProvider, fake: FakeArm) -> None:
    provider.ensure(spec(node_list=nodes(*range(1, 101))))
    start = len(fake.requests)

    provider.ensure(spec(node_list=nodes(*range(6, 106))))

    assert writes(fake, start) == [("PUT", "backendAddressPools/cloudlb-nodes")]


def test_deleting_costs_the_rules_the_balancer_and_the_address(provider: AzureProvider, fake: FakeArm) -> None:
    provider.ensure(WEB)
    provider.ensure(API)
    start = len(fake.requests)

    provider.delete(API)
    middle = len(fake.requests)
    provider.delete(WEB)

    assert [(m, w.split("/")[0]) for m, w in writes(fake, start)[:3]] == [
        ("PUT", "networkSecurityGroups"),
        ("PUT", "loadBalancers"),
        ("DELETE", "publicIPAddresses"),
    ]
    assert [(m, w.split("/")[0]) for m, w in writes(fake, middle)] == [
        ("PUT", "networkSecurityGroups"),
        ("DELETE", "loadBalancers"),
        ("DELETE", "publicIPAddresses"),
    ]
    start = len(fake.requests)
    assert provider.delete(WEB) is False
    assert writes(fake, start) == []


def test_invalid_input_makes_no_call(provider: AzureProvider, fake: FakeArm) -> None:
    bad = spec(service(annotations={"service.beta.kubernetes.io/azure-load-balancer-tcp-idle-timeout": "0"}))
    for call in (provider.plan, provider.ensure, provider.update_targets):
        with pytest.raises(InvalidSpecError):
            call(bad)
    assert fake.requests == []


def test_each_kind_of_call_waits_on_its_own_bucket(make_provider: MakeProvider) -> None:
    """Writes at 1 a second with no burst: the second and third write of a create each wait for a token, while
    reads, unlimited here, never do. The waits are recorded, not slept."""
    waits: list[float] = []

    def sleep(seconds: float) -> None:
        waits.append(seconds)
        time.sleep(min(seconds, 0.002))

    provider = make_provider(write_rate_limit=1.0, write_rate_burst=1.0, read_rate_limit=None, sleep=sleep)

    provider.ensure(WEB)

    token_waits = [w for w in waits if w >= 0.5]
    assert len(token_waits) == 2
    assert all(w <= 2.0 for w in token_waits)


def _uid_hash(uid: str) -> str:
    import hashlib

    return hashlib.sha256(uid.encode()).hexdigest()[:6]
