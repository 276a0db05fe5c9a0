"""Managed security groups on moto, read back with boto3: the NLB's frontend group and its ingress rules, the
rules on the nodes' groups, drift by delta, other people's rules untouched, and zero leftovers after delete,
including after a crash at every mutating call."""

from __future__ import annotations

from typing import Any

import boto3
import pytest

from cloudlb.errors import CloudLBError, ConflictError, InvalidSpecError
from cloudlb.model import HealthCheck, HealthCheckProtocol, LoadBalancerSpec, TrafficPolicy
from cloudlb.naming import CLUSTER_TAG, SERVICE_TAG, UID_TAG
from cloudlb_aws.clients import CallLog
from cloudlb_aws.node_groups import NODE_GROUP_TTL
from cloudlb_aws.provider import AwsProvider
from cloudlb_aws.security_groups import ROLE_TAG, SecurityGroups
from tests.aws import _part3_fixtures as fx
from tests.aws._part3_fixtures import NodeNet, groups_of, rules_of, snapshot
from tests.aws.helpers import REGION, Faults, node_pool, read_nlbs, spec, tcp, udp

pytestmark = pytest.mark.usefixtures("shared_botocore_loader")
shared_botocore_loader = fx.shared_botocore_loader
node_net = fx.node_net
sg_provider = fx.sg_provider
sg_calls = fx.sg_calls

RANGES = ("10.1.0.0/16", "192.168.0.0/24")


def web(net: NodeNet, *, ranges: tuple[str, ...] = RANGES, name: str = "web", **fields: Any) -> LoadBalancerSpec:
    return spec(
        tcp(80, node_pool(net.instances, 30080), node_port=30080),
        name=name,
        source_ranges=ranges,
        **fields,
    )


def frontend_group(s: LoadBalancerSpec) -> dict[str, Any]:
    [group] = groups_of(s, "nlb-frontend")
    return group


def ec2_calls(calls: CallLog, mark: int, operation: str) -> list[dict[str, Any]]:
    return [dict(c.params) for c in calls.since(mark) if c.operation == operation]


@pytest.mark.parametrize(
    ("listeners", "expected"),
    [
        pytest.param(lambda n: [tcp(80, node_pool(n, 30080), node_port=30080)], {("tcp", 80)}, id="tcp"),
        pytest.param(lambda n: [udp(53, node_pool(n, 30053), node_port=30053)], {("udp", 53)}, id="udp"),
        pytest.param(
            lambda n: [tcp(53, node_pool(n, 30053), node_port=30053), udp(53, node_pool(n, 30053), node_port=30053)],
            {("tcp", 53), ("udp", 53)},
            id="tcp_udp",
        ),
    ],
)
def test_source_ranges_give_a_managed_group_with_exactly_the_expected_rules(
    sg_provider: AwsProvider, node_net: NodeNet, listeners: Any, expected: set[tuple[str, int]]
) -> None:
    s = spec(*listeners(node_net.instances), source_ranges=RANGES)

    sg_provider.ensure(s)

    group = frontend_group(s)
    gid = group["GroupId"]
    assert group["GroupName"] == SecurityGroups(sg_provider.clients).group_name(s.ref)
    assert group["VpcId"] == node_net.vpc_id
    assert {group["Tags"][k] for k in (CLUSTER_TAG, SERVICE_TAG, UID_TAG)} == {"test", "default/web", "uid-1"}
    assert group["Tags"][ROLE_TAG] == "nlb-frontend"
    assert rules_of(groups=[gid]) == {(gid, p, port, r) for p, port in expected for r in RANGES}
    assert rules_of(s) >= rules_of(groups=[gid]), "every rule cloudlb wrote carries the Service's tags"
    [nlb] = read_nlbs(s)
    lb = boto3.client("elbv2", region_name=REGION).describe_load_balancers(LoadBalancerArns=[nlb.arn])
    assert lb["LoadBalancers"][0]["SecurityGroups"] == [gid]


def test_no_source_range_admits_everyone(sg_provider: AwsProvider, node_net: NodeNet) -> None:
    s = web(node_net, ranges=())

    sg_provider.ensure(s)

    gid = frontend_group(s)["GroupId"]
    assert rules_of(groups=[gid]) == {(gid, "tcp", 80, "0.0.0.0/0")}


