"""The NLB's safety bars on moto: replacement builds the new balancer first and leaves one; foreign look-alikes get
0 mutating calls; a crash at any mutating call, then a rerun, leaves no duplicate and no orphan; what a crash or an
earlier Service left behind is found by tags and adopted or removed."""

from __future__ import annotations

from typing import Any

import pytest

from cloudlb.errors import CloudLBError, ConflictError
from cloudlb.model import LoadBalancerSpec, Scheme
from cloudlb.naming import CLUSTER_TAG, SERVICE_TAG, UID_TAG
from cloudlb_aws.clients import CallLog
from cloudlb_aws.options import ServiceOptions
from cloudlb_aws.provider import AwsProvider
from tests.aws.helpers import (
    CLUSTER,
    Faults,
    World,
    boto,
    fake_instances,
    node_pool,
    read_nlbs,
    spec,
    target_groups,
    tcp,
)


def web_spec(nodes: list[str], *, ports: tuple[int, ...] = (80,), **fields: Any) -> LoadBalancerSpec:
    listeners = [tcp(port, node_pool(nodes, 30000 + port), node_port=30000 + port) for port in ports]
    return spec(*listeners, **fields)


def assert_converged(web: LoadBalancerSpec) -> None:
    """Exactly one NLB and one target group per port, equal to ``web``."""
    [nlb] = read_nlbs()
    assert sorted(nlb.listeners) == sorted(lst.port for lst in web.listeners)
    for listener in web.listeners:
        assert nlb.targets[listener.port] == {(t.provider_id.rsplit("/", 1)[1], t.port) for t in listener.targets}  # type: ignore[union-attr]
    assert nlb.scheme == ("internal" if web.scheme is Scheme.INTERNAL else "internet-facing")
    assert len(target_groups()) == len(web.listeners)


def test_a_scheme_change_builds_the_new_balancer_before_deleting_the_old(
    provider: AwsProvider, calls: CallLog, world: World
) -> None:
    nodes = fake_instances(3)
    provider.ensure(web_spec(nodes))
    [old] = read_nlbs()
    mark = calls.mark()
    internal = web_spec(nodes, scheme=Scheme.INTERNAL)

    provider.ensure(internal)

    [new] = read_nlbs()
    assert new.arn != old.arn and new.scheme == "internal"
    assert new.subnets == frozenset(world.internal_subnets)
    assert_converged(internal)
    ops = calls.operations(mark, mutating=True)
    new_first = ["CreateTargetGroup", "RegisterTargets", "CreateLoadBalancer", "CreateListener"]
    assert ops == [*new_first, "DeleteLoadBalancer", "DeleteTargetGroup"]
    assert provider.plan(internal).is_empty


def test_a_recreated_service_replaces_what_the_old_one_left(provider: AwsProvider, world: World) -> None:
    nodes = fake_instances(3)
    provider.ensure(web_spec(nodes, uid="uid-old"))

    provider.ensure(web_spec(nodes, uid="uid-new"))

    [nlb] = read_nlbs()
    assert nlb.tags[UID_TAG] == "uid-new"
    assert [tg["Tags"][UID_TAG] for tg in target_groups()] == ["uid-new"]


def _plant(name: str, tg_name: str, tags: dict[str, str], world: World) -> dict[str, str]:
    elbv2 = boto("elbv2")
    tagging = {"Tags": [{"Key": k, "Value": v} for k, v in tags.items()]} if tags else {}
    lb = elbv2.create_load_balancer(
        Name=name, Type="network", Scheme="internet-facing", Subnets=list(world.public_subnets), **tagging
    )["LoadBalancers"][0]["LoadBalancerArn"]
    tg = elbv2.create_target_group(
        Name=tg_name, Protocol="TCP", Port=30080, VpcId=world.vpc_id, TargetType="instance", **tagging
    )["TargetGroups"][0]["TargetGroupArn"]
    elbv2.register_targets(TargetGroupArn=tg, Targets=[{"Id": "i-0000000000000abcd", "Port": 30080}])
    elbv2.create_listener(
        LoadBalancerArn=lb, Protocol="TCP", Port=80, DefaultActions=[{"Type": "forward", "TargetGroupArn": tg}]
    )
    return {"lb": lb, "tg": tg}


def _snapshot(planted: dict[str, str]) -> object:
    elbv2 = boto("elbv2")
    return (
        elbv2.describe_load_balancers(LoadBalancerArns=[planted["lb"]])["LoadBalancers"],
        elbv2.describe_listeners(LoadBalancerArn=planted["lb"])["Listeners"],
        elbv2.describe_target_groups(TargetGroupArns=[planted["tg"]])["TargetGroups"],
        elbv2.describe_target_health(TargetGroupArn=planted["tg"])["TargetHealthDescriptions"],
        elbv2.describe_tags(ResourceArns=[planted["lb"], planted["tg"]])["TagDescriptions"],
        elbv2.describe_target_group_attributes(TargetGroupArn=planted["tg"])["Attributes"],
    )


