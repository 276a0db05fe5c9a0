"""Load balancers through azure-mgmt-network: a Standard LB with its children read back, the references between
children checked as Azure checks them, conflicting rules refused, limits, and internal frontends' addresses."""

from __future__ import annotations

from typing import Any

import pytest
from azure.core.exceptions import HttpResponseError
from azure.mgmt.network import NetworkManagementClient, models

from cloudlb_azure.fake import FakeArm, Limits
from cloudlb_azure.mock import seed_network
from tests.azure.fake.builders import (
    LOCATION,
    NSG,
    RG,
    SUBNET,
    VNET,
    child_id,
    create_public_ip,
    internal_frontend,
    lb_id,
    load_balancer,
    pool,
    probe,
    public_frontend,
    rule,
    subnet_id,
)
from tests.azure.fake.conftest import network_client

Json = dict[str, Any]


def create(client: NetworkManagementClient, name: str, body: models.LoadBalancer) -> Any:
    return client.load_balancers.begin_create_or_update(RG, name, body).result()


def refused(client: NetworkManagementClient, name: str, body: models.LoadBalancer) -> HttpResponseError:
    with pytest.raises(HttpResponseError) as caught:
        create(client, name, body)
    assert caught.value.status_code == 400
    return caught.value


def web_lb(pip: str, *, rules: list[Json] | None = None, probes: list[Json] | None = None) -> models.LoadBalancer:
    return load_balancer(
        frontends=[public_frontend("fe-web", pip)],
        pools=[pool("nodes", ("10.1.0.1", "10.1.0.2"))],
        probes=[probe("tcp-30000", 30000)] if probes is None else probes,
        rules=rules
        if rules is not None
        else [
            rule(
                "kube",
                "tcp-80",
                frontend="fe-web",
                port=80,
                backend_port=30000,
                pool_name="nodes",
                probe_name="tcp-30000",
            )
        ],
        tags={"cloudlb.io_cluster": "prod"},
    )


def test_a_load_balancer_with_frontend_pool_probe_and_rule_reads_back(client: NetworkManagementClient) -> None:
    pip = create_public_ip(client, "pip-web")

    created = create(client, "kube", web_lb(pip))
    read = client.load_balancers.get(RG, "kube")

    assert created.provisioning_state == "Succeeded"
    assert read.id == lb_id("kube")
    assert read.sku is not None and read.sku.name == "Standard"
    assert read.tags == {"cloudlb.io_cluster": "prod"}
    (frontend,) = read.frontend_ip_configurations or []
    assert frontend.id == child_id("kube", "frontendIPConfigurations", "fe-web")
    assert frontend.public_ip_address is not None and frontend.public_ip_address.id == pip
    (rule_read,) = read.load_balancing_rules or []
    assert (rule_read.protocol, rule_read.frontend_port, rule_read.backend_port) == ("Tcp", 80, 30000)
    assert rule_read.backend_address_pool is not None
    assert rule_read.backend_address_pool.id == child_id("kube", "backendAddressPools", "nodes")
    assert rule_read.probe is not None and rule_read.probe.id == child_id("kube", "probes", "tcp-30000")
    assert (rule_read.load_distribution, rule_read.idle_timeout_in_minutes) == ("Default", 4)
    (pool_read,) = read.backend_address_pools or []
    assert sorted(a.ip_address or "" for a in pool_read.load_balancer_backend_addresses or []) == [
        "10.1.0.1",
        "10.1.0.2",
    ]
    assert [r.id for r in pool_read.load_balancing_rules or []] == [rule_read.id]
    assert [r.id for r in frontend.load_balancing_rules or []] == [rule_read.id]
    assert {c.etag for c in [frontend, rule_read, pool_read]} == {read.etag}
    used_by = client.public_ip_addresses.get(RG, "pip-web").ip_configuration
    assert used_by is not None and used_by.id == frontend.id


@pytest.mark.parametrize(
    ("broken_rule", "missing"),
    [
        pytest.param({"probe_name": "no-probe"}, "probes/no-probe", id="probe"),
        pytest.param({"pool_name": "no-pool"}, "backendAddressPools/no-pool", id="pool"),
        pytest.param({"frontend": "no-frontend"}, "frontendIPConfigurations/no-frontend", id="frontend"),
    ],
)
def test_a_rule_naming_a_missing_child_is_an_invalid_reference(
    client: NetworkManagementClient, broken_rule: dict[str, str], missing: str
) -> None:
    pip = create_public_ip(client, "pip-web")
    fields: dict[str, Any] = {"frontend": "fe-web", "port": 80, "pool_name": "nodes", "probe_name": "tcp-30000"}
    fields.update(broken_rule)

    error = refused(client, "kube", web_lb(pip, rules=[rule("kube", "tcp-80", **fields)]))

    assert error.error is not None and error.error.code == "InvalidResourceReference"
    assert missing in str(error.error.message)
    assert list(client.load_balancers.list(RG)) == []


