"""Backend pools: node mode shares the cluster's one IP-based pool (node InternalIPs in the vnet), pod mode gives
each Service its own; membership is written only when the set differs, in one PUT of the pool."""

from __future__ import annotations

import pytest
from azure.mgmt.network import NetworkManagementClient

from cloudlb.errors import InvalidSpecError, NotFoundError
from cloudlb_azure.fake import FakeArm
from cloudlb_azure.provider import AzureProvider
from tests.azure.helpers import VNET, endpoint_slice, lb, names, nodes, pool_ips, service, spec, writes

POD = {"cloudlb.io/target-type": "pod"}


def test_node_mode_services_share_one_ip_based_pool(provider: AzureProvider, client: NetworkManagementClient) -> None:
    web = spec(service("web", ports=((80, "TCP", 30080),)), node_list=nodes(1, 2))
    api = spec(service("api", ports=((81, "TCP", 30081),)), node_list=nodes(1, 2))
    provider.ensure(web)
    provider.ensure(api)

    balancer = lb(client)
    assert names(balancer.backend_address_pools) == ["cloudlb-nodes"]
    (pool,) = balancer.backend_address_pools or []
    addresses = pool.load_balancer_backend_addresses or []
    assert {a.ip_address for a in addresses} == {"10.1.0.1", "10.1.0.2"}
    assert all(a.virtual_network is not None and str(a.virtual_network.id).endswith(f"/{VNET}") for a in addresses)
    by_name = {r.name: r for r in balancer.load_balancing_rules or []}
    web_rule = by_name[f"{provider.load_balancer_name(web)}-tcp-80"]
    api_rule = by_name[f"{provider.load_balancer_name(api)}-tcp-81"]
    assert (web_rule.backend_port, api_rule.backend_port) == (30080, 30081)  # each Service's nodePort
    assert web_rule.backend_address_pool.id == api_rule.backend_address_pool.id == pool.id
    assert [p.id for p in web_rule.backend_address_pools or []] == [pool.id]


def test_pod_mode_gives_each_service_its_own_pool(provider: AzureProvider, client: NetworkManagementClient) -> None:
    web = spec(service("web", annotations=POD), slices=[endpoint_slice("web", ["10.2.0.1", "10.2.0.2"])])
    api = spec(service("api", annotations=POD), slices=[endpoint_slice("api", ["10.2.1.1"], port=9090)])
    provider.ensure(web)
    provider.ensure(api)

    balancer = lb(client)
    web_base, api_base = provider.load_balancer_name(web), provider.load_balancer_name(api)
    assert names(balancer.backend_address_pools) == sorted([web_base, api_base])
    assert pool_ips(balancer, web_base) == {"10.2.0.1", "10.2.0.2"}
    assert pool_ips(balancer, api_base) == {"10.2.1.1"}
    by_name = {r.name: r for r in balancer.load_balancing_rules or []}
    assert by_name[f"{api_base}-tcp-80"].backend_port == 9090  # the pods' port


def test_switching_a_service_to_pod_mode_removes_the_unused_node_pool(
    provider: AzureProvider, client: NetworkManagementClient
) -> None:
    provider.ensure(spec(service("web")))
    pods = spec(service("web", annotations=POD), slices=[endpoint_slice("web", ["10.2.0.1"])])

    provider.ensure(pods)

    assert names(lb(client).backend_address_pools) == [provider.load_balancer_name(pods)]
    assert provider.plan(pods).is_empty


@pytest.mark.parametrize(
    ("before", "after", "pool"),
    [
        pytest.param((1, 2, 3), (1, 2, 3, 4), "cloudlb-nodes", id="node-joins"),
        pytest.param((1, 2, 3), (2, 3), "cloudlb-nodes", id="node-leaves"),
        pytest.param((1, 2, 3), (4, 5, 6), "cloudlb-nodes", id="all-replaced"),
    ],
)
def test_a_membership_change_costs_one_pool_put(
    provider: AzureProvider,
    client: NetworkManagementClient,
    fake: FakeArm,
    before: tuple[int, ...],
    after: tuple[int, ...],
    pool: str,
) -> None:
    provider.ensure(spec(node_list=nodes(*before)))
    start = len(fake.requests)
    changed = spec(node_list=nodes(*after))

    plan = provider.plan(changed)
    provider.ensure(changed)

    assert writes(fake, start) == [("PUT", f"backendAddressPools/{pool}")]
    [change] = plan.changes
    assert set(change.added) == {f"10.1.0.{i}" for i in set(after) - set(before)}
    assert set(change.removed) == {f"10.1.0.{i}" for i in set(before) - set(after)}
    assert pool_ips(lb(client), pool) == {f"10.1.0.{i}" for i in after}


def test_one_services_node_set_moves_the_shared_pool_for_all(
    provider: AzureProvider, client: NetworkManagementClient
) -> None:
    """Every node-mode Service of a cluster sees the same nodes; whichever is synced first moves the pool."""
    web = spec(service("web", ports=((80, "TCP", 30080),)), node_list=nodes(1, 2))
    api = spec(service("api", ports=((81, "TCP", 30081),)), node_list=nodes(1, 2))
    provider.ensure(web)
    provider.ensure(api)

    provider.update_targets(spec(service("api", ports=((81, "TCP", 30081),)), node_list=nodes(1, 2, 3)))

    assert pool_ips(lb(client), "cloudlb-nodes") == {"10.1.0.1", "10.1.0.2", "10.1.0.3"}
    assert provider.plan(spec(service("web", ports=((80, "TCP", 30080),)), node_list=nodes(1, 2, 3))).is_empty


def test_update_targets_writes_only_the_pool(provider: AzureProvider, fake: FakeArm) -> None:
    provider.ensure(spec(service("web")))
    start = len(fake.requests)
    changed = spec(service("web", annotations={"cloudlb.io/tags": "team=b"}), node_list=nodes(1, 2, 3, 4))

    provider.update_targets(changed)

    assert writes(fake, start) == [("PUT", "backendAddressPools/cloudlb-nodes")]
    start = len(fake.requests)
    provider.update_targets(changed)
    assert writes(fake, start) == []
    assert [c.resource for c in provider.plan(changed)] == ["tags"]  # left for ensure


def test_update_targets_before_ensure_is_refused_without_a_write(provider: AzureProvider, fake: FakeArm) -> None:
    with pytest.raises(NotFoundError):
        provider.update_targets(spec())
    assert fake.writes() == []


def test_pod_ports_of_one_service_need_the_same_pods(provider: AzureProvider, fake: FakeArm) -> None:
    svc = service("web", annotations=POD, ports=((80, "TCP", 30080), (443, "TCP", 30443)))
    svc["spec"]["ports"][1]["targetPort"] = 8080  # both ports to the same pod port: two rules, one backend port
    with pytest.raises(InvalidSpecError, match="same pod port"):
        provider.plan(spec(svc, slices=[endpoint_slice("web", ["10.2.0.1"])]))
    assert fake.requests == []
