"""Every NLB call counted: create, no-op, churn, update_targets and delete make exactly the calls they promise.

The provider here manages no security groups and has no classic backend, so the counts are the NLB's alone (the
security-group and classic tests count theirs). Targets are instance ids moto registers without an instance.
"""

from __future__ import annotations

import math

import pytest

from cloudlb.model import Listener, LoadBalancerSpec
from cloudlb_aws.clients import CallLog
from cloudlb_aws.provider import AwsProvider
from tests.aws.helpers import World, fake_instances, node_pool, read_nlbs, spec, tcp

OBSERVE = ["DescribeLoadBalancers", "DescribeTargetGroups", "DescribeTags"]


def ports_spec(nodes: list[str], ports: int = 1) -> LoadBalancerSpec:
    listeners: list[Listener] = [tcp(80 + p, node_pool(nodes, 30000 + p), node_port=30000 + p) for p in range(ports)]
    return spec(*listeners)


@pytest.mark.parametrize("targets", [pytest.param(3, id="3-targets"), pytest.param(450, id="450-targets")])
def test_create_costs_one_call_per_resource_and_ceil_n_over_200_registers(
    provider: AwsProvider, calls: CallLog, world: World, targets: int
) -> None:
    web = ports_spec(fake_instances(targets), ports=2)

    provider.ensure(web)

    registers = math.ceil(targets / 200)
    group = ["CreateTargetGroup", *["RegisterTargets"] * registers]
    assert calls.operations(mutating=True) == [*group, *group, "CreateLoadBalancer", "CreateListener", "CreateListener"]
    # Nothing to tag-read in an empty region; the subnets are discovered once.
    assert calls.operations(mutating=False) == ["DescribeLoadBalancers", "DescribeTargetGroups", "DescribeSubnets"]
    assert all(len(c.params["Targets"]) <= 200 for c in calls.since() if c.operation == "RegisterTargets")
    [nlb] = read_nlbs(web)
    assert sorted(nlb.listeners) == [80, 81]
    assert all(len(pool) == targets for pool in nlb.targets.values())


@pytest.mark.parametrize("ports", [1, 3])
def test_a_second_ensure_makes_no_mutating_call_and_a_fixed_set_of_reads(
    provider: AwsProvider, calls: CallLog, world: World, ports: int
) -> None:
    web = ports_spec(fake_instances(5), ports=ports)
    provider.ensure(web)
    mark = calls.mark()

    assert provider.plan(web).is_empty
    provider.ensure(web)

    per_group = ["DescribeTargetGroupAttributes", "DescribeTargetHealth"] * ports
    expected = [*OBSERVE, "DescribeListeners", *per_group]
    assert calls.operations(mark) == expected + expected  # plan, then ensure: 4 + 2P reads each
    assert calls.operations(mark, mutating=True) == []


@pytest.mark.parametrize(
    ("pool", "changed"),
    [
        pytest.param(10, 1, id="1-of-10"),
        pytest.param(1000, 200, id="200-of-1000"),
        pytest.param(1000, 201, id="201-of-1000"),
        pytest.param(1000, 450, id="450-of-1000"),
        pytest.param(400, 400, id="all-400"),
    ],
)
def test_churn_of_k_targets_registers_then_deregisters_in_batches_of_200(
    provider: AwsProvider, calls: CallLog, world: World, pool: int, changed: int
) -> None:
    before = fake_instances(pool)
    after = before[changed:] + fake_instances(changed, start=pool)
    provider.ensure(spec(tcp(80, node_pool(before, 30080), node_port=30080)))
    mark = calls.mark()
    new = spec(tcp(80, node_pool(after, 30080), node_port=30080))

    provider.ensure(new)

    batches = math.ceil(changed / 200)
    assert calls.operations(mark, mutating=True) == ["RegisterTargets"] * batches + ["DeregisterTargets"] * batches
    made = [c for c in calls.since(mark) if c.mutating]
    registered = {t["Id"] for c in made if c.operation == "RegisterTargets" for t in c.params["Targets"]}
    deregistered = {t["Id"] for c in made if c.operation == "DeregisterTargets" for t in c.params["Targets"]}
    assert registered == set(after) - set(before)
    assert deregistered == set(before) - set(after)
    assert all(len(c.params["Targets"]) <= 200 for c in made)
    assert read_nlbs(new)[0].targets[80] == {(i, 30080) for i in after}


def test_churn_on_two_ports_costs_per_target_group(provider: AwsProvider, calls: CallLog, world: World) -> None:
    before, after = fake_instances(300), fake_instances(300, start=50)
    provider.ensure(ports_spec(before, ports=2))
    mark = calls.mark()

    provider.ensure(ports_spec(after, ports=2))

    # 50 added and 50 removed per group: one register and one deregister each, every register first.
    ops = calls.operations(mark, mutating=True)
    assert sorted(ops) == ["DeregisterTargets"] * 2 + ["RegisterTargets"] * 2
    per_group: dict[str, list[str]] = {}
    for call in calls.since(mark):
        if call.mutating:
            per_group.setdefault(call.params["TargetGroupArn"], []).append(call.operation)
    assert list(per_group.values()) == [["RegisterTargets", "DeregisterTargets"]] * 2


def test_update_targets_reads_only_the_pools_and_changes_only_targets(
    provider: AwsProvider, calls: CallLog, world: World
) -> None:
    before, after = fake_instances(10), fake_instances(10, start=3)
    provider.ensure(ports_spec(before, ports=2))
    mark = calls.mark()

    provider.update_targets(ports_spec(after, ports=2))

    assert calls.operations(mark, mutating=False) == [*OBSERVE, "DescribeTargetHealth", "DescribeTargetHealth"]
    assert calls.operations(mark, mutating=True) == ["RegisterTargets", "DeregisterTargets"] * 2
    [nlb] = read_nlbs()
    assert all(pool == {(i, 30000 + p) for i in after} for p, pool in enumerate(nlb.targets.values()))


def test_delete_costs_one_call_per_balancer_and_target_group(
    provider: AwsProvider, calls: CallLog, world: World
) -> None:
    web = ports_spec(fake_instances(5), ports=3)
    provider.ensure(web)
    mark = calls.mark()

    assert provider.delete(web) is True

    assert calls.operations(mark, mutating=False) == OBSERVE
    assert calls.operations(mark, mutating=True) == ["DeleteLoadBalancer", *["DeleteTargetGroup"] * 3]
    assert read_nlbs() == []


def test_observing_reads_tags_of_this_services_resources_only_once_warm(
    provider: AwsProvider, calls: CallLog, world: World
) -> None:
    others = [spec(tcp(80, node_pool(fake_instances(2), 30080), node_port=30080), name=f"svc-{n}") for n in range(11)]
    for other in others:
        provider.ensure(other)
    web = ports_spec(fake_instances(3))
    provider.ensure(web)
    mark = calls.mark()

    provider.ensure(web)

    # 12 balancers and 12 groups in the region (more than one DescribeTags takes), yet one call, for this Service's two.
    [tags] = [c for c in calls.since(mark) if c.operation == "DescribeTags"]
    assert len(tags.params["ResourceArns"]) == 2
    assert calls.operations(mark, mutating=True) == []
