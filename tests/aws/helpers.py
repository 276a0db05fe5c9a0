"""What the AWS provider's tests share: a seeded moto world, spec builders, read-backs and fault injection.

Read-backs go through boto3 clients of their own, never the provider's, so the call counts are the provider's
alone and what a test asserts is what moto holds. Faults are injected with botocore event hooks on the provider's
clients: ``before`` a mutating call (it never reaches moto) or ``after`` it (moto applied it, the answer is lost).
"""

from __future__ import annotations

import functools
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

import boto3
import botocore.exceptions

from cloudlb.model import Listener, LoadBalancerSpec, Protocol, Target, TargetMode
from cloudlb.naming import Ownership, ownership
from cloudlb_aws.clients import AwsClients, is_mutating
from cloudlb_aws.interfaces import UnmanagedSecurityGroups
from cloudlb_aws.options import AwsOptions
from cloudlb_aws.provider import AwsProvider
from cloudlb_aws.tagging import from_aws

REGION = "us-east-1"
CLUSTER = "test"
ZONES = ("us-east-1a", "us-east-1b")
VPC_CIDR = "10.0.0.0/16"
AMI = "ami-12c6146b"  # any id: moto does not check it when its default images are not loaded

__all__ = [
    "CLUSTER",
    "REGION",
    "ZONES",
    "Faults",
    "Nlb",
    "World",
    "instance_target",
    "make_provider",
    "pod_target",
    "read_nlbs",
    "seed_world",
    "spec",
]


@dataclass(frozen=True)
class World:
    """The seeded network: a VPC, public and internal subnets tagged for ``CLUSTER`` in two zones, and instances."""

    vpc_id: str
    public_subnets: tuple[str, ...]
    internal_subnets: tuple[str, ...]
    instances: tuple[tuple[str, str, str], ...]  # (instance id, private ip, zone)


def _tags(**tags: str) -> list[dict[str, Any]]:
    return [{"ResourceType": "subnet", "Tags": [{"Key": k, "Value": v} for k, v in tags.items()]}]


@functools.cache
def boto(service: str) -> Any:
    """A boto3 client for reading back and planting, made once: building one costs a second or two, and moto
    intercepts every client while a mock runs, whenever it was made."""
    return boto3.client(service, region_name=REGION, aws_access_key_id="testing", aws_secret_access_key="testing")


def seed_world(instances: int = 3) -> World:
    """Build the network in the running moto mock."""
    ec2 = boto("ec2")
    vpc = ec2.create_vpc(CidrBlock=VPC_CIDR)["Vpc"]["VpcId"]
    cluster_tag = f"kubernetes.io/cluster/{CLUSTER}"
    public, internal = [], []
    for i, zone in enumerate(ZONES):
        tags = {cluster_tag: "shared", "kubernetes.io/role/elb": "1", "Name": f"public-{zone}"}
        public.append(
            ec2.create_subnet(
                VpcId=vpc, CidrBlock=f"10.0.{i}.0/24", AvailabilityZone=zone, TagSpecifications=_tags(**tags)
            )["Subnet"]["SubnetId"]
        )
        tags = {cluster_tag: "owned", "kubernetes.io/role/internal-elb": "1", "Name": f"private-{zone}"}
        internal.append(
            ec2.create_subnet(
                VpcId=vpc, CidrBlock=f"10.0.{100 + i}.0/24", AvailabilityZone=zone, TagSpecifications=_tags(**tags)
            )["Subnet"]["SubnetId"]
        )
    # An untagged subnet and one of another cluster: discovery must pass over both.
    ec2.create_subnet(VpcId=vpc, CidrBlock="10.0.50.0/24", AvailabilityZone=ZONES[0])
    other = {"kubernetes.io/cluster/other": "owned", "kubernetes.io/role/elb": "1"}
    ec2.create_subnet(VpcId=vpc, CidrBlock="10.0.51.0/24", AvailabilityZone=ZONES[1], TagSpecifications=_tags(**other))
    made = []
    for i in range(instances):
        subnet = internal[i % len(internal)]
        found = ec2.run_instances(ImageId=AMI, MinCount=1, MaxCount=1, SubnetId=subnet)["Instances"][0]
        made.append((found["InstanceId"], found["PrivateIpAddress"], ZONES[i % len(ZONES)]))
    return World(vpc, tuple(public), tuple(internal), tuple(made))


