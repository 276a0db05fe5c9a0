"""The classic ELB on moto, read back with boto3: listeners, health check, instances, tags, scheme, subnets and
security groups; drift by delta with the calls counted; what a classic ELB cannot do refused before any call; and
type changes between NLB and classic ELB replacing the balancer, new first, with nothing left of the old one."""

from __future__ import annotations

import dataclasses
from typing import Any

import boto3
import pytest
from cloudlb_aws.classic_steps import INSTANCES_PER_CALL
from cloudlb_aws.clients import CallLog
from cloudlb_aws.provider import AwsProvider
from cloudlb_aws.tagging import from_aws

from cloudlb.errors import CloudLBError, ConflictError, InvalidSpecError, UnsupportedFeatureError
from cloudlb.model import FrozenDict, LoadBalancerSpec, Scheme, SessionAffinity, Target, TargetMode, TrafficPolicy
from cloudlb.naming import CLUSTER_TAG, SERVICE_TAG, UID_TAG, Ownership, ownership
from tests.aws import _part3_fixtures as fx
from tests.aws._part3_fixtures import NodeNet, groups_of, rules_of, snapshot
from tests.aws.helpers import (
    REGION,
    Faults,
    World,
    fake_instances,
    node_pool,
    pod_target,
    read_nlbs,
    spec,
    target_groups,
    tcp,
    udp,
)

node_net = fx.node_net
sg_provider = fx.sg_provider
sg_calls = fx.sg_calls
certificate = fx.certificate

TYPE = "service.beta.kubernetes.io/aws-load-balancer-type"
CERT_PLACEHOLDER = "arn:aws:acm:us-east-1:123456789012:certificate/made-by-the-test"
CLB = {TYPE: "clb"}


def clb(net: NodeNet, *ports: int, instances: tuple[str, ...] | None = None, **fields: Any) -> LoadBalancerSpec:
    annotations = {**CLB, **fields.pop("annotations", {})}
    nodes = net.instances if instances is None else instances
    listeners = [tcp(p, node_pool(nodes, 30000 + p), node_port=30000 + p) for p in ports or (80,)]
    return spec(*listeners, annotations=annotations, **fields)


def read_classic(s: LoadBalancerSpec | None = None) -> list[dict[str, Any]]:
    """Every classic ELB in moto (or ``s``'s, by tags), with ``Tags`` as a dict."""
    elb = boto3.client("elb", region_name=REGION)
    out = []
    for lb in elb.describe_load_balancers()["LoadBalancerDescriptions"]:
        name = lb["LoadBalancerName"]
        tags = from_aws(elb.describe_tags(LoadBalancerNames=[name])["TagDescriptions"][0]["Tags"])
        if s is None or ownership(tags, s.ref) is Ownership.MINE:
            out.append({**lb, "Tags": tags})
    return out


def listeners(lb: dict[str, Any]) -> set[tuple[str, int, int, str | None]]:
    return {
        (
            d["Listener"]["Protocol"],
            d["Listener"]["LoadBalancerPort"],
            d["Listener"]["InstancePort"],
            d["Listener"].get("SSLCertificateId"),
        )
        for d in lb["ListenerDescriptions"]
    }


def instances_of(lb: dict[str, Any]) -> set[str]:
    return {i["InstanceId"] for i in lb["Instances"]}


def mutating(calls: CallLog, mark: int) -> list[str]:
    return calls.operations(mark, mutating=True)


def test_create_get_delete_reads_back_everything(
    sg_provider: AwsProvider, node_net: NodeNet, world: World, sg_calls: CallLog
) -> None:
    before = snapshot()
    s = clb(node_net, 80, 443, source_ranges=("10.1.0.0/16",), tags=FrozenDict(team="web"))

    status = sg_provider.ensure(s)

    [lb] = read_classic(s)
    assert lb["LoadBalancerName"] == sg_provider.load_balancer_name(s) and len(lb["LoadBalancerName"]) <= 32
    assert lb["Scheme"] == "internet-facing"
    assert set(lb["Subnets"]) == set(world.public_subnets)
    assert listeners(lb) == {("TCP", 80, 30080, None), ("TCP", 443, 30443, None)}
    check = lb["HealthCheck"]
    assert (check["Target"], check["Interval"], check["Timeout"]) == ("TCP:30080", 10, 5)
    assert (check["HealthyThreshold"], check["UnhealthyThreshold"]) == (2, 3)
    assert instances_of(lb) == set(node_net.instances)
    assert {lb["Tags"][k] for k in (CLUSTER_TAG, SERVICE_TAG, UID_TAG)} == {"test", "default/web", "uid-1"}
    assert lb["Tags"]["team"] == "web" and lb["Tags"]["kubernetes.io/cluster/test"] == "owned"
    [group] = groups_of(s, "clb-frontend")
    gid = group["GroupId"]
    assert lb["SecurityGroups"] == [gid]
    assert rules_of(groups=[gid]) == {(gid, "tcp", port, "10.1.0.0/16") for port in (80, 443)}
    nodes = {(g, "tcp", port, gid) for g in (node_net.nodes, node_net.solo) for port in (30080, 30443)}
    assert rules_of(s) - rules_of(groups=[gid]) == nodes
    assert status.to_kube() == {"ingress": [{"hostname": lb["DNSName"]}]}
    assert sg_provider.get(s) == status
    assert [o.cloud_id for o in sg_provider.list_owned("test")] == [lb["LoadBalancerName"]]

    assert sg_provider.delete(s) is True

    assert read_classic() == []
    assert snapshot() == before
    assert sg_provider.get(s) is None and sg_provider.delete(s) is False