def test_changed_ranges_authorize_and_revoke_only_the_delta(
    sg_provider: AwsProvider, node_net: NodeNet, sg_calls: CallLog
) -> None:
    sg_provider.ensure(web(node_net, ranges=("10.1.0.0/16", "10.2.0.0/16")))
    s = web(node_net, ranges=("10.1.0.0/16", "10.3.0.0/16"))
    gid = frontend_group(s)["GroupId"]
    kept_rule = _rule_ids(gid, "10.1.0.0/16")
    users = {"IpProtocol": "tcp", "FromPort": 80, "ToPort": 80, "IpRanges": [{"CidrIp": "10.9.0.0/16"}]}
    boto3.client("ec2", region_name=REGION).authorize_security_group_ingress(GroupId=gid, IpPermissions=[users])
    plan = sg_provider.plan(s)
    changes = [c for c in plan.changes if c.resource == "security-group-rules"]
    assert [(c.added, c.removed) for c in changes] == [
        (("tcp/80 from 10.3.0.0/16",), ()),
        ((), ("tcp/80 from 10.2.0.0/16",)),
    ]
    mark = sg_calls.mark()

    sg_provider.ensure(s)

    assert sg_calls.operations(mark, mutating=True) == ["AuthorizeSecurityGroupIngress", "RevokeSecurityGroupIngress"]
    [authorized] = ec2_calls(sg_calls, mark, "AuthorizeSecurityGroupIngress")
    assert [r["CidrIp"] for p in authorized["IpPermissions"] for r in p["IpRanges"]] == ["10.3.0.0/16"]
    [revoked] = ec2_calls(sg_calls, mark, "RevokeSecurityGroupIngress")
    assert len(revoked["SecurityGroupRuleIds"]) == 1
    assert rules_of(groups=[gid]) == {(gid, "tcp", 80, c) for c in ("10.1.0.0/16", "10.3.0.0/16", "10.9.0.0/16")}
    assert _rule_ids(gid, "10.1.0.0/16") == kept_rule, "an unchanged rule is not recreated"
    assert len(_rule_ids(gid, "10.9.0.0/16")) == 1, "a rule without cloudlb's tags is not cloudlb's to revoke"


def _rule_ids(group: str, source: str) -> set[str]:
    rules = boto3.client("ec2", region_name=REGION).describe_security_group_rules()["SecurityGroupRules"]
    return {r["SecurityGroupRuleId"] for r in rules if r["GroupId"] == group and r.get("CidrIpv4") == source}


def test_node_groups_admit_the_lb_group_on_node_and_health_check_ports(
    sg_provider: AwsProvider, node_net: NodeNet
) -> None:
    s = web(node_net, traffic_policy=TrafficPolicy.LOCAL, health_check_node_port=32000)
    foreign_before = rules_of(groups=[node_net.nodes, node_net.solo, node_net.extra])

    sg_provider.ensure(s)

    gid = frontend_group(s)["GroupId"]
    wanted = {(g, "tcp", port, gid) for g in (node_net.nodes, node_net.solo) for port in (30080, 32000)}
    assert rules_of(s) - rules_of(groups=[gid]) == wanted, "the tagged group, else the first; never 'extra'"
    after = rules_of(groups=[node_net.nodes, node_net.solo, node_net.extra])
    assert after == foreign_before | wanted, "the rules that are not cloudlb's are all still there"
    described = boto3.client("ec2", region_name=REGION).describe_security_groups(GroupIds=[node_net.nodes])
    pairs = [pair for perm in described["SecurityGroups"][0]["IpPermissions"] for pair in perm["UserIdGroupPairs"]]
    ours = [pair for pair in pairs if pair["GroupId"] == gid]
    assert ours and all(pair["Description"].startswith("cloudlb.io/service=default/web uid=uid-1") for pair in ours)


def test_a_second_ensure_makes_no_mutating_call_and_a_few_reads_for_the_groups(
    sg_provider: AwsProvider, node_net: NodeNet, sg_calls: CallLog
) -> None:
    s = web(node_net)
    sg_provider.ensure(s)
    mark = sg_calls.mark()

    sg_provider.ensure(s)

    assert sg_calls.operations(mark, mutating=True) == []
    # The NLB's groups and rules by tag (the nodes' groups are remembered); the classic backend's look for what a
    # type change would leave behind: the same 2 reads.
    reads = sg_calls.operations(mark, service="ec2")
    assert sorted(reads) == ["DescribeSecurityGroupRules"] * 2 + ["DescribeSecurityGroups"] * 2