def make_provider(**options: Any) -> AwsProvider:
    """A provider on moto with no client-side rate limit and no managed security groups (the NLB alone)."""
    defaults: dict[str, Any] = {
        "region": REGION,
        "rate_limit": None,
        "targets_rate_limit": None,
        "manage_security_groups": False,
        "retry_initial_delay": 0.0,
    }
    parsed = AwsOptions.from_kwargs(**{**defaults, **options})
    clients = AwsClients(parsed)
    return AwsProvider.from_options(
        parsed, clients=clients, security_groups=UnmanagedSecurityGroups(clients), without_classic=True
    )


def instance_target(instance: str, port: int, *, ip: str = "10.0.100.9", zone: str = ZONES[0]) -> Target:
    """A node target whose Node's providerID names ``instance``."""
    return Target(ip, port, f"node-{instance}", f"aws:///{zone}/{instance}", zone)


def pod_target(ip: str, port: int) -> Target:
    return Target(ip, port)


def fake_instances(count: int, start: int = 0) -> list[str]:
    """Instance ids that need no EC2 instance (ELBv2 in moto registers any id): for pools of hundreds."""
    return [f"i-{n:017x}" for n in range(start, start + count)]


def spec(
    *listeners: Listener,
    name: str = "web",
    namespace: str = "default",
    uid: str = "uid-1",
    cluster: str = CLUSTER,
    annotations: Mapping[str, str] | None = None,
    **fields: Any,
) -> LoadBalancerSpec:
    from cloudlb.model import FrozenDict

    return LoadBalancerSpec(
        cluster,
        namespace,
        name,
        uid,
        listeners=listeners,
        annotations=FrozenDict(annotations or {}),
        **fields,
    )


def tcp(port: int, targets: Iterable[Target], *, node_port: int | None = None, name: str = "") -> Listener:
    return Listener(name or f"tcp-{port}", Protocol.TCP, port, node_port, None, frozenset(targets))


def udp(port: int, targets: Iterable[Target], *, node_port: int | None = None, name: str = "") -> Listener:
    return Listener(name or f"udp-{port}", Protocol.UDP, port, node_port, None, frozenset(targets))


def node_pool(instances: Iterable[str], port: int) -> frozenset[Target]:
    return frozenset(instance_target(i, port) for i in instances)


@dataclass
class Nlb:
    """One NLB as moto holds it, read with boto3."""

    arn: str
    name: str
    scheme: str
    subnets: frozenset[str]
    dns_name: str
    tags: dict[str, str]
    listeners: dict[int, dict[str, Any]] = field(default_factory=dict)  # port -> listener
    target_groups: dict[int, dict[str, Any]] = field(default_factory=dict)  # listener port -> target group
    targets: dict[int, frozenset[tuple[str, int]]] = field(default_factory=dict)  # listener port -> (id, port)
    attributes: dict[int, dict[str, str]] = field(default_factory=dict)
    group_tags: dict[int, dict[str, str]] = field(default_factory=dict)


def all_tags(arns: list[str]) -> dict[str, dict[str, str]]:
    out: dict[str, dict[str, str]] = {}
    for i in range(0, len(arns), 20):
        answer = boto("elbv2").describe_tags(ResourceArns=arns[i : i + 20])
        out.update({d["ResourceArn"]: from_aws(d["Tags"]) for d in answer["TagDescriptions"]})
    return out


