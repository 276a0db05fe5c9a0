"""Source ranges become rules in the cluster's network security group, named and described as the Service's;
they follow the spec, leave every other rule alone, and go with the Service."""

from __future__ import annotations

from typing import Any

import pytest
from azure.mgmt.network import NetworkManagementClient, models

from cloudlb.errors import ConflictError, InvalidSpecError, UnsupportedFeatureError
from cloudlb.model import Feature
from cloudlb_azure.fake import FakeArm
from cloudlb_azure.provider import AzureProvider
from tests.azure.conftest import MakeProvider
from tests.azure.helpers import NSG, RG, lb, rules_of, service, spec

RANGES = ["10.0.0.0/8", "192.168.0.0/16"]


def address_of(client: NetworkManagementClient, provider: AzureProvider, s: Any) -> str:
    frontend = next(f for f in lb(client).frontend_ip_configurations or [] if f.name == provider.load_balancer_name(s))
    return str(client.public_ip_addresses.get(RG, frontend.public_ip_address.id.rsplit("/", 1)[-1]).ip_address)


def test_source_ranges_become_an_allow_rule_to_the_targets_ports(
    provider: AzureProvider, client: NetworkManagementClient
) -> None:
    """Without floating IP the balancer sends to each target's own address and port: that is what the rule opens,
    to the vnet that holds every target, so it need not change when nodes do."""
    s = spec(service(ports=((80, "TCP", 30080), (443, "TCP", 30443)), loadBalancerSourceRanges=RANGES))
    provider.ensure(s)

    [rule] = rules_of(client, provider.load_balancer_name(s))
    assert rule.name == f"{provider.load_balancer_name(s)}-tcp"
    assert (rule.access, rule.direction, rule.protocol) == ("Allow", "Inbound", "Tcp")
    assert sorted(rule.source_address_prefixes or []) == RANGES
    assert rule.destination_address_prefix == "VirtualNetwork"
    assert sorted(rule.destination_port_ranges or []) == ["30080", "30443"]
    assert rule.description == "cloudlb prod default/web uid-default-web"
    assert 500 <= (rule.priority or 0) <= 4096


def test_with_floating_ip_the_rule_opens_the_frontends_address_and_ports(
    provider: AzureProvider, client: NetworkManagementClient
) -> None:
    notes = {"service.beta.kubernetes.io/azure-disable-load-balancer-floating-ip": "false"}
    s = spec(service(ports=((80, "TCP", 30080),), annotations=notes, loadBalancerSourceRanges=RANGES))
    provider.ensure(s)

    [rule] = rules_of(client, provider.load_balancer_name(s))
    assert rule.destination_address_prefix == address_of(client, provider, s)
    assert rule.destination_port_ranges == ["80"]


def test_an_external_service_without_ranges_is_open_to_the_internet_per_protocol(
    provider: AzureProvider, client: NetworkManagementClient
) -> None:
    s = spec(service(ports=((53, "UDP", 30053), (53, "TCP", 30054))))
    provider.ensure(s)

    rules = rules_of(client, provider.load_balancer_name(s))
    assert sorted((r.protocol, r.source_address_prefix) for r in rules) == [("Tcp", "Internet"), ("Udp", "Internet")]
    assert len({r.priority for r in rules}) == 2


def test_ranges_follow_the_spec_and_the_rule_keeps_its_priority(
    provider: AzureProvider, client: NetworkManagementClient
) -> None:
    provider.ensure(spec(service(loadBalancerSourceRanges=RANGES)))
    [before] = rules_of(client, provider.load_balancer_name(spec()))
    narrower = spec(service(annotations={"service.beta.kubernetes.io/azure-allowed-ip-ranges": "10.1.0.0/16"}))

    plan = provider.plan(narrower)
    provider.ensure(narrower)

    [after] = rules_of(client, provider.load_balancer_name(narrower))
    assert [(c.resource, c.action.value) for c in plan] == [("security-rule", "update")]
    assert after.source_address_prefixes == ["10.1.0.0/16"]
    assert after.priority == before.priority
    assert provider.plan(narrower).is_empty


