"""Nothing without cloudlb's tags or naming is touched: look-alike balancers, frontends, public IPs and other
tenants' parts of a shared balancer get no write, and a crash followed by a rerun leaves no duplicate."""

from __future__ import annotations

import copy
from typing import Any

import pytest
from azure.mgmt.network import NetworkManagementClient

from cloudlb.errors import CloudLBError, ConflictError
from cloudlb_azure.fake import FakeArm
from cloudlb_azure.names import pip_name
from cloudlb_azure.provider import AzureProvider
from tests.azure.helpers import CLUSTER, LOCATION, RG, lb, names, service, spec

WEB = spec(service("web"))
API = spec(service("api", ports=((81, "TCP", 30081),)))


def plant_lb(fake: FakeArm, name: str, *, tags: dict[str, str], frontends: list[dict[str, Any]]) -> dict[str, Any]:
    props: dict[str, Any] = {"frontendIPConfigurations": frontends}
    body = {"location": LOCATION, "sku": {"name": "Standard"}, "tags": tags, "properties": props}
    return fake.create("loadBalancers", RG, name, body)


def plant_ip(fake: FakeArm, name: str, tags: dict[str, str] | None = None) -> dict[str, Any]:
    body = {"location": LOCATION, "sku": {"name": "Standard"}, "tags": tags or {}}
    body["properties"] = {"publicIPAllocationMethod": "Static"}
    return fake.create("publicIPAddresses", RG, name, body)


def snapshot(fake: FakeArm, *resources: tuple[str, str]) -> list[Any]:
    return [copy.deepcopy(fake.state.document(kind, RG, name)) for kind, name in resources]


@pytest.mark.parametrize(
    "lb_tags",
    [
        pytest.param({}, id="untagged"),
        pytest.param({"cloudlb.io~2fcluster": "other"}, id="other-cluster"),
        pytest.param({"team": "web"}, id="someone-elses-tags"),
    ],
)
def test_a_balancer_named_like_the_clusters_is_never_used(
    provider: AzureProvider, fake: FakeArm, lb_tags: dict[str, str]
) -> None:
    pip = plant_ip(fake, "theirs")
    plant_lb(
        fake, CLUSTER, tags=lb_tags, frontends=[{"name": "fe", "properties": {"publicIPAddress": {"id": pip["id"]}}}]
    )
    before = snapshot(fake, ("loadBalancers", CLUSTER), ("publicIPAddresses", "theirs"))

    assert provider.get(WEB) is None
    assert provider.delete(WEB) is False
    assert "blocked" in str(provider.plan(WEB))
    with pytest.raises(ConflictError, match=CLUSTER):
        provider.ensure(WEB)

    assert fake.writes() == []
    assert provider.list_owned(CLUSTER) == []
    assert snapshot(fake, ("loadBalancers", CLUSTER), ("publicIPAddresses", "theirs")) == before


def test_a_frontend_named_like_the_services_without_its_record_is_left_alone(
    provider: AzureProvider, fake: FakeArm
) -> None:
    """The cluster's own balancer, but someone added a frontend with the Service's name by hand."""
    base = provider.load_balancer_name(WEB)
    pip = plant_ip(fake, "by-hand")
    plant_lb(
        fake,
        CLUSTER,
        tags={"cloudlb.io~2fcluster": CLUSTER},
        frontends=[{"name": base, "properties": {"publicIPAddress": {"id": pip["id"]}}}],
    )
    before = snapshot(fake, ("loadBalancers", CLUSTER))

    assert provider.get(WEB) is None
    assert provider.delete(WEB) is False
    with pytest.raises(ConflictError, match=base):
        provider.ensure(WEB)

    assert fake.writes() == []
    assert snapshot(fake, ("loadBalancers", CLUSTER)) == before


def test_a_public_ip_named_like_the_services_is_not_adopted(provider: AzureProvider, fake: FakeArm) -> None:
    name = pip_name(provider.load_balancer_name(WEB), WEB.uid)
    plant_ip(fake, name, {"owner": "someone"})
    before = snapshot(fake, ("publicIPAddresses", name))

    with pytest.raises(ConflictError, match=name):
        provider.ensure(WEB)

    assert fake.writes() == []
    assert snapshot(fake, ("publicIPAddresses", name)) == before


def test_another_tools_frontend_keeps_the_shared_balancer_alive(
    provider: AzureProvider, client: NetworkManagementClient, fake: FakeArm
) -> None:
    provider.ensure(WEB)
    balancer = lb(client)
    pip = plant_ip(fake, "theirs")
    extra = {"name": "manual", "properties": {"publicIPAddress": {"id": pip["id"]}}}
    body = balancer.as_dict()
    body["properties"]["frontendIPConfigurations"].append(extra)
    client.load_balancers.begin_create_or_update(RG, CLUSTER, body).result()

    provider.ensure(API)
    provider.delete(WEB)
    provider.delete(API)

    remaining = lb(client)
    assert names(remaining.frontend_ip_configurations) == ["manual"]
    assert [p.name for p in client.public_ip_addresses.list(RG)] == ["theirs"]


def test_a_crash_between_writes_then_a_rerun_leaves_one_of_each(
    provider: AzureProvider, client: NetworkManagementClient, fake: FakeArm
) -> None:
    provider.ensure(WEB)
    clean = (len(list(client.public_ip_addresses.list(RG))), names(lb(client).frontend_ip_configurations))
    provider.delete(WEB)
    for n in (1, 2, 3):
        for after in (False, True):
            fake.fail_write(n, after=after, status=400, code="InjectedFailure")
            with pytest.raises(CloudLBError):
                provider.ensure(WEB)
            fake.clear_faults()

            provider.ensure(WEB)

            assert (
                len(list(client.public_ip_addresses.list(RG))),
                names(lb(client).frontend_ip_configurations),
            ) == clean
            assert provider.delete(WEB) is True
            assert list(client.load_balancers.list(RG)) == []