def test_a_rule_naming_another_balancers_probe_is_an_invalid_reference(client: NetworkManagementClient) -> None:
    pip = create_public_ip(client, "pip-web")
    stray = rule("kube", "tcp-80", frontend="fe-web", port=80, probe_name="tcp-30000")
    stray["properties"]["probe"] = {"id": child_id("other", "probes", "tcp-30000")}

    error = refused(client, "kube", web_lb(pip, rules=[stray]))

    assert error.error is not None and error.error.code == "InvalidResourceReference"


@pytest.mark.parametrize(
    ("frontend", "missing"),
    [
        pytest.param(public_frontend("fe", f"/subscriptions/x/resourceGroups/{RG}/x"), None, id="malformed-id"),
        pytest.param(internal_frontend("fe", subnet=subnet_id("no-subnet")), "subnets/no-subnet", id="subnet"),
    ],
)
def test_a_frontend_naming_a_missing_subnet_or_a_malformed_id_is_refused(
    client: NetworkManagementClient, frontend: Json, missing: str | None
) -> None:
    error = refused(client, "kube", load_balancer(frontends=[frontend]))

    assert error.error is not None
    assert error.error.code == ("InvalidResourceReference" if missing else "LinkedInvalidPropertyId")


def test_a_frontend_naming_a_missing_public_ip_is_an_invalid_reference(client: NetworkManagementClient) -> None:
    pip = create_public_ip(client, "pip-web").replace("pip-web", "pip-gone")

    error = refused(client, "kube", load_balancer(frontends=[public_frontend("fe", pip)]))

    assert error.error is not None and error.error.code == "InvalidResourceReference"
    assert "pip-gone" in str(error.error.message)


def test_two_rules_on_one_frontend_protocol_and_port_conflict(client: NetworkManagementClient) -> None:
    pip = create_public_ip(client, "pip-web")
    rules = [
        rule("kube", "a", frontend="fe-web", port=80, backend_port=30000, pool_name="nodes"),
        rule("kube", "b", frontend="fe-web", port=80, backend_port=30001, pool_name="nodes"),
    ]

    error = refused(client, "kube", web_lb(pip, rules=rules))

    assert error.error is not None
    assert error.error.code == "RulesUseSameFrontendIPConfigurationProtocolAndPort"


def test_the_same_port_for_tcp_and_udp_does_not_conflict(client: NetworkManagementClient) -> None:
    pip = create_public_ip(client, "pip-web")
    rules = [
        rule("kube", "tcp-53", frontend="fe-web", port=53, backend_port=30053, pool_name="nodes"),
        rule("kube", "udp-53", frontend="fe-web", port=53, backend_port=30053, pool_name="nodes", protocol="Udp"),
    ]

    created = create(client, "kube", web_lb(pip, rules=rules))

    assert sorted(r.name or "" for r in created.load_balancing_rules) == ["tcp-53", "udp-53"]


def test_two_rules_without_floating_ip_to_one_backend_port_of_a_pool_conflict(client: NetworkManagementClient) -> None:
    pip = create_public_ip(client, "pip-web")
    rules = [
        rule("kube", "a", frontend="fe-web", port=80, backend_port=30000, pool_name="nodes"),
        rule("kube", "b", frontend="fe-web", port=8080, backend_port=30000, pool_name="nodes"),
    ]

    error = refused(client, "kube", web_lb(pip, rules=rules))

    assert error.error is not None and error.error.code == "RulesUseSameBackendPortProtocolAndPool"


def test_with_floating_ip_two_frontends_may_share_a_backend_port(client: NetworkManagementClient) -> None:
    """What lets Services share one LB: each has its own frontend, and floating IP keeps the flows apart."""
    first, second = create_public_ip(client, "pip-a"), create_public_ip(client, "pip-b")
    body = load_balancer(
        frontends=[public_frontend("fe-a", first), public_frontend("fe-b", second)],
        pools=[pool("nodes", ("10.1.0.1",))],
        rules=[
            rule("kube", "a-80", frontend="fe-a", port=80, pool_name="nodes", floating_ip=True),
            rule("kube", "b-80", frontend="fe-b", port=80, pool_name="nodes", floating_ip=True),
        ],
    )

    created = create(client, "kube", body)

    assert len(created.load_balancing_rules) == 2


def test_a_public_ip_can_front_only_one_frontend(client: NetworkManagementClient) -> None:
    pip = create_public_ip(client, "pip-web")
    create(client, "kube", load_balancer(frontends=[public_frontend("fe", pip)]))

    error = refused(client, "other", load_balancer(frontends=[public_frontend("fe", pip)]))

    assert error.error is not None and error.error.code == "PublicIPAddressInUse"


