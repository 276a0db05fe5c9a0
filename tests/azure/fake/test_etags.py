"""ETags: a new one on every write (a child's write included, since a child's ETag is its parent's), and 412
PreconditionFailed for a stale If-Match or an If-None-Match: * on something that exists."""

from __future__ import annotations

import threading
from typing import Any

import pytest
from azure.core.exceptions import HttpResponseError
from azure.mgmt.network import NetworkManagementClient, models

from tests.azure.fake.builders import RG, internal_frontend, load_balancer, pool


def create_lb(client: NetworkManagementClient, **kwargs: Any) -> Any:
    body = load_balancer(frontends=[internal_frontend("fe")], pools=[pool("nodes", ("10.1.0.1",))])
    return client.load_balancers.begin_create_or_update(RG, "kube", body, **kwargs).result()


def precondition_failed(call: Any) -> None:
    with pytest.raises(HttpResponseError) as caught:
        call()
    assert caught.value.status_code == 412
    assert caught.value.error is not None and caught.value.error.code == "PreconditionFailed"


def test_every_write_changes_the_etag(client: NetworkManagementClient) -> None:
    first = create_lb(client).etag
    second = client.load_balancers.update_tags(RG, "kube", {"tags": {"a": "b"}}).etag
    pool_write = client.load_balancer_backend_address_pools.begin_create_or_update(
        RG, "kube", "nodes", models.BackendAddressPool(pool("nodes", ("10.1.0.2",)))
    ).result()
    third = client.load_balancers.get(RG, "kube").etag

    assert len({first, second, third}) == 3
    assert pool_write.etag == third
    assert all(e is not None and e.startswith('W/"') for e in (first, second, third))


def test_a_read_does_not_change_the_etag(client: NetworkManagementClient) -> None:
    created = create_lb(client)

    assert client.load_balancers.get(RG, "kube").etag == created.etag


def test_a_put_with_the_current_etag_succeeds_and_a_stale_one_is_refused(client: NetworkManagementClient) -> None:
    read = create_lb(client)
    read.tags = {"writer": "first"}
    updated = client.load_balancers.begin_create_or_update(RG, "kube", read, headers={"If-Match": read.etag}).result()
    read.tags = {"writer": "second"}

    precondition_failed(
        lambda: client.load_balancers.begin_create_or_update(RG, "kube", read, headers={"If-Match": read.etag}).result()
    )

    after = client.load_balancers.get(RG, "kube")
    assert after.tags == {"writer": "first"}
    assert after.etag == updated.etag != read.etag


def test_if_none_match_star_creates_once_and_then_refuses(client: NetworkManagementClient) -> None:
    create_lb(client, headers={"If-None-Match": "*"})

    precondition_failed(lambda: create_lb(client, headers={"If-None-Match": "*"}))


def test_if_match_on_something_missing_is_refused(client: NetworkManagementClient) -> None:
    precondition_failed(lambda: create_lb(client, headers={"If-Match": "*"}))

    assert list(client.load_balancers.list(RG)) == []


def test_a_child_write_is_checked_against_its_parents_etag(client: NetworkManagementClient) -> None:
    stale = create_lb(client).etag
    client.load_balancers.update_tags(RG, "kube", {"tags": {"moved": "on"}})
    current = client.load_balancers.get(RG, "kube").etag

    precondition_failed(
        lambda: client.load_balancer_backend_address_pools.begin_create_or_update(
            RG, "kube", "nodes", models.BackendAddressPool(pool("nodes")), headers={"If-Match": stale}
        ).result()
    )
    client.load_balancer_backend_address_pools.begin_create_or_update(
        RG, "kube", "nodes", models.BackendAddressPool(pool("nodes")), headers={"If-Match": current}
    ).result()

    (read_pool,) = client.load_balancers.get(RG, "kube").backend_address_pools
    assert read_pool.load_balancer_backend_addresses == []


def test_a_delete_with_a_stale_etag_is_refused(client: NetworkManagementClient) -> None:
    stale = create_lb(client).etag
    client.load_balancers.update_tags(RG, "kube", {"tags": {"moved": "on"}})

    precondition_failed(lambda: client.load_balancers.begin_delete(RG, "kube", headers={"If-Match": stale}).result())

    assert client.load_balancers.get(RG, "kube").name == "kube"


def test_concurrent_read_modify_writes_with_if_match_lose_no_update(client: NetworkManagementClient) -> None:
    """The shared-LB pattern: read, add a frontend, PUT with If-Match, and on 412 start over. Both writers land."""
    create_lb(client)
    conflicts: list[str] = []
    barrier = threading.Barrier(2)

    def add_frontend(name: str) -> None:
        first = True
        while True:
            lb = client.load_balancers.get(RG, "kube")
            if first:  # both writers read the same ETag before either writes
                barrier.wait()
                first = False
            added = models.FrontendIPConfiguration(internal_frontend(name))
            lb.frontend_ip_configurations = [*(lb.frontend_ip_configurations or []), added]
            try:
                client.load_balancers.begin_create_or_update(RG, "kube", lb, headers={"If-Match": lb.etag}).result()
                return
            except HttpResponseError as exc:
                assert exc.status_code == 412
                conflicts.append(name)

    threads = [threading.Thread(target=add_frontend, args=(name,)) for name in ("svc-a", "svc-b")]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)

    names = sorted(fe.name or "" for fe in client.load_balancers.get(RG, "kube").frontend_ip_configurations or [])
    assert names == ["fe", "svc-a", "svc-b"]
    assert len(conflicts) == 1
