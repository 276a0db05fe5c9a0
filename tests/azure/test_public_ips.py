"""Public IP provenance: an address cloudlb allocates carries the Service's tags and goes with it; one the Service
names (azure-pip-name, or loadBalancerIP) is used as it is and never changed nor deleted."""

from __future__ import annotations

from typing import Any

import pytest
from azure.mgmt.network import NetworkManagementClient, models

from cloudlb.errors import NotFoundError
from cloudlb.naming import CLUSTER_TAG, SERVICE_TAG, UID_TAG
from cloudlb_azure.fake import FakeArm
from cloudlb_azure.provider import AzureProvider
from tests.azure.helpers import LOCATION, RG, lb, service, spec, tags, writes

A = "service.beta.kubernetes.io/azure-"


def own_ip(client: NetworkManagementClient, name: str, group: str = RG, **extra: Any) -> Any:
    body = {"location": LOCATION, "sku": {"name": "Standard"}, "tags": {"owner": "platform-team"}}
    body["properties"] = {"publicIPAllocationMethod": "Static", **extra}
    return client.public_ip_addresses.begin_create_or_update(group, name, models.PublicIPAddress(body)).result()


def frontend_ip(client: NetworkManagementClient, provider: AzureProvider, s: Any) -> str:
    frontend = next(f for f in lb(client).frontend_ip_configurations or [] if f.name == provider.load_balancer_name(s))
    return str(frontend.public_ip_address.id)


def test_an_allocated_address_carries_the_services_tags_and_goes_with_it(
    provider: AzureProvider, client: NetworkManagementClient
) -> None:
    s = spec(service(annotations={"cloudlb.io/tags": "team=web,cost-center=42"}))
    status = provider.ensure(s)

    [pip] = list(client.public_ip_addresses.list(RG))
    assert frontend_ip(client, provider, s) == pip.id
    assert pip.sku is not None and (pip.sku.name, pip.public_ip_allocation_method) == ("Standard", "Static")
    assert tags(pip) == {
        CLUSTER_TAG: "prod",
        SERVICE_TAG: "default/web",
        UID_TAG: "uid-default-web",
        "team": "web",
        "cost-center": "42",
        "cloudlb.io/user-tags": "cost-center,team",
    }
    assert "cloudlb.io~2fcluster" in (pip.tags or {})  # Azure refuses "/" in tag names
    assert status.to_kube() == {"ingress": [{"ip": pip.ip_address}]}

    provider.delete(s)
    assert list(client.public_ip_addresses.list(RG)) == []


def test_a_named_address_is_used_and_never_changed_nor_deleted(
    provider: AzureProvider, client: NetworkManagementClient
) -> None:
    mine = own_ip(client, "my-ip")
    s = spec(service(annotations={f"{A}pip-name": "my-ip"}))

    status = provider.ensure(s)

    assert frontend_ip(client, provider, s) == mine.id
    assert [p.name for p in client.public_ip_addresses.list(RG)] == ["my-ip"]
    assert status.to_kube() == {"ingress": [{"ip": mine.ip_address}]}
    provider.delete(s)
    after = client.public_ip_addresses.get(RG, "my-ip")
    assert (after.etag, after.tags) == (mine.etag, {"owner": "platform-team"})


def test_load_balancer_ip_uses_the_existing_address_with_that_ip(
    provider: AzureProvider, client: NetworkManagementClient
) -> None:
    own_ip(client, "decoy")
    wanted = own_ip(client, "reserved")
    s = spec(service(loadBalancerIP=wanted.ip_address))

    provider.ensure(s)
    provider.delete(s)

    assert sorted(str(p.name) for p in client.public_ip_addresses.list(RG)) == ["decoy", "reserved"]
    assert client.public_ip_addresses.get(RG, "reserved").etag == wanted.etag


def test_a_missing_named_address_is_refused_before_any_write(provider: AzureProvider, fake: FakeArm) -> None:
    s = spec(service(annotations={f"{A}pip-name": "nowhere"}))

    assert "blocked" in str(provider.plan(s))
    with pytest.raises(NotFoundError, match="nowhere"):
        provider.ensure(s)
    assert fake.writes() == []


def test_moving_to_a_named_address_releases_the_allocated_one(
    provider: AzureProvider, client: NetworkManagementClient
) -> None:
    provider.ensure(spec(service()))
    mine = own_ip(client, "my-ip")
    named = spec(service(annotations={f"{A}pip-name": "my-ip"}))

    provider.ensure(named)

    assert frontend_ip(client, provider, named) == mine.id
    assert [p.name for p in client.public_ip_addresses.list(RG)] == ["my-ip"]
    assert provider.plan(named).is_empty


def test_an_address_in_another_resource_group(
    provider: AzureProvider, client: NetworkManagementClient, fake: FakeArm
) -> None:
    fake.state.create_group("ips", LOCATION)
    s = spec(service(annotations={f"{A}load-balancer-resource-group": "ips"}))

    provider.ensure(s)

    [pip] = list(client.public_ip_addresses.list("ips"))
    assert frontend_ip(client, provider, s).lower() == str(pip.id).lower()
    assert list(client.public_ip_addresses.list(RG)) == []
    assert provider.plan(s).is_empty
    provider.delete(s)
    assert list(client.public_ip_addresses.list("ips")) == []


def test_the_dns_label_is_set_and_changed_on_the_allocated_address(
    provider: AzureProvider, client: NetworkManagementClient, fake: FakeArm
) -> None:
    provider.ensure(spec(service(annotations={f"{A}dns-label-name": "shop"})))
    [pip] = list(client.public_ip_addresses.list(RG))
    assert pip.dns_settings.fqdn == f"shop.{LOCATION}.cloudapp.azure.com"
    start = len(fake.requests)

    provider.ensure(spec(service(annotations={f"{A}dns-label-name": "store"})))

    assert writes(fake, start) == [("PUT", f"publicIPAddresses/{pip.name}")]
    after = client.public_ip_addresses.get(RG, str(pip.name))
    assert (after.dns_settings.domain_name_label, after.ip_address) == ("store", pip.ip_address)


def test_tag_drift_is_one_patch_that_keeps_other_tools_tags(
    provider: AzureProvider, client: NetworkManagementClient, fake: FakeArm
) -> None:
    provider.ensure(spec(service(annotations={"cloudlb.io/tags": "team=a,old=x"})))
    [pip] = list(client.public_ip_addresses.list(RG))
    client.public_ip_addresses.update_tags(RG, str(pip.name), {"tags": {**(pip.tags or {}), "billing": "kept"}})
    start = len(fake.requests)

    provider.ensure(spec(service(annotations={"cloudlb.io/tags": "team=b"})))

    assert writes(fake, start) == [("PATCH", f"publicIPAddresses/{pip.name}")]
    now = tags(client.public_ip_addresses.get(RG, str(pip.name)))
    assert (now["team"], now["billing"], "old" in now) == ("b", "kept", False)


def test_a_recreated_service_gets_a_new_address_and_the_old_one_goes(
    provider: AzureProvider, client: NetworkManagementClient
) -> None:
    old = provider.ensure(spec(service(uid="uid-1")))
    new_spec = spec(service(uid="uid-2"))

    new = provider.ensure(new_spec)

    [pip] = list(client.public_ip_addresses.list(RG))
    assert tags(pip)[UID_TAG] == "uid-2"
    assert frontend_ip(client, provider, new_spec) == pip.id
    assert new.ingress != old.ingress
    assert provider.plan(new_spec).is_empty
