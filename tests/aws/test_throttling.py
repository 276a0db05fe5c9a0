"""The provider under 30 % injected throttling: through the fault proxy in front of moto's server, ``ensure`` and
``delete`` converge, and what moto holds afterwards (read past the proxy) has no duplicate and no leftover."""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import boto3
import pytest

from cloudlb import get_provider, load_manifests
from cloudlb.testing import Fault, FaultKind, FaultProxy, FaultRule
from cloudlb_aws.mock import AwsMockServer

CLUSTER = "throttled"
MANIFESTS = """
apiVersion: v1
kind: Service
metadata: {name: web, namespace: shop, uid: 1b7f0e6c-0000-4000-8000-000000000009}
spec:
  type: LoadBalancer
  loadBalancerSourceRanges: [198.51.100.0/24]
  ports:
    - {name: http, protocol: TCP, port: 80, targetPort: 8080, nodePort: 30080}
    - {name: https, protocol: TCP, port: 443, targetPort: 8443, nodePort: 30443}
---
apiVersion: v1
kind: Node
metadata: {name: node-a, labels: {topology.kubernetes.io/zone: us-east-1a}}
status: {addresses: [{type: InternalIP, address: 10.0.128.10}]}
---
apiVersion: v1
kind: Node
metadata: {name: node-b, labels: {topology.kubernetes.io/zone: us-east-1b}}
status: {addresses: [{type: InternalIP, address: 10.0.192.10}]}
"""


@pytest.fixture
def mock(tmp_path: Path) -> Iterator[AwsMockServer]:
    path = tmp_path / "cluster.yaml"
    path.write_text(MANIFESTS)
    server = AwsMockServer(seed=[path], cluster=CLUSTER, work_dir=tmp_path / "work")
    server.start()
    try:
        yield server
    finally:
        server.stop()


def _client(service: str, url: str) -> Any:
    return boto3.client(
        service, endpoint_url=url, region_name="us-east-1", aws_access_key_id="testing", aws_secret_access_key="testing"
    )


def _ours(tags: list[dict[str, str]]) -> bool:
    return {"Key": "cloudlb.io/cluster", "Value": CLUSTER} in tags


def _inventory(url: str) -> Counter[str]:
    """cloudlb's resources in moto by kind, read directly (not through the proxy)."""
    elbv2, ec2 = _client("elbv2", url), _client("ec2", url)
    kinds: Counter[str] = Counter()
    lbs = [lb["LoadBalancerArn"] for lb in elbv2.describe_load_balancers()["LoadBalancers"]]
    tgs = [tg["TargetGroupArn"] for tg in elbv2.describe_target_groups()["TargetGroups"]]
    for kind, arns in (("load-balancer", lbs), ("target-group", tgs)):
        for i in range(0, len(arns), 20):
            for found in elbv2.describe_tags(ResourceArns=arns[i : i + 20])["TagDescriptions"]:
                kinds[kind] += _ours(found["Tags"])
    for lb in lbs:
        kinds["listener"] += len(elbv2.describe_listeners(LoadBalancerArn=lb)["Listeners"])
    groups = ec2.describe_security_groups()["SecurityGroups"]
    kinds["security-group"] = sum(_ours(group.get("Tags", [])) for group in groups)
    rules = ec2.describe_security_group_rules()["SecurityGroupRules"]
    kinds["security-group-rule"] = sum(_ours(rule.get("Tags", [])) for rule in rules)
    return kinds


def test_thirty_percent_throttling_converges_with_no_duplicate_and_no_leftover(mock: AwsMockServer) -> None:
    assert mock.manifests_path is not None
    [spec] = load_manifests([mock.manifests_path], cluster=CLUSTER)
    rules = [FaultRule(Fault.throttling(), rate=0.3)]
    with FaultProxy(mock.url, rules=rules, seed=7) as proxy:
        options = {**mock.config["options"], "endpoint_url": proxy.url}
        provider = get_provider("aws", **options, retry_initial_delay=0.01, retry_max_delay=0.05, retry_attempts=30)

        provider.ensure(spec)
        provider.ensure(spec)  # converged: nothing is created twice when answers were throttled
        converged = _inventory(mock.url)
        throttled = proxy.counts.injected[FaultKind.THROTTLING]

        assert provider.delete(spec) is True
        after = _inventory(mock.url)

    assert throttled > 0
    assert converged["load-balancer"] == 1
    assert converged["target-group"] == 2
    assert converged["listener"] == 2
    assert converged["security-group"] == 1
    # the LB's group admits the range on both ports; the node group admits the LB's group on both node ports
    assert converged["security-group-rule"] == 4
    assert sum(after.values()) == 0, after
