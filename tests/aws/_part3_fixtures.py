"""Fixtures and read-backs for the security-group and classic ELB tests: a node network with security groups, a
provider with managed groups and the classic backend, and whole-account snapshots of EC2 security groups.

The node network, built on top of ``world`` (tests/aws/helpers.py): instances whose group choice is non-trivial
(two instances in ``extra`` then ``nodes``, where only ``nodes`` carries ``kubernetes.io/cluster/<cluster>``, and one
instance in ``solo`` alone, the fallback of "its first group"), plus rules that are not cloudlb's on those groups,
including one on the same port cloudlb will open. Read-backs use their own boto3 clients, never the provider's.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Any

import boto3
import botocore.loaders
import botocore.session
import pytest

from cloudlb.model import LoadBalancerSpec
from cloudlb.naming import Ownership, ownership
from cloudlb_aws.clients import AwsClients, CallLog
from cloudlb_aws.node_groups import NodeGroups
from cloudlb_aws.options import AwsOptions
from cloudlb_aws.provider import AwsProvider
from cloudlb_aws.security_groups import ROLE_TAG, SecurityGroups
from cloudlb_aws.tagging import from_aws
from tests.aws.helpers import AMI, CLUSTER, REGION, World, node_pool, spec, tcp

__all__ = [
    "CLB",
    "TYPE",
    "NodeNet",
    "Snapshot",
    "certificate",
    "clb",
    "groups_of",
    "instances_of",
    "listeners",
    "make_sg_provider",
    "mutating",
    "node_net",
    "read_classic",
    "rules_of",
    "sg_calls",
    "sg_provider",
    "shared_botocore_loader",
    "snapshot",
]

NODE_PORT_RULE = 30080  # the port of the foreign rule on the nodes' group, a port cloudlb opens too


@dataclass(frozen=True)
class NodeNet:
    """The node security groups and the instances in them."""

    vpc_id: str
    nodes: str  # tagged for the cluster, second on its instances
    extra: str  # first on the same instances, untagged
    solo: str  # the only group of its instance, untagged
    peer: str  # a group a foreign rule on ``nodes`` admits
    tagged_instances: tuple[str, ...]
    solo_instance: str

    @property
    def instances(self) -> tuple[str, ...]:
        return (*self.tagged_instances, self.solo_instance)


def _ec2() -> Any:
    return boto3.client("ec2", region_name=REGION)


def _group(ec2: Any, vpc: str, name: str, tags: Mapping[str, str] | None = None) -> str:
    params: dict[str, Any] = {"GroupName": name, "Description": f"test {name}", "VpcId": vpc}
    if tags:
        tag_list = [{"Key": k, "Value": v} for k, v in tags.items()]
        params["TagSpecifications"] = [{"ResourceType": "security-group", "Tags": tag_list}]
    return str(ec2.create_security_group(**params)["GroupId"])


_LOADER: list[botocore.loaders.Loader] = []


@pytest.fixture
def shared_botocore_loader(monkeypatch: pytest.MonkeyPatch) -> None:
    """Every botocore session of the test reads the service models through one loader kept for the process.

    Each new session (moto resets boto3's default one for every test, and each provider makes its own) would parse
    the EC2 model again, about a second of JSON; the loader's cache makes that once. The models are only read.
    """
    if not _LOADER:
        _LOADER.append(botocore.loaders.create_loader())
    monkeypatch.setattr(botocore.session, "create_loader", lambda *_args, **_kwargs: _LOADER[0])


@pytest.fixture
def node_net(world: World) -> NodeNet:
    ec2 = _ec2()
    vpc = world.vpc_id
    nodes = _group(ec2, vpc, "nodes", {f"kubernetes.io/cluster/{CLUSTER}": "owned"})
    extra = _group(ec2, vpc, "extra")
    solo = _group(ec2, vpc, "solo")
    peer = _group(ec2, vpc, "peer")

    def run(subnet: str, groups: list[str]) -> str:
        found = ec2.run_instances(ImageId=AMI, MinCount=1, MaxCount=1, SubnetId=subnet, SecurityGroupIds=groups)[
            "Instances"
        ][0]
        return str(found["InstanceId"])

    tagged = tuple(run(world.internal_subnets[i], [extra, nodes]) for i in range(2))
    alone = run(world.internal_subnets[0], [solo])
    # Rules that are not cloudlb's: one of them on a node port cloudlb opens, from another source.
    ec2.authorize_security_group_ingress(
        GroupId=nodes,
        IpPermissions=[
            {"IpProtocol": "tcp", "FromPort": 22, "ToPort": 22, "IpRanges": [{"CidrIp": "10.0.0.0/8"}]},
            {
                "IpProtocol": "tcp",
                "FromPort": NODE_PORT_RULE,
                "ToPort": NODE_PORT_RULE,
                "UserIdGroupPairs": [{"GroupId": peer}],
            },
        ],
    )
    ec2.authorize_security_group_ingress(
        GroupId=solo,
        IpPermissions=[{"IpProtocol": "tcp", "FromPort": 443, "ToPort": 443, "IpRanges": [{"CidrIp": "0.0.0.0/0"}]}],
    )
    return NodeNet(vpc, nodes, extra, solo, peer, tagged, alone)


def make_sg_provider(*, clock: Callable[[], float] = time.monotonic, **options: Any) -> AwsProvider:
    """A provider on moto with managed security groups and the classic backend, with no client-side rate limit;
    ``clock`` is the one that ages what it remembers of the nodes' groups."""
    defaults: dict[str, Any] = {
        "region": REGION,
        "rate_limit": None,
        "targets_rate_limit": None,
        "retry_initial_delay": 0.0,
    }
    parsed = AwsOptions.from_kwargs(**{**defaults, **options})
    clients = AwsClients(parsed, sleep=lambda _: None)
    if not parsed.manage_security_groups:
        return AwsProvider.from_options(parsed, clients=clients)
    groups = SecurityGroups(clients, parsed, nodes=NodeGroups(clients, clock=clock))
    return AwsProvider.from_options(parsed, clients=clients, security_groups=groups)


@pytest.fixture
def certificate(aws: None) -> str:
    """An ACM certificate's ARN (moto's classic ELB checks that a listener's certificate exists)."""
    acm = boto3.client("acm", region_name=REGION)
    return str(acm.request_certificate(DomainName="web.example.com")["CertificateArn"])


@pytest.fixture
def sg_provider(node_net: NodeNet) -> AwsProvider:
    return make_sg_provider()


@pytest.fixture
def sg_calls(sg_provider: AwsProvider) -> CallLog:
    return sg_provider.clients.log


# --- read-backs -------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Snapshot:
    """Every security group and every rule in the account, as moto describes them (ids included)."""

    groups: tuple[tuple[str, str, tuple[tuple[str, str], ...]], ...]  # (id, name, sorted tags)
    rules: tuple[tuple[Any, ...], ...]  # (rule id, group, egress, protocol, from, to, source, sorted tags)


def snapshot() -> Snapshot:
    ec2 = _ec2()
    groups = tuple(
        sorted(
            (g["GroupId"], g["GroupName"], tuple(sorted(from_aws(g.get("Tags")).items())))
            for g in ec2.describe_security_groups()["SecurityGroups"]
        )
    )
    rules = tuple(sorted(_rule_row(r) for r in ec2.describe_security_group_rules()["SecurityGroupRules"]))
    return Snapshot(groups, rules)


def _rule_row(r: Mapping[str, Any]) -> tuple[Any, ...]:
    source = r.get("CidrIpv4") or r.get("CidrIpv6") or (r.get("ReferencedGroupInfo") or {}).get("GroupId")
    tags = tuple(sorted(from_aws(r.get("Tags")).items()))
    return (
        r["SecurityGroupRuleId"],
        r["GroupId"],
        r["IsEgress"],
        r["IpProtocol"],
        r["FromPort"],
        r["ToPort"],
        source,
        tags,
    )


def groups_of(spec: LoadBalancerSpec, role: str | None = None) -> list[dict[str, Any]]:
    """The security groups whose tags make them ``spec``'s (of ``role``, when given), with ``Tags`` as a dict."""
    out = []
    for g in _ec2().describe_security_groups()["SecurityGroups"]:
        tags = from_aws(g.get("Tags"))
        if ownership(tags, spec.ref) is Ownership.MINE and (role is None or tags.get(ROLE_TAG) == role):
            out.append({**g, "Tags": tags})
    return out


def rules_of(
    spec: LoadBalancerSpec | None = None, groups: Iterable[str] | None = None
) -> set[tuple[str, str, int, str]]:
    """Ingress rules as (holding group, protocol, port, source): ``spec``'s by tags, or every rule of ``groups``."""
    wanted = set(groups) if groups is not None else None
    out = set()
    for r in _ec2().describe_security_group_rules()["SecurityGroupRules"]:
        if r["IsEgress"]:
            continue
        tags = from_aws(r.get("Tags"))
        if spec is not None and ownership(tags, spec.ref) is not Ownership.MINE:
            continue
        if wanted is not None and r["GroupId"] not in wanted:
            continue
        source = r.get("CidrIpv4") or r.get("CidrIpv6") or (r.get("ReferencedGroupInfo") or {}).get("GroupId")
        out.add((r["GroupId"], r["IpProtocol"], int(r["FromPort"]), str(source)))
    return out


# --- classic ELBs ---------------------------------------------------------------------------------------------

TYPE = "service.beta.kubernetes.io/aws-load-balancer-type"
CLB = {TYPE: "clb"}


def clb(net: NodeNet, *ports: int, instances: tuple[str, ...] | None = None, **fields: Any) -> LoadBalancerSpec:
    """A Service of type clb with a TCP port per ``ports`` (node port 30000 + port) on ``net``'s instances."""
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
