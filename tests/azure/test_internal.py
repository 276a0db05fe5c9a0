"""Internal Services live on the cluster's second balancer, ``<cluster>-internal``, with a private frontend in a
subnet from the provider's config or the Service's annotation; a Service that changes scheme moves over."""

from __future__ import annotations

from typing import Any

import pytest
from azure.mgmt.network import NetworkManagementClient, models

from cloudlb.errors import ConfigError
from cloudlb_azure.fake import FakeArm
from cloudlb_azure.provider import AzureProvider
from tests.azure.conftest import MakeProvider
from tests.azure.helpers import RG, SUBNET, VNET, lb, names, service, spec

INTERNAL = {"service.beta.kubernetes.io/azure-load-balancer-internal": "true"}


def frontend(client: NetworkManagementClient, name: str, base: str) -> Any:
    return next(f for f in lb(client, name).frontend_ip_configurations or [] if f.name == base)


def test_an_internal_service_gets_a_private_frontend_on_the_internal_balancer(
    provider: AzureProvider, client: NetworkManagementClient
) -> None:
    s = spec(service(annotations=INTERNAL))

    status = provider.ensure(s)

    assert [b.name for b in client.load_balancers.list(RG)] == ["prod-internal"]
    fe = frontend(client, "prod-internal", provider.load_balancer_name(s))
    assert str(fe.subnet.id).endswith(f"/virtualNetworks/{VNET}/subnets/{SUBNET}")
    assert (fe.private_ip_allocation_method, fe.public_ip_address) == ("Dynamic", None)
    assert status.to_kube() == {"ingress": [{"ip": fe.private_ip_address}]}
    assert list(client.public_ip_addresses.list(RG)) == []
    assert provider.get(s) == status


def test_the_subnet_annotation_and_a_static_address(provider: AzureProvider, client: NetworkManagementClient) -> None:
    subnet = models.Subnet({"properties": {"addressPrefix": "10.241.0.0/24"}})
    client.subnets.begin_create_or_update(RG, VNET, "services", subnet).result()
    notes = {**INTERNAL, "service.beta.kubernetes.io/azure-load-balancer-internal-subnet": "services"}
    s = spec(service(annotations=notes, loadBalancerIP="10.241.0.10"))

    status = provider.ensure(s)

    fe = frontend(client, "prod-internal", provider.load_balancer_name(s))
    assert str(fe.subnet.id).endswith("/subnets/services")
    assert (fe.private_ip_allocation_method, fe.private_ip_address) == ("Static", "10.241.0.10")
    assert status.to_kube() == {"ingress": [{"ip": "10.241.0.10"}]}


def test_external_and_internal_services_use_two_balancers(
    provider: AzureProvider, client: NetworkManagementClient
) -> None:
    public, private = spec(service("public")), spec(service("private", annotations=INTERNAL))
    provider.ensure(public)
    provider.ensure(private)

    assert sorted(str(b.name) for b in client.load_balancers.list(RG)) == ["prod", "prod-internal"]
    assert names(lb(client, "prod").frontend_ip_configurations) == [provider.load_balancer_name(public)]
    assert names(lb(client, "prod-internal").frontend_ip_configurations) == [provider.load_balancer_name(private)]


@pytest.mark.parametrize(
    "first_internal", [pytest.param(True, id="to-external"), pytest.param(False, id="to-internal")]
)
def test_a_service_that_changes_scheme_moves_to_the_other_balancer(
    provider: AzureProvider, client: NetworkManagementClient, first_internal: bool
) -> None:
    internal, external = spec(service(annotations=INTERNAL)), spec(service())
    before, after = (internal, external) if first_internal else (external, internal)
    provider.ensure(before)

    status = provider.ensure(after)

    [balancer] = list(client.load_balancers.list(RG))
    assert balancer.name == ("prod" if first_internal else "prod-internal")
    assert names(balancer.frontend_ip_configurations) == [provider.load_balancer_name(after)]
    assert len(list(client.public_ip_addresses.list(RG))) == (1 if first_internal else 0)
    assert provider.get(after) == status
    assert provider.plan(after).is_empty


def test_an_internal_service_needs_a_subnet(make_provider: MakeProvider, fake: FakeArm) -> None:
    provider = make_provider(subnet_name=None)

    with pytest.raises(ConfigError, match="subnet"):
        provider.plan(spec(service(annotations=INTERNAL)))
    assert fake.requests == []
