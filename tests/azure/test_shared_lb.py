"""One Standard Load Balancer per cluster and scheme, shared by every Service: each Service owns its frontend, rules,
probes and public IP on it, deleting one removes only its parts, and the balancer goes with the last Service."""

from __future__ import annotations

from azure.mgmt.network import NetworkManagementClient

from cloudlb.naming import CLUSTER_TAG
from cloudlb_azure.fake import FakeArm
from cloudlb_azure.provider import AzureProvider
from tests.azure.helpers import CLUSTER, RG, lb, names, pool_ips, service, spec, tags

WEB = spec(service("web", ports=((80, "TCP", 30080), (443, "TCP", 30443))))
API = spec(service("api", ports=((8080, "TCP", 30808),)))
DNS = spec(service("dns", namespace="infra", ports=((53, "UDP", 30053), (53, "TCP", 30054))))


def test_two_then_three_services_share_one_balancer_and_each_owns_its_parts(
    provider: AzureProvider, client: NetworkManagementClient
) -> None:
    statuses = {s.name: provider.ensure(s) for s in (WEB, API)}
    two = lb(client)
    statuses[DNS.name] = provider.ensure(DNS)

    three = lb(client)
    assert [b.name for b in client.load_balancers.list(RG)] == [CLUSTER]
    assert tags(three)[CLUSTER_TAG] == CLUSTER
    bases = {s.name: provider.load_balancer_name(s) for s in (WEB, API, DNS)}
    assert names(two.frontend_ip_configurations) == sorted([bases["web"], bases["api"]])
    assert names(three.frontend_ip_configurations) == sorted(bases.values())
    assert names(three.load_balancing_rules) == sorted(
        [
            f"{bases['web']}-tcp-80",
            f"{bases['web']}-tcp-443",
            f"{bases['api']}-tcp-8080",
            f"{bases['dns']}-udp-53",
            f"{bases['dns']}-tcp-53",
        ]
    )
    assert names(three.backend_address_pools) == ["cloudlb-nodes"]
    assert pool_ips(three, "cloudlb-nodes") == {"10.1.0.1", "10.1.0.2", "10.1.0.3"}
    frontend_ids = {f.name: f.id for f in three.frontend_ip_configurations or []}
    assert {name: status.cloud_id for name, status in statuses.items()} == {
        name: frontend_ids[base] for name, base in bases.items()
    }
    # Each external Service has its own public IP, and reports its address.
    pips = {p.id: p for p in client.public_ip_addresses.list(RG)}
    for frontend in three.frontend_ip_configurations or []:
        service_name = next(n for n, b in bases.items() if b == frontend.name)
        address = pips[frontend.public_ip_address.id].ip_address
        assert statuses[service_name].to_kube() == {"ingress": [{"ip": address}]}
    assert len(pips) == 3


def test_deleting_one_service_removes_only_its_parts(
    provider: AzureProvider, client: NetworkManagementClient, fake: FakeArm
) -> None:
    for s in (WEB, API, DNS):
        provider.ensure(s)
    before = lb(client)
    api_base = provider.load_balancer_name(API)

    assert provider.delete(API) is True

    after = lb(client)
    assert names(after.frontend_ip_configurations) == [
        f for f in names(before.frontend_ip_configurations) if f != api_base
    ]
    assert names(after.load_balancing_rules) == [
        r for r in names(before.load_balancing_rules) if not r.startswith(api_base)
    ]
    assert names(after.probes) == [p for p in names(before.probes) if not p.startswith(api_base)]
    assert pool_ips(after, "cloudlb-nodes") == pool_ips(before, "cloudlb-nodes")
    assert not any(str(p.name).startswith(api_base) for p in client.public_ip_addresses.list(RG))
    assert provider.get(API) is None
    for other in (WEB, DNS):
        status = provider.get(other)
        assert status is not None and status.ingress
    calls = len(fake.writes())
    assert provider.plan(WEB).is_empty and provider.plan(DNS).is_empty
    assert len(fake.writes()) == calls


def test_the_balancer_goes_with_its_last_service(provider: AzureProvider, client: NetworkManagementClient) -> None:
    provider.ensure(WEB)
    provider.ensure(API)

    provider.delete(WEB)
    assert [b.name for b in client.load_balancers.list(RG)] == [CLUSTER]
    provider.delete(API)

    assert list(client.load_balancers.list(RG)) == []
    assert list(client.public_ip_addresses.list(RG)) == []
    assert provider.list_owned(CLUSTER) == []


def test_list_owned_names_every_service_by_its_frontend(provider: AzureProvider) -> None:
    ids = {s.ref: provider.ensure(s).cloud_id for s in (WEB, API, DNS)}

    owned = provider.list_owned(CLUSTER)

    assert {(o.ref, o.cloud_id) for o in owned} == set(ids.items())
    assert {o.cloud_name for o in owned} == {f"{CLUSTER}/{provider.load_balancer_name(s)}" for s in (WEB, API, DNS)}
    assert provider.list_owned("elsewhere") == []


def test_clusters_do_not_share_balancers(provider: AzureProvider, client: NetworkManagementClient) -> None:
    theirs = spec(service("web"), cluster="staging")
    provider.ensure(WEB)
    provider.ensure(theirs)

    assert sorted(str(b.name) for b in client.load_balancers.list(RG)) == [CLUSTER, "staging"]
    provider.delete(WEB)
    assert [b.name for b in client.load_balancers.list(RG)] == ["staging"]
    assert [o.ref for o in provider.list_owned("staging")] == [theirs.ref]
