"""The request log tests count calls with, and the injected write failures crash tests rely on."""

from __future__ import annotations

import pytest
from azure.core.exceptions import HttpResponseError
from azure.mgmt.network import NetworkManagementClient, models

from cloudlb_azure.fake import FakeArm
from tests.azure.fake.builders import RG, internal_frontend, load_balancer, pool


def test_the_log_counts_one_write_per_put_and_none_for_reads_and_polls(
    client: NetworkManagementClient, fake: FakeArm
) -> None:
    fake.clear_requests()
    body = load_balancer(frontends=[internal_frontend("fe")], pools=[pool("nodes", ("10.1.0.1",))])
    client.load_balancers.begin_create_or_update(RG, "kube", body).result()
    client.load_balancers.get(RG, "kube")
    client.load_balancer_backend_address_pools.begin_create_or_update(
        RG, "kube", "nodes", models.BackendAddressPool(pool("nodes", ("10.1.0.1", "10.1.0.2")))
    ).result()

    writes = fake.writes()
    polls = [r for r in fake.requests if "/operations/" in r.path]

    assert [(w.method, w.path.rsplit("/", 2)[-2], w.status) for w in writes] == [
        ("PUT", "loadBalancers", 201),
        ("PUT", "backendAddressPools", 200),
    ]
    assert len(polls) >= 2
    assert all(r.method == "GET" for r in fake.requests if not r.is_write)
    assert writes[1].body == pool("nodes", ("10.1.0.1", "10.1.0.2"))


def test_the_log_records_the_if_match_sent(client: NetworkManagementClient, fake: FakeArm) -> None:
    client.load_balancers.begin_create_or_update(
        RG, "kube", load_balancer(frontends=[internal_frontend("fe")])
    ).result()
    etag = client.load_balancers.get(RG, "kube").etag
    fake.clear_requests()

    client.load_balancers.begin_delete(RG, "kube", headers={"If-Match": etag}).result()

    (delete,) = fake.writes()
    assert (delete.method, delete.status, delete.if_match) == ("DELETE", 202, etag)


def test_an_injected_failure_before_the_write_leaves_nothing_behind(
    client: NetworkManagementClient, fake: FakeArm
) -> None:
    fake.fail_write(1, status=400, code="InjectedFailure")

    with pytest.raises(HttpResponseError) as caught:
        client.load_balancers.begin_create_or_update(
            RG, "kube", load_balancer(frontends=[internal_frontend("fe")])
        ).result()
    client.load_balancers.begin_create_or_update(
        RG, "kube", load_balancer(frontends=[internal_frontend("fe")])
    ).result()

    assert caught.value.error is not None and caught.value.error.code == "InjectedFailure"
    assert [lb.name for lb in client.load_balancers.list(RG)] == ["kube"]


def test_an_injected_failure_after_the_write_loses_only_the_response(
    client: NetworkManagementClient, fake: FakeArm
) -> None:
    client.load_balancers.begin_create_or_update(
        RG, "kube", load_balancer(frontends=[internal_frontend("fe")])
    ).result()
    fake.fail_write(2, after=True, status=400, code="InjectedFailure")

    client.load_balancers.update_tags(RG, "kube", {"tags": {"first": "write"}})
    with pytest.raises(HttpResponseError):
        client.load_balancers.update_tags(RG, "kube", {"tags": {"second": "write"}})

    assert client.load_balancers.get(RG, "kube").tags == {"second": "write"}
    assert [w.status for w in fake.writes()][-2:] == [200, 400]