def test_internal_tls_and_local_traffic(
    sg_provider: AwsProvider, node_net: NodeNet, world: World, certificate: str
) -> None:
    annotations = {
        "service.beta.kubernetes.io/aws-load-balancer-ssl-cert": certificate,
        "service.beta.kubernetes.io/aws-load-balancer-ssl-ports": "443",
    }
    s = clb(
        node_net,
        80,
        443,
        scheme=Scheme.INTERNAL,
        annotations=annotations,
        traffic_policy=TrafficPolicy.LOCAL,
        health_check_node_port=32000,
    )

    sg_provider.ensure(s)

    [lb] = read_classic(s)
    assert lb["Scheme"] == "internal" and set(lb["Subnets"]) == set(world.internal_subnets)
    assert listeners(lb) == {("TCP", 80, 30080, None), ("SSL", 443, 30443, certificate)}
    assert lb["HealthCheck"]["Target"] == "HTTP:32000/healthz"
    gid = groups_of(s, "clb-frontend")[0]["GroupId"]
    assert (node_net.nodes, "tcp", 32000, gid) in rules_of(s), "the health-check port is open to the balancer"


def test_a_second_ensure_makes_no_mutating_call_and_four_classic_reads(
    sg_provider: AwsProvider, node_net: NodeNet, sg_calls: CallLog
) -> None:
    s = clb(node_net, 80, 443)
    sg_provider.ensure(s)
    mark = sg_calls.mark()

    sg_provider.ensure(s)

    assert mutating(sg_calls, mark) == []
    classic_reads = [c.operation for c in sg_calls.since(mark) if c.service in ("elb", "ec2")]
    assert sorted(classic_reads) == [
        "DescribeLoadBalancers",
        "DescribeSecurityGroupRules",
        "DescribeSecurityGroups",
        "DescribeTags",
    ]


def test_instance_churn_changes_only_the_delta_in_batches(sg_provider: AwsProvider, node_net: NodeNet) -> None:
    calls = sg_provider.clients.log
    pool = tuple(fake_instances(450))
    sg_provider.ensure(clb(node_net, 80, instances=pool))
    [lb] = read_classic()
    assert instances_of(lb) == set(pool)
    churned = pool[5:] + tuple(fake_instances(5, start=1000))
    mark = calls.mark()

    sg_provider.update_targets(clb(node_net, 80, instances=churned))

    assert mutating(calls, mark) == ["RegisterInstancesWithLoadBalancer", "DeregisterInstancesFromLoadBalancer"]
    [registered] = [c.params for c in calls.since(mark) if c.operation == "RegisterInstancesWithLoadBalancer"]
    assert {i["InstanceId"] for i in registered["Instances"]} == set(fake_instances(5, start=1000))
    [lb] = read_classic()
    assert instances_of(lb) == set(churned)
    assert len(pool) > 2 * INSTANCES_PER_CALL
    assert calls.count("RegisterInstancesWithLoadBalancer") == 3 + 1, "450 instances took ceil(450/200) calls"


