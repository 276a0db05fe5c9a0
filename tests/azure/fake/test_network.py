"""Network security groups and virtual networks: security rules and subnets added and removed as child resources,
with Azure's checks (priorities per direction, address ranges, resources in use)."""

from __future__ import annotations

from typing import Any

import pytest
from azure.core.exceptions import HttpResponseError
from azure.mgmt.network import NetworkManagementClient, models

from tests.azure.fake.builders import NSG, RG, SUBNET, VNET, internal_frontend, load_balancer, subnet_id


def security_rule(
    priority: int, *, direction: str = "Inbound", sources: list[str] | None = None
) -> models.SecurityRule:
    return models.SecurityRule(
        {
            "properties": {
                "protocol": "Tcp",
                "access": "Allow",
                "direction": direction,
                "priority": priority,
                "sourceAddressPrefixes": sources or ["203.0.113.0/24"],
                "sourcePortRange": "*",
                "destinationAddressPrefix": "*",
                "destinationPortRanges": ["80", "443"],
            }
        }
    )


def bad_request(call: Any) -> str:
    with pytest.raises(HttpResponseError) as caught:
        call()
    assert caught.value.status_code == 400
    assert caught.value.error is not None
    return str(caught.value.error.code)


def test_security_rules_are_added_and_removed(client: NetworkManagementClient) -> None:
    client.security_rules.begin_create_or_update(RG, NSG, "allow-web", security_rule(500)).result()
    client.security_rules.begin_create_or_update(RG, NSG, "allow-dns", security_rule(501)).result()
    added = client.network_security_groups.get(RG, NSG)

    client.security_rules.begin_delete(RG, NSG, "allow-web").result()
    remaining = [r.name for r in client.security_rules.list(RG, NSG)]

    web = client.security_rules.get(RG, NSG, "allow-dns")
    assert sorted(r.name or "" for r in added.security_rules or []) == ["allow-dns", "allow-web"]
    assert remaining == ["allow-dns"]
    assert (web.priority, web.source_address_prefixes, web.destination_port_ranges) == (
        501,
        ["203.0.113.0/24"],
        ["80", "443"],
    )
    assert {r.name for r in added.default_security_rules or []} >= {"AllowVnetInBound", "DenyAllInBound"}


def test_two_rules_may_not_share_a_priority_in_one_direction(client: NetworkManagementClient) -> None:
    client.security_rules.begin_create_or_update(RG, NSG, "first", security_rule(500)).result()
    client.security_rules.begin_create_or_update(RG, NSG, "outbound", security_rule(500, direction="Outbound")).result()

    code = bad_request(
        lambda: client.security_rules.begin_create_or_update(RG, NSG, "second", security_rule(500)).result()
    )

    assert code == "SecurityRuleConflict"
    assert sorted(r.name or "" for r in client.security_rules.list(RG, NSG)) == ["first", "outbound"]


@pytest.mark.parametrize(
    ("rule", "code"),
    [
        pytest.param(security_rule(99), "SecurityRuleInvalidPriority", id="priority-too-low"),
        pytest.param(security_rule(4097), "SecurityRuleInvalidPriority", id="priority-too-high"),
        pytest.param(security_rule(500, sources=["300.1.1.0/24"]), "SecurityRuleInvalidAddressPrefix", id="bad-prefix"),
    ],
)
def test_invalid_security_rules_are_refused(
    client: NetworkManagementClient, rule: models.SecurityRule, code: str
) -> None:
    assert bad_request(lambda: client.security_rules.begin_create_or_update(RG, NSG, "r", rule).result()) == code
    assert list(client.security_rules.list(RG, NSG)) == []


def test_an_nsg_on_a_subnet_cannot_be_deleted(client: NetworkManagementClient) -> None:
    code = bad_request(lambda: client.network_security_groups.begin_delete(RG, NSG).result())

    assert code == "InUseNetworkSecurityGroupCannotBeDeleted"
    subnets = client.network_security_groups.get(RG, NSG).subnets or []
    assert [s.id for s in subnets] == [subnet_id()]


def test_subnets_are_added_and_removed(client: NetworkManagementClient) -> None:
    client.subnets.begin_create_or_update(
        RG, VNET, "extra", models.Subnet({"properties": {"addressPrefix": "10.241.0.0/24"}})
    ).result()
    added = sorted(s.name or "" for s in client.subnets.list(RG, VNET))

    client.subnets.begin_delete(RG, VNET, "extra").result()

    assert added == ["extra", SUBNET]
    assert [s.name for s in client.virtual_networks.get(RG, VNET).subnets or []] == [SUBNET]


@pytest.mark.parametrize(
    ("prefix", "code"),
    [
        pytest.param("10.240.1.0/24", "NetcfgSubnetRangesOverlap", id="overlapping"),
        pytest.param("100.64.0.0/24", "NetcfgSubnetRangeOutsideVnet", id="outside-the-vnet"),
        pytest.param("10.241.0.1/24", "NetcfgInvalidSubnet", id="host-bits-set"),
    ],
)
def test_invalid_subnets_are_refused(client: NetworkManagementClient, prefix: str, code: str) -> None:
    body = models.Subnet({"properties": {"addressPrefix": prefix}})

    assert bad_request(lambda: client.subnets.begin_create_or_update(RG, VNET, "extra", body).result()) == code
    assert [s.name for s in client.subnets.list(RG, VNET)] == [SUBNET]


def test_a_subnet_used_by_an_internal_frontend_cannot_be_deleted(client: NetworkManagementClient) -> None:
    client.load_balancers.begin_create_or_update(
        RG, "kube", load_balancer(frontends=[internal_frontend("fe")])
    ).result()

    code = bad_request(lambda: client.subnets.begin_delete(RG, VNET, SUBNET).result())
    vnet_code = bad_request(lambda: client.virtual_networks.begin_delete(RG, VNET).result())

    assert code == vnet_code == "InUseSubnetCannotBeDeleted"
    assert [s.name for s in client.subnets.list(RG, VNET)] == [SUBNET]