def test_public_and_internal_frontends_do_not_mix(client: NetworkManagementClient) -> None:
    pip = create_public_ip(client, "pip-web")

    error = refused(client, "kube", load_balancer(frontends=[public_frontend("a", pip), internal_frontend("b")]))

    assert error.error is not None
    assert error.error.code == "LoadBalancerWithPublicAndPrivateFrontendIPConfigurations"


@pytest.mark.parametrize(
    "sku",
    [pytest.param(None, id="absent-means-basic"), pytest.param({"name": "Basic"}, id="basic")],
)
def test_only_standard_load_balancers_can_be_created(client: NetworkManagementClient, sku: Json | None) -> None:
    body = load_balancer(frontends=[internal_frontend("fe")])
    body.pop("sku")
    if sku is not None:
        body["sku"] = sku

    error = refused(client, "kube", body)

    assert error.error is not None and error.error.code == "LoadBalancerSkuNotSupported"


def test_a_backend_address_outside_the_virtual_network_is_refused(client: NetworkManagementClient) -> None:
    body = load_balancer(frontends=[internal_frontend("fe")], pools=[pool("nodes", ("8.8.8.8",))])

    error = refused(client, "kube", body)

    assert error.error is not None and error.error.code == "BackendAddressIpAddressNotInVirtualNetwork"


@pytest.mark.parametrize(
    ("limits", "body_size", "what"),
    [
        pytest.param(
            Limits(frontend_ip_configurations_per_lb=2), {"frontends": 3, "rules": 0}, "frontend", id="frontends"
        ),
        pytest.param(Limits(load_balancing_rules_per_lb=2), {"frontends": 1, "rules": 3}, "rules", id="rules"),
    ],
)
def test_load_balancer_limits_are_enforced(limits: Limits, body_size: dict[str, int], what: str) -> None:
    with FakeArm(lro_delay=0, limits=limits) as fake, network_client(fake) as client:
        seed_network(
            fake, resource_group=RG, location=LOCATION, vnet_name=VNET, subnet_name=SUBNET, security_group_name=NSG
        )
        frontends = [internal_frontend(f"fe-{i}") for i in range(body_size["frontends"])]
        rules = [rule("kube", f"r-{i}", frontend="fe-0", port=80 + i) for i in range(body_size["rules"])]
        fits = load_balancer(frontends=frontends[:2], rules=rules[:2])

        error = refused(client, "kube", load_balancer(frontends=frontends, rules=rules))
        create(client, "kube", fits)

    assert error.error is not None and error.error.code == "LoadBalancerLimitExceeded"
    assert what in str(error.error.message)


def test_an_internal_frontend_gets_a_private_address_from_its_subnet_and_keeps_it(
    client: NetworkManagementClient,
) -> None:
    create(
        client,
        "kube-internal",
        load_balancer(frontends=[internal_frontend("a"), internal_frontend("b", ip="10.240.0.4")]),
    )
    first = client.load_balancers.get(RG, "kube-internal")
    body = load_balancer(
        frontends=[internal_frontend("c"), internal_frontend("a"), internal_frontend("b", ip="10.240.0.4")]
    )
    create(client, "kube-internal", body)
    second = client.load_balancers.get(RG, "kube-internal")

    def addresses(lb: Any) -> dict[str, str]:
        return {fe.name: fe.private_ip_address for fe in lb.frontend_ip_configurations}

    # 10.240.0.0-3 are Azure's; the static address is claimed before dynamic ones are handed out.
    assert addresses(first) == {"a": "10.240.0.5", "b": "10.240.0.4"}
    assert addresses(second) == {"a": "10.240.0.5", "b": "10.240.0.4", "c": "10.240.0.6"}
    subnet = client.subnets.get(RG, VNET, SUBNET)
    assert len(subnet.ip_configurations or []) == 3


def test_a_static_private_address_in_use_elsewhere_is_refused(client: NetworkManagementClient) -> None:
    create(client, "one", load_balancer(frontends=[internal_frontend("fe", ip="10.240.0.10")]))

    error = refused(client, "two", load_balancer(frontends=[internal_frontend("fe", ip="10.240.0.10")]))

    assert error.error is not None and error.error.code == "PrivateIPAddressInUse"


def test_a_refused_update_leaves_the_load_balancer_as_it_was(client: NetworkManagementClient) -> None:
    pip = create_public_ip(client, "pip-web")
    before = create(client, "kube", web_lb(pip))
    broken = web_lb(pip, probes=[])  # the rule still names the probe

    refused(client, "kube", broken)
    after = client.load_balancers.get(RG, "kube")

    assert after.etag == before.etag
    assert [p.name for p in after.probes] == ["tcp-30000"]