@pytest.mark.parametrize(
    "tags",
    [
        pytest.param({CLUSTER_TAG: "other", SERVICE_TAG: "default/web", UID_TAG: "uid-1"}, id="other-cluster"),
        pytest.param({CLUSTER_TAG: CLUSTER, SERVICE_TAG: "default/other", UID_TAG: "x"}, id="other-service"),
        pytest.param({}, id="untagged"),
    ],
)
def test_a_foreign_lookalike_gets_no_mutating_call(
    provider: AwsProvider, calls: CallLog, world: World, tags: dict[str, str]
) -> None:
    web = web_spec(fake_instances(3))
    [group] = provider.nlb.desired(web, ServiceOptions.parse(web, provider.options)).target_groups
    planted = _plant(provider.load_balancer_name(web), group.name, tags, world)
    before = _snapshot(planted)

    assert provider.get(web) is None
    assert provider.delete(web) is False
    assert not provider.plan(web).is_empty  # it would create ours: the look-alike is not ours
    with pytest.raises(ConflictError, match="never adopts"):
        provider.ensure(web)
    owned = provider.list_owned(CLUSTER)

    assert calls.count(mutating=True) == 0
    assert _snapshot(planted) == before
    # Listed for gc only under the Service its tags name, which is not this one.
    assert [(o.namespace, o.name) for o in owned] == (
        [("default", "other")] if tags.get(CLUSTER_TAG) == CLUSTER else []
    )


def test_a_foreign_balancer_of_another_name_is_left_alone_beside_ours(
    provider: AwsProvider, calls: CallLog, world: World
) -> None:
    tags = {CLUSTER_TAG: "other", SERVICE_TAG: "default/web", UID_TAG: "uid-1"}
    planted = _plant("their-web", "their-web-tg", tags, world)
    before = _snapshot(planted)
    web = web_spec(fake_instances(3))

    provider.ensure(web)
    provider.ensure(web)
    provider.delete(web)

    assert _snapshot(planted) == before
    assert planted["lb"] not in {c.params.get("LoadBalancerArn") for c in calls.since() if c.mutating}
    assert planted["tg"] not in {c.params.get("TargetGroupArn") for c in calls.since() if c.mutating}


# Where a crashed ensure starts from: nothing, an older shape to converge from, or a scheme to replace.
STARTS = [
    pytest.param(None, id="while-creating"),
    pytest.param({"ports": (80, 8080)}, id="while-converging"),
    pytest.param({"scheme": Scheme.INTERNAL}, id="while-replacing"),
]


@pytest.mark.parametrize("start", STARTS)
def test_a_crash_at_any_mutating_call_then_a_rerun_converges(
    provider: AwsProvider, world: World, start: dict[str, Any] | None
) -> None:
    faults = Faults(provider.clients)
    older = None if start is None else web_spec(fake_instances(4), **start)
    web = web_spec(fake_instances(5, start=2), ports=(80, 443))

    def begin() -> int:
        if older is not None:
            provider.ensure(older)
        return len(faults.mutating)

    first = begin()
    provider.ensure(web)
    steps = len(faults.mutating) - first
    provider.delete(web)
    assert read_nlbs() == [] and target_groups() == []

    for n in range(1, steps + 1):
        for after in (False, True):
            begin()
            faults.fail_at(n, after=after)
            with pytest.raises(CloudLBError, match="InjectedFailure"):  # the crash: nothing retries a 400
                provider.ensure(web)
            faults.clear()

            provider.ensure(web)

            assert_converged(web)
            assert provider.plan(web).is_empty, f"crash at mutating call {n} ({'after' if after else 'before'})"
            provider.delete(web)
            assert read_nlbs() == [] and target_groups() == []


def test_delete_after_a_crash_while_creating_leaves_nothing(provider: AwsProvider, world: World) -> None:
    faults = Faults(provider.clients)
    web = web_spec(fake_instances(3), ports=(80, 443))
    provider.ensure(web)
    steps = len(faults.mutating)
    provider.delete(web)

    for n in range(1, steps + 1):
        faults.fail_at(n, after=True)
        with pytest.raises(CloudLBError, match="InjectedFailure"):
            provider.ensure(web)
        faults.clear()

        provider.delete(web)

        assert read_nlbs() == [] and target_groups() == [], f"crash after mutating call {n}"


def test_an_orphaned_target_group_of_ours_is_adopted(provider: AwsProvider, calls: CallLog, world: World) -> None:
    web = web_spec(fake_instances(3))
    plan = provider.plan(web)
    [group_name] = [change.name for change in plan if change.resource == "target-group"]
    tags = [{"Key": CLUSTER_TAG, "Value": CLUSTER}, {"Key": SERVICE_TAG, "Value": "default/web"}]
    boto("elbv2").create_target_group(
        Name=group_name, Protocol="TCP", Port=30080, VpcId=world.vpc_id, TargetType="instance", Tags=tags
    )
    mark = calls.mark()

    provider.ensure(web)

    assert "CreateTargetGroup" not in calls.operations(mark)
    assert_converged(web)


def test_an_orphaned_target_group_no_port_wants_is_deleted(provider: AwsProvider, world: World) -> None:
    web = web_spec(fake_instances(3))
    provider.ensure(web)
    tags = [{"Key": CLUSTER_TAG, "Value": CLUSTER}, {"Key": SERVICE_TAG, "Value": "default/web"}]
    boto("elbv2").create_target_group(
        Name="left-by-a-crash", Protocol="TCP", Port=30099, VpcId=world.vpc_id, TargetType="instance", Tags=tags
    )

    provider.ensure(web)

    assert_converged(web)
    assert "left-by-a-crash" not in {tg["TargetGroupName"] for tg in target_groups()}