@pytest.mark.parametrize(
    ("change", "expected_calls", "expected_listeners"),
    [
        pytest.param(
            lambda n: clb(n, 80, 443, 8080),
            # the frontend rule (before the listener), the listener, a rule on each of the two node groups
            ["AuthorizeSecurityGroupIngress", "CreateLoadBalancerListeners"] + ["AuthorizeSecurityGroupIngress"] * 2,
            {("TCP", 80, 30080, None), ("TCP", 443, 30443, None), ("TCP", 8080, 38080, None)},
            id="port-added",
        ),
        pytest.param(
            lambda n: clb(n, 80),
            ["RevokeSecurityGroupIngress", "DeleteLoadBalancerListeners"] + ["RevokeSecurityGroupIngress"] * 2,
            {("TCP", 80, 30080, None)},
            id="port-removed",
        ),
        pytest.param(
            lambda n: clb(
                n,
                80,
                443,
                annotations={
                    "service.beta.kubernetes.io/aws-load-balancer-ssl-cert": CERT_PLACEHOLDER,
                    "service.beta.kubernetes.io/aws-load-balancer-ssl-ports": "443",
                },
            ),
            ["DeleteLoadBalancerListeners", "CreateLoadBalancerListeners"],
            {("TCP", 80, 30080, None), ("SSL", 443, 30443, CERT_PLACEHOLDER)},
            id="tls-on",
        ),
        pytest.param(
            lambda n: clb(
                n, 80, 443, annotations={"service.beta.kubernetes.io/aws-load-balancer-healthcheck-interval": "30"}
            ),
            ["ConfigureHealthCheck"],
            {("TCP", 80, 30080, None), ("TCP", 443, 30443, None)},
            id="health-check",
        ),
        pytest.param(
            lambda n: clb(n, 80, 443, tags=FrozenDict(team="db")),
            ["AddTags", "CreateTags"],  # the balancer's tags, then its group's
            {("TCP", 80, 30080, None), ("TCP", 443, 30443, None)},
            id="tags",
        ),
    ],
)
def test_each_drift_costs_only_its_own_calls(
    sg_provider: AwsProvider,
    node_net: NodeNet,
    sg_calls: CallLog,
    certificate: str,
    change: Any,
    expected_calls: list[str],
    expected_listeners: set[tuple[str, int, int, str | None]],
) -> None:
    sg_provider.ensure(clb(node_net, 80, 443))
    s = _with_certificate(change(node_net), certificate)
    mark = sg_calls.mark()

    sg_provider.ensure(s)

    assert mutating(sg_calls, mark) == expected_calls
    [lb] = read_classic(s)
    assert listeners(lb) == {
        (p, port, node, certificate if cert else None) for p, port, node, cert in expected_listeners
    }
    mark = sg_calls.mark()
    sg_provider.ensure(s)
    assert mutating(sg_calls, mark) == [], "converged"


def _with_certificate(s: LoadBalancerSpec, arn: str) -> LoadBalancerSpec:
    """``s`` with the placeholder certificate of the parameters replaced by a real one (made per test)."""
    key = "service.beta.kubernetes.io/aws-load-balancer-ssl-cert"
    if s.annotations.get(key) != CERT_PLACEHOLDER:
        return s
    return dataclasses.replace(s, annotations=FrozenDict({**s.annotations, key: arn}))


def test_a_changed_node_port_replaces_only_that_listener(
    sg_provider: AwsProvider, node_net: NodeNet, sg_calls: CallLog
) -> None:
    sg_provider.ensure(clb(node_net, 80, 443))
    s = spec(
        tcp(80, node_pool(node_net.instances, 30080), node_port=30080),
        tcp(443, node_pool(node_net.instances, 31443), node_port=31443),
        annotations=CLB,
    )
    mark = sg_calls.mark()

    sg_provider.ensure(s)

    elb_calls = [c for c in sg_calls.since(mark) if c.mutating and c.service == "elb"]
    assert [c.operation for c in elb_calls] == ["DeleteLoadBalancerListeners", "CreateLoadBalancerListeners"]
    assert elb_calls[0].params["LoadBalancerPorts"] == [443]
    [lb] = read_classic(s)
    assert listeners(lb) == {("TCP", 80, 30080, None), ("TCP", 443, 31443, None)}
    assert lb["HealthCheck"]["Target"] == "TCP:30080"


NODES = tuple(fake_instances(3))
NO_NET = NodeNet("", "", "", "", "", NODES[:2], NODES[2])  # specs only: these tests make no call


@pytest.mark.parametrize(
    ("made", "error"),
    [
        pytest.param(
            spec(udp(53, node_pool(NODES, 30053), node_port=30053), annotations=CLB),
            UnsupportedFeatureError,
            id="udp",
        ),
        pytest.param(
            spec(tcp(80, [pod_target("10.0.100.5", 8080)]), annotations=CLB, target_mode=TargetMode.POD),
            UnsupportedFeatureError,
            id="pod-targets",
        ),
        pytest.param(
            clb(NO_NET, session_affinity=SessionAffinity.CLIENT_IP), UnsupportedFeatureError, id="session-affinity"
        ),
        pytest.param(
            spec(tcp(80, [Target("10.0.100.5", 30080, "node-a")], node_port=30080), annotations=CLB),
            InvalidSpecError,
            id="node-without-instance-id",
        ),
        pytest.param(
            clb(NO_NET, annotations={"service.beta.kubernetes.io/aws-load-balancer-eip-allocations": "eipalloc-1"}),
            InvalidSpecError,
            id="eips",
        ),
        pytest.param(
            clb(NO_NET, annotations={"service.beta.kubernetes.io/aws-load-balancer-healthcheck-timeout": "90"}),
            InvalidSpecError,
            id="health-check-timeout",
        ),
    ],
)
def test_what_a_classic_elb_cannot_do_is_refused_before_any_call(
    aws: None, made: LoadBalancerSpec, error: type[Exception]
) -> None:
    provider = fx.make_sg_provider()
    with pytest.raises(error):
        provider.plan(made)
    with pytest.raises(error):
        provider.ensure(made)
    assert provider.clients.log.count() == 0


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