def read_nlbs(spec_: LoadBalancerSpec | None = None) -> list[Nlb]:
    """Every NLB in moto (or those whose tags make them ``spec_``'s), with listeners, groups, targets and tags."""
    elbv2 = boto("elbv2")
    balancers = [lb for lb in elbv2.describe_load_balancers()["LoadBalancers"] if lb["Type"] == "network"]
    tags = all_tags([lb["LoadBalancerArn"] for lb in balancers])
    out = []
    for lb in balancers:
        lb_tags = tags.get(lb["LoadBalancerArn"], {})
        if spec_ is not None and ownership(lb_tags, spec_.ref) is not Ownership.MINE:
            continue
        nlb = Nlb(
            lb["LoadBalancerArn"],
            lb["LoadBalancerName"],
            lb["Scheme"],
            frozenset(z["SubnetId"] for z in lb["AvailabilityZones"]),
            lb["DNSName"],
            lb_tags,
        )
        for listener in elbv2.describe_listeners(LoadBalancerArn=nlb.arn)["Listeners"]:
            port = listener["Port"]
            nlb.listeners[port] = listener
            tg_arn = listener["DefaultActions"][0]["TargetGroupArn"]
            nlb.target_groups[port] = elbv2.describe_target_groups(TargetGroupArns=[tg_arn])["TargetGroups"][0]
            health = elbv2.describe_target_health(TargetGroupArn=tg_arn)["TargetHealthDescriptions"]
            nlb.targets[port] = frozenset((d["Target"]["Id"], d["Target"]["Port"]) for d in health)
            attributes = elbv2.describe_target_group_attributes(TargetGroupArn=tg_arn)["Attributes"]
            nlb.attributes[port] = {a["Key"]: a["Value"] for a in attributes}
            nlb.group_tags[port] = all_tags([tg_arn])[tg_arn]
        out.append(nlb)
    return out


def target_groups() -> list[dict[str, Any]]:
    """Every target group in moto, each with its tags under ``Tags``."""
    groups = boto("elbv2").describe_target_groups()["TargetGroups"]
    tags = all_tags([tg["TargetGroupArn"] for tg in groups])
    return [{**tg, "Tags": tags.get(tg["TargetGroupArn"], {})} for tg in groups]


def target_mode(pod: bool) -> TargetMode:
    return TargetMode.POD if pod else TargetMode.NODE


class Faults:
    """Counts the provider's calls as botocore sends them, and fails the n-th mutating one once.

    ``after=False``: the call fails before it is sent (nothing happened). ``after=True``: moto applies it and the
    answer is lost. The failure is a 400 ``InjectedFailure``, which the provider does not retry: the test's next
    ``ensure`` is the rerun after a crash.
    """

    def __init__(self, clients: AwsClients) -> None:
        self.mutating: list[str] = []
        self._at: tuple[int, bool] | None = None
        self._seen = 0
        for service in ("elbv2", "elb", "ec2"):
            events = clients.client(service).meta.events
            events.register("before-call", self._before)
            events.register("after-call", self._after)

    def fail_at(self, n: int, *, after: bool = False) -> None:
        self._at, self._seen = (n, after), 0

    def clear(self) -> None:
        self._at = None

    def _hit(self, operation: str, after: bool) -> None:
        if self._at is None or not is_mutating(operation) or self._at[1] != after:
            return
        if self._seen == self._at[0]:
            self._at = None
            error = {"Error": {"Code": "InjectedFailure", "Message": f"injected at {operation}"}}
            raise botocore.exceptions.ClientError({**error, "ResponseMetadata": {"HTTPStatusCode": 400}}, operation)

    def _before(self, model: Any, **_: Any) -> None:
        if is_mutating(model.name):
            self.mutating.append(model.name)
            self._seen += 1
        self._hit(model.name, after=False)

    def _after(self, model: Any, **_: Any) -> None:
        self._hit(model.name, after=True)
