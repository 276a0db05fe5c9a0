"""The classic ELB on moto, read back with boto3: listeners, health check, instances, tags, scheme, subnets and
security groups; drift by delta with the calls counted; and what a classic ELB cannot do refused before any call.
Replacement, type changes, crashes and gc are in test_classic_replacement.py."""

from __future__ import annotations

import dataclasses
from typing import Any

import pytest

from cloudlb.errors import InvalidSpecError, UnsupportedFeatureError
from cloudlb.model import FrozenDict, LoadBalancerSpec, Scheme, SessionAffinity, Target, TargetMode, TrafficPolicy
from cloudlb.naming import CLUSTER_TAG, SERVICE_TAG, UID_TAG
from cloudlb_aws.classic_steps import INSTANCES_PER_CALL
from cloudlb_aws.clients import CallLog
from cloudlb_aws.provider import AwsProvider
from tests.aws import _part3_fixtures as fx
from tests.aws._part3_fixtures import (
    CLB,
    NodeNet,
    clb,
    groups_of,
    instances_of,
    listeners,
    mutating,
    read_classic,
    rules_of,
    snapshot,
)
from tests.aws.helpers import (
    World,
    fake_instances,
    node_pool,
    pod_target,
    spec,
    tcp,
    udp,
)

pytestmark = pytest.mark.usefixtures("shared_botocore_loader")
shared_botocore_loader = fx.shared_botocore_loader
node_net = fx.node_net
sg_provider = fx.sg_provider
sg_calls = fx.sg_calls
certificate = fx.certificate

CERT_PLACEHOLDER = "arn:aws:acm:us-east-1:123456789012:certificate/made-by-the-test"


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
    interval = s.annotations.get("service.beta.kubernetes.io/aws-load-balancer-healthcheck-interval", "10")
    assert lb["HealthCheck"]["Interval"] == int(interval)
    assert lb["Tags"].get("team") == s.tags.get("team")
    mark = sg_calls.mark()
    sg_provider.ensure(s)
    assert mutating(sg_calls, mark) == [], "converged"


def _with_certificate(s: LoadBalancerSpec, arn: str) -> LoadBalancerSpec:
    """``s`` with the placeholder certificate of the parameters replaced by a real one (made per test)."""
    key = "service.beta.kubernetes.io/aws-load-balancer-ssl-cert"
    if s.annotations.get(key) != CERT_PLACEHOLDER:
        return s
    return dataclasses.replace(s, annotations=FrozenDict({**s.annotations, key: arn}))


def test_explicit_subnets_are_attached_then_detached(
    sg_provider: AwsProvider, node_net: NodeNet, world: World, sg_calls: CallLog
) -> None:
    subnets = "service.beta.kubernetes.io/aws-load-balancer-subnets"
    sg_provider.ensure(clb(node_net, 80, annotations={subnets: world.public_subnets[0]}))
    s = clb(node_net, 80, annotations={subnets: world.public_subnets[1]})
    mark = sg_calls.mark()

    sg_provider.ensure(s)

    assert mutating(sg_calls, mark) == ["AttachLoadBalancerToSubnets", "DetachLoadBalancerFromSubnets"]
    [lb] = read_classic(s)
    assert lb["Subnets"] == [world.public_subnets[1]]


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