def test_nodes_and_ports_change_by_delta(sg_provider: AwsProvider, node_net: NodeNet, sg_calls: CallLog) -> None:
    sg_provider.ensure(web(node_net))
    s = spec(
        tcp(80, node_pool(node_net.tagged_instances, 30080), node_port=30080),
        tcp(443, node_pool(node_net.tagged_instances, 30443), node_port=30443),
        source_ranges=RANGES,
    )
    gid = frontend_group(s)["GroupId"]
    mark = sg_calls.mark()

    sg_provider.ensure(s)

    authorized = ec2_calls(sg_calls, mark, "AuthorizeSecurityGroupIngress")
    added = sorted((a["GroupId"], p["FromPort"]) for a in authorized for p in a["IpPermissions"])
    assert added == sorted([(gid, 443), (node_net.nodes, 30443)])
    [revoked] = ec2_calls(sg_calls, mark, "RevokeSecurityGroupIngress")
    assert revoked["GroupId"] == node_net.solo, "the solo node is gone, and with it the need for its group's rule"
    assert rules_of(s) == {(gid, "tcp", port, r) for port in (80, 443) for r in RANGES} | {
        (node_net.nodes, "tcp", port, gid) for port in (30080, 30443)
    }


def test_a_node_moved_to_another_group_is_followed_once_the_remembered_answer_expires(node_net: NodeNet) -> None:
    now = [0.0]
    provider = fx.make_sg_provider(clock=lambda: now[0])
    s = web(node_net)
    provider.ensure(s)
    gid = frontend_group(s)["GroupId"]
    ec2 = boto3.client("ec2", region_name=REGION)
    ec2.modify_instance_attribute(InstanceId=node_net.solo_instance, Groups=[node_net.extra])
    mark = provider.clients.log.mark()

    provider.ensure(s)
    assert provider.clients.log.operations(mark, mutating=True) == [], "within the TTL the node group is remembered"
    now[0] += NODE_GROUP_TTL + 1
    provider.ensure(s)

    assert rules_of(s) - rules_of(groups=[gid]) == {(g, "tcp", 30080, gid) for g in (node_net.nodes, node_net.extra)}


def test_delete_leaves_exactly_the_groups_and_rules_there_were_before(
    sg_provider: AwsProvider, node_net: NodeNet
) -> None:
    before = snapshot()
    s = web(node_net, traffic_policy=TrafficPolicy.LOCAL, health_check_node_port=32000)
    sg_provider.ensure(s)
    assert snapshot() != before

    assert sg_provider.delete(s) is True

    assert snapshot() == before
    assert read_nlbs(s) == []
    assert sg_provider.delete(s) is False


def test_an_earlier_uids_group_and_rules_are_replaced(sg_provider: AwsProvider, node_net: NodeNet) -> None:
    before = snapshot()
    old = web(node_net)
    sg_provider.ensure(old)
    old_group = frontend_group(old)["GroupId"]
    new = web(node_net, uid="uid-2")

    sg_provider.ensure(new)

    [group] = groups_of(new, "nlb-frontend")
    assert group["Tags"][UID_TAG] == "uid-2" and group["GroupId"] != old_group
    assert all(old_group not in (g, src) for g, _, _, src in rules_of(groups=None)), "nothing refers to the old group"
    sg_provider.delete(new)
    assert snapshot() == before


def test_a_look_alike_group_of_our_name_is_never_adopted(
    sg_provider: AwsProvider, node_net: NodeNet, sg_calls: CallLog
) -> None:
    s = web(node_net)
    name = SecurityGroups(sg_provider.clients).group_name(s.ref)
    ec2 = boto3.client("ec2", region_name=REGION)
    ec2.create_security_group(GroupName=name, Description="someone else's", VpcId=node_net.vpc_id)
    before = snapshot()

    with pytest.raises(ConflictError, match="without the tags"):
        sg_provider.ensure(s)

    assert sg_calls.count(mutating=True) == 0
    assert snapshot() == before
    sg_provider.delete(s)
    assert snapshot() == before


def test_source_ranges_with_the_groups_annotation_are_refused_before_any_call(
    sg_provider: AwsProvider, node_net: NodeNet, sg_calls: CallLog
) -> None:
    annotations = {"service.beta.kubernetes.io/aws-load-balancer-security-groups": node_net.peer}
    with pytest.raises(InvalidSpecError, match="security-groups"):
        sg_provider.plan(web(node_net, annotations=annotations))
    assert sg_calls.count() == 0


def test_the_groups_annotation_is_used_as_given_and_nodes_admit_it(sg_provider: AwsProvider, node_net: NodeNet) -> None:
    before = snapshot()
    annotations = {"service.beta.kubernetes.io/aws-load-balancer-security-groups": node_net.peer}
    s = web(node_net, ranges=(), annotations=annotations)

    sg_provider.ensure(s)

    assert groups_of(s) == []
    [nlb] = read_nlbs(s)
    described = boto3.client("elbv2", region_name=REGION).describe_load_balancers(LoadBalancerArns=[nlb.arn])
    assert described["LoadBalancers"][0]["SecurityGroups"] == [node_net.peer]
    assert rules_of(s) == {(g, "tcp", 30080, node_net.peer) for g in (node_net.nodes, node_net.solo)}
    sg_provider.delete(s)
    assert snapshot() == before


