"""The classic ELB replaced and removed safely on moto: a scheme change and a type change (NLB <-> classic ELB) build
the new balancer first and leave nothing of the old; a crash at any call is rerun without leak; gc removes what a
cluster owns; a look-alike of another cluster gets no call; unmanaged groups are the annotation's."""

from __future__ import annotations

import boto3
import pytest

from cloudlb.errors import CloudLBError, ConflictError
from cloudlb.model import Scheme
from cloudlb.naming import CLUSTER_TAG, SERVICE_TAG
from cloudlb_aws.clients import CallLog
from cloudlb_aws.provider import AwsProvider
from tests.aws import _part3_fixtures as fx
from tests.aws._part3_fixtures import (
    TYPE,
    NodeNet,
    clb,
    groups_of,
    instances_of,
    mutating,
    read_classic,
    rules_of,
    snapshot,
)
from tests.aws.helpers import REGION, Faults, World, read_nlbs, target_groups

pytestmark = pytest.mark.usefixtures("shared_botocore_loader")
shared_botocore_loader = fx.shared_botocore_loader
node_net = fx.node_net
sg_provider = fx.sg_provider
sg_calls = fx.sg_calls


def test_a_scheme_change_creates_the_new_balancer_before_deleting_the_old(
    sg_provider: AwsProvider, node_net: NodeNet, sg_calls: CallLog
) -> None:
    before = snapshot()
    sg_provider.ensure(clb(node_net, 80))
    [old] = read_classic()
    s = clb(node_net, 80, scheme=Scheme.INTERNAL)
    mark = sg_calls.mark()

    sg_provider.ensure(s)

    made = mutating(sg_calls, mark)
    assert made.index("CreateLoadBalancer") < made.index("DeleteLoadBalancer")
    [new] = read_classic()
    assert new["Scheme"] == "internal" and new["LoadBalancerName"] != old["LoadBalancerName"]
    assert new["SecurityGroups"] == old["SecurityGroups"], "the Service's group serves its new balancer too"
    sg_provider.delete(s)
    assert snapshot() == before


@pytest.mark.parametrize("first", ["nlb", "clb"])
def test_a_type_change_replaces_the_balancer_new_first_and_leaves_nothing_of_the_old(
    sg_provider: AwsProvider, node_net: NodeNet, sg_calls: CallLog, first: str
) -> None:
    before = snapshot()
    old = clb(node_net, 80, source_ranges=("10.1.0.0/16",), annotations={TYPE: first})
    sg_provider.ensure(old)
    second = "clb" if first == "nlb" else "nlb"
    new = clb(node_net, 80, source_ranges=("10.1.0.0/16",), annotations={TYPE: second})
    old_groups = {g["GroupId"] for g in groups_of(old)}
    mark = sg_calls.mark()

    status = sg_provider.ensure(new)

    ops = [(c.service, c.operation) for c in sg_calls.since(mark) if c.mutating]
    created = ops.index(("elb" if second == "clb" else "elbv2", "CreateLoadBalancer"))
    deleted = ops.index(("elbv2" if second == "clb" else "elb", "DeleteLoadBalancer"))
    assert created < deleted, "the new balancer stands before the old one goes"
    classic, nlbs = read_classic(), read_nlbs()
    assert (len(classic), len(nlbs)) == ((1, 0) if second == "clb" else (0, 1))
    assert len(target_groups()) == (0 if second == "clb" else 1)
    [group] = groups_of(new)
    assert group["GroupId"] not in old_groups and group["Tags"]["cloudlb.io/role"] == f"{second}-frontend"
    assert all(old_gid not in (g, src) for old_gid in old_groups for g, _, _, src in rules_of())
    assert status.cloud_name == sg_provider.load_balancer_name(new)
    mark = sg_calls.mark()
    sg_provider.ensure(new)
    assert mutating(sg_calls, mark) == []
    sg_provider.delete(new)
    assert snapshot() == before and read_classic() == [] and read_nlbs() == []


def test_a_look_alike_of_another_cluster_gets_no_call(
    sg_provider: AwsProvider, node_net: NodeNet, world: World, sg_calls: CallLog
) -> None:
    s = clb(node_net, 80)
    name = sg_provider.load_balancer_name(s)
    elb = boto3.client("elb", region_name=REGION)
    listener = [{"Protocol": "TCP", "LoadBalancerPort": 80, "InstancePort": 30080}]
    tags = [{"Key": CLUSTER_TAG, "Value": "other"}, {"Key": SERVICE_TAG, "Value": "default/web"}]
    elb.create_load_balancer(LoadBalancerName=name, Listeners=listener, Subnets=[world.public_subnets[0]], Tags=tags)
    look_alike = read_classic()

    with pytest.raises(ConflictError, match="held by a classic ELB without this Service's tags"):
        sg_provider.ensure(s)
    assert sg_provider.delete(s) is False
    assert sg_provider.list_owned("test") == []

    assert mutating(sg_calls, 0) == []
    assert read_classic() == look_alike


def test_a_crash_at_any_mutating_call_then_a_rerun_and_a_delete_leave_no_leak(
    sg_provider: AwsProvider, node_net: NodeNet
) -> None:
    """Each crash lets the call take effect and loses its answer: the state a crash before the next call leaves."""
    before = snapshot()
    faults = Faults(sg_provider.clients)
    mark = sg_provider.clients.log.mark()
    sg_provider.ensure(clb(node_net, 80, name="probe", source_ranges=("10.1.0.0/16",)))
    made = sg_provider.clients.log.operations(mark, mutating=True)
    sg_provider.delete(clb(node_net, 80, name="probe"))
    assert {"CreateSecurityGroup", "CreateLoadBalancer", "RegisterInstancesWithLoadBalancer"} <= set(made)
    for n in range(1, len(made) + 1):
        s = clb(node_net, 80, name=f"crash{n}", source_ranges=("10.1.0.0/16",))
        faults.fail_at(n, after=True)
        with pytest.raises(CloudLBError):
            sg_provider.ensure(s)
        faults.clear()
        sg_provider.ensure(s)
        where = f"crash after {made[n - 1]} (call {n})"
        [lb] = read_classic(s)
        assert instances_of(lb) == set(node_net.instances), where
        assert lb["HealthCheck"]["Target"] == "TCP:30080", where
        [group] = groups_of(s, "clb-frontend")
        assert lb["SecurityGroups"] == [group["GroupId"]], where
        sg_provider.delete(s)
        assert snapshot() == before and read_classic() == [], where


def test_gc_deletes_an_owned_classic_elb_and_its_groups(sg_provider: AwsProvider, node_net: NodeNet) -> None:
    before = snapshot()
    sg_provider.ensure(clb(node_net, 80, source_ranges=("10.1.0.0/16",)))
    [owned] = sg_provider.list_owned("test")

    assert sg_provider.delete(owned) is True

    assert read_classic() == [] and snapshot() == before


def test_unmanaged_groups_put_the_annotations_groups_on_the_balancer(node_net: NodeNet) -> None:
    provider = fx.make_sg_provider(manage_security_groups=False)
    before = snapshot()
    annotations = {"service.beta.kubernetes.io/aws-load-balancer-security-groups": node_net.peer}
    s = clb(node_net, 80, annotations=annotations)

    provider.ensure(s)

    [lb] = read_classic(s)
    assert lb["SecurityGroups"] == [node_net.peer]
    assert snapshot() == before, "no group and no rule is written"
    provider.delete(s)
    assert read_classic() == []
