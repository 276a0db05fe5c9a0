"""Members change with Octavia's batch update: one PUT per pool whose member set differs, none otherwise."""

from __future__ import annotations

import pytest
from openstack.connection import Connection

from cloudlb.errors import NotFoundError
from cloudlb_openstack.fake import FakeOpenStack
from cloudlb_openstack.provider import OpenStackProvider
from tests.openstack.helpers import endpoints, make_spec, node_ip, only_lb, tree, writes

BATCH = r"/lbaas/pools/[^/]+/members$"
TWO = (("TCP", 80), ("UDP", 53))


@pytest.mark.parametrize(
    ("before", "after"),
    [
        pytest.param(range(10), range(1, 11), id="replace-1-of-10"),
        pytest.param(range(20), range(20, 40), id="replace-all-20"),
        pytest.param(range(3), range(30), id="add-27"),
        pytest.param(range(30), range(5), id="remove-25"),
        pytest.param(range(3), (), id="remove-all"),
    ],
)
def test_a_member_change_is_one_batch_put_per_pool(
    cloud: FakeOpenStack, provider: OpenStackProvider, conn: Connection, before: range, after: range
) -> None:
    provider.ensure(make_spec(ports=TWO, nodes=before))
    start, puts = writes(cloud), cloud.count("PUT", BATCH)

    provider.ensure(make_spec(ports=TWO, nodes=after))

    assert cloud.count("PUT", BATCH) - puts == 2  # one per pool
    assert writes(cloud) - start == 2  # and nothing else: no member POST or DELETE
    ports = tree(conn, only_lb(conn).id)
    assert endpoints(ports[("TCP", 80)].members) == {(node_ip(n), 30000) for n in after}
    assert endpoints(ports[("UDP", 53)].members) == {(node_ip(n), 30001) for n in after}
    again = writes(cloud)
    provider.ensure(make_spec(ports=TWO, nodes=after))
    assert writes(cloud) == again


def test_a_thousand_targets_are_one_call(cloud: FakeOpenStack, provider: OpenStackProvider, conn: Connection) -> None:
    provider.ensure(make_spec(nodes=range(10)))
    puts = cloud.count("PUT", BATCH)

    provider.ensure(make_spec(nodes=range(1000)))

    assert cloud.count("PUT", BATCH) - puts == 1
    [found] = tree(conn, only_lb(conn).id).values()
    assert len(found.members) == 1000
    assert endpoints(found.members) == {(node_ip(n), 30000) for n in range(1000)}


def test_update_targets_changes_only_the_members(
    cloud: FakeOpenStack, provider: OpenStackProvider, conn: Connection
) -> None:
    provider.ensure(make_spec(ports=TWO, annotations={"cloudlb.io/tags": "team=a"}))
    start = writes(cloud)
    changed = make_spec(ports=TWO, nodes=range(2, 6), annotations={"cloudlb.io/tags": "team=b"})

    provider.update_targets(changed)

    assert writes(cloud) - start == cloud.count("PUT", BATCH) - 2 == 2
    lb = only_lb(conn)
    assert "team=a" in lb.tags  # tags are ensure's business
    assert {frozenset(endpoints(p.members)) for p in tree(conn, lb.id).values()} == {
        frozenset((node_ip(n), 30000) for n in range(2, 6)),
        frozenset((node_ip(n), 30001) for n in range(2, 6)),
    }


def test_update_targets_before_ensure_is_not_found(cloud: FakeOpenStack, provider: OpenStackProvider) -> None:
    with pytest.raises(NotFoundError, match="ensure it first"):
        provider.update_targets(make_spec())

    assert writes(cloud) == 0