# --- crashes ----------------------------------------------------------------------------------------------------
# A crash after call n took effect ("answer lost") leaves the cloud as a crash before call n + 1 does ("call
# lost"), so the first kind at every n, with the second kind at the very first call, covers every state a crash can
# leave; what differs is only the error path, which the first call exercises.


def _mutations(provider: AwsProvider, s: LoadBalancerSpec) -> list[str]:
    """The mutating calls a clean ensure of ``s`` makes (it is deleted again)."""
    mark = provider.clients.log.mark()
    provider.ensure(s)
    made = provider.clients.log.operations(mark, mutating=True)
    provider.delete(s)
    return made


def _crashes(total: int) -> list[tuple[int, bool]]:
    return [(1, False)] + [(n, True) for n in range(1, total + 1)]


def test_a_crash_at_any_mutating_call_then_a_rerun_and_a_delete_leave_no_leak(
    sg_provider: AwsProvider, node_net: NodeNet
) -> None:
    before = snapshot()
    faults = Faults(sg_provider.clients)
    made = _mutations(sg_provider, web(node_net, name="probe"))
    assert {"CreateSecurityGroup", "AuthorizeSecurityGroupIngress", "CreateLoadBalancer"} <= set(made)
    assert snapshot() == before
    for n, after in _crashes(len(made)):
        s = web(node_net, name=f"crash{n}{'a' if after else 'b'}")
        faults.fail_at(n, after=after)
        with pytest.raises(CloudLBError):
            sg_provider.ensure(s)
        faults.clear()
        sg_provider.ensure(s)  # the rerun
        where = f"crash at {made[n - 1]} (call {n}, {'after' if after else 'before'} it)"
        assert len(groups_of(s, "nlb-frontend")) == 1, f"{where}: one group, found by its tags"
        gid = frontend_group(s)["GroupId"]
        assert rules_of(s) == {(gid, "tcp", 80, r) for r in RANGES} | {
            (g, "tcp", 30080, gid) for g in (node_net.nodes, node_net.solo)
        }, where
        sg_provider.delete(s)
        assert snapshot() == before, where


def test_a_crash_at_any_mutating_call_then_a_delete_leaves_no_leak(sg_provider: AwsProvider, node_net: NodeNet) -> None:
    before = snapshot()
    faults = Faults(sg_provider.clients)
    made = _mutations(sg_provider, web(node_net, name="probe"))
    for n in range(1, len(made) + 1):
        s = web(node_net, name=f"gone{n}")
        faults.fail_at(n, after=True)
        with pytest.raises(CloudLBError):
            sg_provider.ensure(s)
        faults.clear()
        sg_provider.delete(s)
        assert snapshot() == before, f"crash after {made[n - 1]} (call {n})"


def test_a_crash_at_any_mutating_call_of_delete_then_rerun_leaves_no_leak(
    sg_provider: AwsProvider, node_net: NodeNet
) -> None:
    before = snapshot()
    faults = Faults(sg_provider.clients)
    s = web(node_net, traffic_policy=TrafficPolicy.LOCAL, health_check_node_port=32000)
    sg_provider.ensure(s)
    mark = sg_provider.clients.log.mark()
    sg_provider.delete(s)
    total = len(sg_provider.clients.log.operations(mark, mutating=True))
    for n in range(1, total + 1):
        sg_provider.ensure(s)
        faults.fail_at(n, after=True)
        with pytest.raises(CloudLBError):
            sg_provider.delete(s)
        faults.clear()
        sg_provider.delete(s)
        assert snapshot() == before, f"crash at call {n} of delete"


def test_a_group_left_by_a_crash_before_the_balancer_is_listed_for_gc(
    sg_provider: AwsProvider, node_net: NodeNet
) -> None:
    before = snapshot()
    s = spec(
        tcp(80, node_pool(node_net.instances, 30080), node_port=30080),
        source_ranges=RANGES,
        annotations={"service.beta.kubernetes.io/aws-load-balancer-type": "clb"},
        health_check=HealthCheck(HealthCheckProtocol.TCP),
    )
    faults = Faults(sg_provider.clients)
    faults.fail_at(3)  # CreateSecurityGroup, its rules, then CreateLoadBalancer fails
    with pytest.raises(CloudLBError):
        sg_provider.ensure(s)

    [owned] = sg_provider.list_owned("test")
    assert owned.cloud_id.startswith("sg-") and (owned.namespace, owned.name) == ("default", "web")
    assert sg_provider.delete(owned) is True
    assert snapshot() == before
