"""Public IPs: Standard and Static only, an address allocated once and kept, DNS labels, and no deletion while a
load balancer frontend uses one."""

from __future__ import annotations

import ipaddress
from typing import Any

import pytest
from azure.core.exceptions import HttpResponseError, ResourceNotFoundError
from azure.mgmt.network import NetworkManagementClient, models

from tests.azure.fake.builders import RG, create_public_ip, load_balancer, public_frontend, public_ip


def refused(client: NetworkManagementClient, name: str, body: models.PublicIPAddress) -> str:
    with pytest.raises(HttpResponseError) as caught:
        client.public_ip_addresses.begin_create_or_update(RG, name, body).result()
    assert caught.value.status_code == 400
    assert caught.value.error is not None
    return str(caught.value.error.code)


def test_a_public_ip_gets_a_static_address_and_a_dns_name(client: NetworkManagementClient) -> None:
    create_public_ip(client, "pip-web", label="my-web", tags={"svc": "web"})

    read = client.public_ip_addresses.get(RG, "pip-web")

    assert ipaddress.ip_address(read.ip_address or "") in ipaddress.ip_network("20.0.0.0/8")
    assert (read.public_ip_allocation_method, read.public_ip_address_version) == ("Static", "IPv4")
    assert read.sku is not None and read.sku.name == "Standard"
    assert read.dns_settings is not None and read.dns_settings.fqdn == "my-web.eastus.cloudapp.azure.com"
    assert read.tags == {"svc": "web"}
    assert read.ip_configuration is None


def test_the_address_survives_updates_and_differs_between_ips(client: NetworkManagementClient) -> None:
    create_public_ip(client, "a")
    create_public_ip(client, "b")
    first = client.public_ip_addresses.get(RG, "a").ip_address

    client.public_ip_addresses.begin_create_or_update(RG, "a", public_ip(tags={"x": "y"})).result()

    assert client.public_ip_addresses.get(RG, "a").ip_address == first
    assert client.public_ip_addresses.get(RG, "b").ip_address != first


def test_create_then_delete(client: NetworkManagementClient) -> None:
    create_public_ip(client, "pip")

    client.public_ip_addresses.begin_delete(RG, "pip").result()

    with pytest.raises(ResourceNotFoundError):
        client.public_ip_addresses.get(RG, "pip")


def test_a_public_ip_used_by_a_frontend_cannot_be_deleted_until_the_lb_is_gone(client: NetworkManagementClient) -> None:
    pip = create_public_ip(client, "pip")
    client.load_balancers.begin_create_or_update(
        RG, "kube", load_balancer(frontends=[public_frontend("fe", pip)])
    ).result()

    with pytest.raises(HttpResponseError) as caught:
        client.public_ip_addresses.begin_delete(RG, "pip").result()
    still_there = client.public_ip_addresses.get(RG, "pip")
    client.load_balancers.begin_delete(RG, "kube").result()
    client.public_ip_addresses.begin_delete(RG, "pip").result()

    # Azure answers 400 for this, not 409.
    assert caught.value.status_code == 400
    assert caught.value.error is not None and caught.value.error.code == "PublicIPAddressCannotBeDeleted"
    assert still_there.ip_configuration is not None
    assert still_there.ip_configuration.id is not None and still_there.ip_configuration.id.endswith("/fe")
    assert list(client.public_ip_addresses.list(RG)) == []


@pytest.mark.parametrize(
    ("change", "code"),
    [
        pytest.param({"sku": {"name": "Basic"}}, "PublicIPSkuNotSupported", id="basic-sku"),
        pytest.param({"sku": None}, "PublicIPSkuNotSupported", id="no-sku-means-basic"),
        pytest.param(
            {"properties": {"publicIPAllocationMethod": "Dynamic"}},
            "StandardSkuPublicIPAddressesMustBeStatic",
            id="dynamic",
        ),
        pytest.param(
            {"properties": {"publicIPAllocationMethod": "Static", "dnsSettings": {"domainNameLabel": "Upper"}}},
            "InvalidDomainNameLabel",
            id="bad-dns-label",
        ),
        pytest.param({"location": None}, "LocationRequired", id="no-location"),
    ],
)
def test_invalid_public_ips_are_refused(client: NetworkManagementClient, change: dict[str, Any], code: str) -> None:
    body = models.PublicIPAddress({**public_ip(), **change})

    assert refused(client, "pip", body) == code
    assert list(client.public_ip_addresses.list(RG)) == []


def test_a_dns_label_is_unique_per_region(client: NetworkManagementClient) -> None:
    create_public_ip(client, "first", label="shared")

    assert refused(client, "second", public_ip(label="shared")) == "DnsRecordInUse"