def test_other_rules_stay_as_they_are_and_the_services_go_on_delete(
    provider: AzureProvider, client: NetworkManagementClient
) -> None:
    theirs = {
        "protocol": "Tcp",
        "access": "Allow",
        "direction": "Inbound",
        "priority": 500,
        "sourcePortRange": "*",
        "destinationPortRange": "22",
        "sourceAddressPrefix": "10.0.0.0/8",
        "destinationAddressPrefix": "*",
        "description": "ssh from the office",
    }
    client.security_rules.begin_create_or_update(RG, NSG, "ssh", models.SecurityRule({"properties": theirs})).result()
    web, api = spec(service("web", loadBalancerSourceRanges=RANGES)), spec(service("api", ports=((81, "TCP", 30081),)))
    provider.ensure(web)
    provider.ensure(api)
    ssh = client.security_rules.get(RG, NSG, "ssh")
    priorities = {r.name: r.priority for r in client.network_security_groups.get(RG, NSG).security_rules or []}

    provider.delete(web)

    remaining = {r.name: r for r in client.network_security_groups.get(RG, NSG).security_rules or []}
    assert set(remaining) == {"ssh", f"{provider.load_balancer_name(api)}-tcp"}
    assert remaining["ssh"].as_dict() == ssh.as_dict() | {"etag": remaining["ssh"].etag}
    assert sorted(priorities.values()) == [500, 501, 502]  # the lowest free ones from 500, which was taken
    assert (
        remaining[f"{provider.load_balancer_name(api)}-tcp"].priority
        == priorities[f"{provider.load_balancer_name(api)}-tcp"]
    )
    provider.delete(api)
    assert [r.name for r in client.network_security_groups.get(RG, NSG).security_rules or []] == ["ssh"]


def test_a_rule_named_like_the_services_but_not_described_as_its_blocks_the_ensure(
    provider: AzureProvider, client: NetworkManagementClient, fake: FakeArm
) -> None:
    s = spec(service(loadBalancerSourceRanges=RANGES))
    name = f"{provider.load_balancer_name(s)}-tcp"
    props = {
        "protocol": "Tcp",
        "access": "Deny",
        "direction": "Inbound",
        "priority": 700,
        "sourcePortRange": "*",
        "destinationPortRange": "*",
        "sourceAddressPrefix": "*",
        "destinationAddressPrefix": "*",
        "description": "someone else's",
    }
    client.security_rules.begin_create_or_update(RG, NSG, name, models.SecurityRule({"properties": props})).result()
    start = len(fake.writes())

    with pytest.raises(ConflictError, match=name):
        provider.ensure(s)

    assert len(fake.writes()) == start
    assert client.security_rules.get(RG, NSG, name).access == "Deny"


def test_without_a_security_group_source_ranges_are_unsupported(make_provider: MakeProvider, fake: FakeArm) -> None:
    provider = make_provider(security_group_name=None)
    assert Feature.SOURCE_RANGES not in provider.capabilities

    with pytest.raises(UnsupportedFeatureError, match="source-ranges"):
        provider.plan(spec(service(loadBalancerSourceRanges=RANGES)))
    assert fake.requests == []


def test_both_kinds_of_ranges_at_once_are_refused(provider: AzureProvider, fake: FakeArm) -> None:
    notes = {"service.beta.kubernetes.io/azure-allowed-ip-ranges": "10.1.0.0/16"}
    with pytest.raises(InvalidSpecError, match="azure-allowed-ip-ranges"):
        provider.plan(spec(service(annotations=notes, loadBalancerSourceRanges=RANGES)))
    assert fake.requests == []


def test_an_internal_service_without_ranges_needs_no_rule(
    provider: AzureProvider, client: NetworkManagementClient
) -> None:
    s = spec(service(annotations={"service.beta.kubernetes.io/azure-load-balancer-internal": "true"}))
    provider.ensure(s)

    assert rules_of(client, provider.load_balancer_name(s)) == []


def test_a_service_too_long_to_describe_in_full_records_only_its_uid(
    provider: AzureProvider, client: NetworkManagementClient
) -> None:
    """A description holds 140 characters; the rule's name already stands for cluster, namespace and name."""
    uid = "0f8e5a2c-7b1d-4c3e-9a6f-2d4b8c1e5f70"
    s = spec(service("n" * 63, namespace="s" * 63, uid=uid, loadBalancerSourceRanges=RANGES))
    provider.ensure(s)

    [rule] = rules_of(client, provider.load_balancer_name(s))
    assert rule.description == f"cloudlb {uid}"
    assert provider.plan(s).is_empty
    provider.delete(s)
    assert rules_of(client, provider.load_balancer_name(s)) == []
