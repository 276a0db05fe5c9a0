"""benchmarks/aws_calls: the AWS provider's API calls per scenario beside the fewest it could make, and the wall time
of a no-op resync of 200 Services against moto's server.

**Part 1: calls per scenario.** The provider is built as ``get_provider("aws", ...)`` builds it (managed security
groups, both balancer types), with its client-side rate limits off, against moto in-process (``mock_aws``): a VPC,
subnets tagged for the cluster, one node security group and 2,050 EC2 instances as nodes. Each shape (NLB: 1, 3
and 5 TCP ports; classic ELB: 1 port, as its counts are the same for any P; each with 10, 100 and 1,000 node
targets) gets a fresh provider, so nothing is remembered from another shape, and runs: create; no-op (ensure
again); churn 5 % (ceil(5 % of N) nodes replaced by new ones); full replacement (every node replaced); delete.
Calls are counted from the provider's own ``AwsClients.log``, split into balancer writes (elbv2/elb),
security-group writes (ec2) and reads.

The lower bounds, for P ports, N targets, k = ceil(0.05 N) churned nodes, B = 200 targets a call (the batch
``RegisterTargets`` takes), n = ceil(N/B), m = ceil(k/B) and G = 1 node security group:

- balancer writes, NLB: create 1 CreateLoadBalancer + P CreateTargetGroup + P CreateListener + P·n RegisterTargets
  (tags ride on the creates); no-op 0; churn P·m RegisterTargets + P·m DeregisterTargets (an NLB has one target
  group per port, and no call spans groups); full replacement 2P·n likewise; delete 1 DeleteLoadBalancer (its
  listeners go with it) + P DeleteTargetGroup (their targets go with them).
- balancer writes, classic ELB: create 1 CreateLoadBalancer (every listener, subnet, group and tag in it)
  + 1 ConfigureHealthCheck + n RegisterInstancesWithLoadBalancer (instances belong to the balancer, not to a port);
  no-op 0; churn 2m; full replacement 2n; delete 1. AWS publishes no per-call maximum for the classic API: B is the
  provider's own batch, so with no limit at all the floor would be 1 call each way.
- security-group writes, counted apart (the provider manages them by default; the bounds above exclude them):
  create 1 CreateSecurityGroup + 1 AuthorizeSecurityGroupIngress (every frontend rule in one call) + G authorizes
  on the node groups (every backend rule of a group in one call) = 3; no-op, churn and replacement 0 (new nodes are
  in the same node group, whose rules are per group, not per node); delete G revokes + 1 DeleteSecurityGroup = 2.
- reads, for a client that remembers nothing between syncs and finds its resources by their tags:
  create 2 + n (is there a balancer: one list that comes back without it; the subnets; the node group of each
  node: DescribeInstances takes 200 ids); no-op, NLB 6 + 2P (the balancer, one DescribeTags for it and its target
  groups, the target groups' health checks, the listeners, per group its attributes and its targets, the frontend
  group, its rules), classic 4 (DescribeLoadBalancers answers listeners, health check and instances at once, then
  the tags, the group, the rules); churn and full replacement the no-op's reads + m or + n (the new nodes' groups);
  delete NLB 5 (balancers, target groups, their tags, the group, the rules), classic 4.
- all calls: balancer writes + security-group writes + reads, each at its bound.

**Part 2: a no-op resync of 200 Services** against ``cloudlb mock-server aws`` (moto's server in a child process
on 127.0.0.1, seeded with ``RESYNC_NODES`` Nodes), through ``endpoint_url``. The Services are built from manifests
with ``cloudlb.load_manifests``: one TCP port each, every Node a target. All 200 are created first (timed: the
"first full create"). A resync is ``provider.ensure`` of every Service; its time is the median of
``RESYNC_REPEAT`` passes over every ``RESYNC_SAMPLE_EVERY``-th Service (each seeing all 200 balancers in the
region), scaled to 200, to keep the run short. The named baseline, "floor", is the same state read directly with
boto3 and nothing else done: per Service the balancer by name, its listeners, its target groups by balancer,
one DescribeTags, and per group its attributes and targets (4 + 2P calls, no planning), in passes interleaved
with the provider's. This part runs without managed security groups: each Service adds a rule to the node group,
and moto, like AWS by default, allows 60 inbound rules a group, so 200 Services would not fit.

Run: ``python -m benchmarks aws_calls`` (or ``python -m benchmarks.aws_calls``); about 3 minutes.
"""

from __future__ import annotations

import collections
import contextlib
import functools
import math
import os
import statistics
import tempfile
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from benchmarks._util import print_table
from cloudlb.model import FrozenDict, Listener, LoadBalancerSpec, Protocol, Target

if TYPE_CHECKING:
    from cloudlb_aws.clients import CallLog
    from cloudlb_aws.provider import AwsProvider

REGION = "us-east-1"
ZONES = ("us-east-1a", "us-east-1b")
CREDENTIALS = {"aws_access_key_id": "testing", "aws_secret_access_key": "testing"}
CLUSTER = "bench"
TYPE_ANNOTATION = "service.beta.kubernetes.io/aws-load-balancer-type"
NO_AMIS = "MOTO_EC2_LOAD_DEFAULT_AMIS"  # moto's image catalogue takes seconds to load and nothing here needs it

PORTS = (1, 3, 5)
CLASSIC_PORTS = (1,)  # its counts do not depend on P: every listener rides on the one create
TARGETS = (10, 100, 1000)
CHURN = 0.05
BATCH = 200
NODE_GROUPS = 1

RESYNC_SERVICES = 200
RESYNC_NODES = 10
RESYNC_SAMPLE_EVERY = 10
RESYNC_REPEAT = 3


@dataclass(frozen=True)
class Counts:
    """Calls made (or their lower bound): balancer writes, security-group writes, reads."""

    lb_writes: int
    sg_writes: int
    reads: int

    @property
    def calls(self) -> int:
        return self.lb_writes + self.sg_writes + self.reads


@dataclass(frozen=True)
class Node:
    """A seeded EC2 instance standing for a Kubernetes Node."""

    name: str
    instance_id: str
    ip: str
    zone: str

    def target(self, port: int) -> Target:
        return Target(self.ip, port, self.name, f"aws:///{self.zone}/{self.instance_id}", self.zone)


def bounds(kind: str, scenario: str, ports: int, targets: int) -> Counts:
    """The lower bounds of the module docstring."""
    n = math.ceil(targets / BATCH)
    m = math.ceil(math.ceil(targets * CHURN) / BATCH)
    sg = {"create": 2 + NODE_GROUPS, "delete": 1 + NODE_GROUPS}.get(scenario, 0)
    if kind == "nlb":
        observe = 6 + 2 * ports
        lb = {"create": 1 + 2 * ports + ports * n, "churn 5%": 2 * ports * m, "full replacement": 2 * ports * n}
        lb["delete"] = 1 + ports
        reads = {"create": 2 + n, "no-op": observe, "churn 5%": observe + m, "full replacement": observe + n}
        reads["delete"] = 5
    else:
        observe = 4
        lb = {"create": 2 + n, "churn 5%": 2 * m, "full replacement": 2 * n, "delete": 1}
        reads = {"create": 2 + n, "no-op": observe, "churn 5%": observe + m, "full replacement": observe + n}
        reads["delete"] = 4
    return Counts(lb.get(scenario, 0), sg, reads[scenario])


def measure(log: CallLog, action: Callable[[], object]) -> Counts:
    """What ``action`` called, from the provider's call log; a failed attempt would spoil the count."""
    mark = log.mark()
    action()
    made = log.since(mark)
    failed = [f"{c.operation}: {c.error}" for c in made if c.error]
    if failed:
        raise RuntimeError(f"calls failed during the benchmark: {failed}")
    lb = sum(1 for c in made if c.mutating and c.service != "ec2")
    sg = sum(1 for c in made if c.mutating and c.service == "ec2")
    return Counts(lb, sg, len(made) - lb - sg)


def ratio(actual: int, bound: int) -> str:
    if bound == 0:
        return "-" if actual == 0 else "inf"
    return f"{actual / bound:.2f}x"


# --- part 1: calls per scenario, in-process moto ------------------------------------------------------------------


@contextlib.contextmanager
def in_process_moto() -> Iterator[None]:
    from moto import mock_aws

    saved = os.environ.get(NO_AMIS)
    os.environ[NO_AMIS] = "false"
    try:
        with mock_aws():
            yield
    finally:
        if saved is None:
            os.environ.pop(NO_AMIS, None)
        else:
            os.environ[NO_AMIS] = saved


def seed(instances: int) -> list[Node]:
    """A VPC with subnets tagged for ``CLUSTER`` in two zones, a node group tagged for it, and the nodes."""
    import boto3  # type: ignore[import-untyped]

    ec2 = boto3.client("ec2", region_name=REGION, **CREDENTIALS)

    def tagged(kind: str, **tags: str) -> list[dict[str, Any]]:
        return [{"ResourceType": kind, "Tags": [{"Key": k, "Value": v} for k, v in tags.items()]}]

    cluster_tag = f"kubernetes.io/cluster/{CLUSTER}"
    vpc = ec2.create_vpc(CidrBlock="10.0.0.0/16")["Vpc"]["VpcId"]
    group = ec2.create_security_group(
        GroupName="nodes",
        Description="nodes",
        VpcId=vpc,
        TagSpecifications=tagged("security-group", **{cluster_tag: "owned"}),
    )["GroupId"]
    nodes: list[Node] = []
    for i, zone in enumerate(ZONES):
        public = tagged("subnet", **{cluster_tag: "shared", "kubernetes.io/role/elb": "1"})
        ec2.create_subnet(VpcId=vpc, CidrBlock=f"10.0.{i}.0/24", AvailabilityZone=zone, TagSpecifications=public)
        private = ec2.create_subnet(VpcId=vpc, CidrBlock=f"10.0.{16 * (i + 1)}.0/20", AvailabilityZone=zone)
        count = instances // len(ZONES) + (i < instances % len(ZONES))
        made = ec2.run_instances(
            ImageId="ami-12c6146b",
            MinCount=count,
            MaxCount=count,
            SubnetId=private["Subnet"]["SubnetId"],
            SecurityGroupIds=[group],
        )["Instances"]
        nodes += [
            Node(f"node-{len(nodes) + j}", x["InstanceId"], x["PrivateIpAddress"], zone) for j, x in enumerate(made)
        ]
    return nodes


def make_spec(nodes: Sequence[Node], ports: int, kind: str) -> LoadBalancerSpec:
    """A node-mode Service: ``ports`` TCP ports, each served by every node at its nodePort."""
    listeners = tuple(
        Listener(f"tcp-{80 + p}", Protocol.TCP, 80 + p, 30000 + p, None, frozenset(n.target(30000 + p) for n in nodes))
        for p in range(ports)
    )
    annotations = FrozenDict({TYPE_ANNOTATION: "clb"} if kind == "clb" else {})
    return LoadBalancerSpec(CLUSTER, "bench", "web", "uid-web", listeners=listeners, annotations=annotations)


def count_shape(nodes: Sequence[Node], kind: str, ports: int, targets: int) -> dict[str, Counts]:
    """The five scenarios of one shape, with a provider that remembers nothing of another shape."""
    from cloudlb_aws.provider import AwsProvider

    provider = AwsProvider(
        region=REGION, rate_limit=None, targets_rate_limit=None, retry_initial_delay=0.0, **CREDENTIALS
    )
    churned = math.ceil(targets * CHURN)
    specs = {
        "create": make_spec(nodes[:targets], ports, kind),
        "no-op": make_spec(nodes[:targets], ports, kind),
        "churn 5%": make_spec(nodes[churned : targets + churned], ports, kind),
        "full replacement": make_spec(nodes[targets + churned : 2 * targets + churned], ports, kind),
    }
    log = provider.clients.log
    counts = {name: measure(log, functools.partial(provider.ensure, spec)) for name, spec in specs.items()}
    counts["delete"] = measure(log, functools.partial(provider.delete, specs["full replacement"]))
    return counts


def count_rows() -> list[list[str]]:
    shapes = [("nlb", p, n) for p in PORTS for n in TARGETS] + [("clb", p, n) for p in CLASSIC_PORTS for n in TARGETS]
    most = max(2 * n + math.ceil(n * CHURN) for n in TARGETS)
    rows = []
    with in_process_moto():
        nodes = seed(most)
        for kind, ports, targets in shapes:
            for scenario, got in count_shape(nodes, kind, ports, targets).items():
                low = bounds(kind, scenario, ports, targets)
                rows.append(
                    [
                        "NLB" if kind == "nlb" else "classic",
                        scenario,
                        str(ports),
                        f"{targets:,}",
                        str(got.lb_writes),
                        str(low.lb_writes),
                        ratio(got.lb_writes, low.lb_writes),
                        str(got.sg_writes),
                        str(low.sg_writes),
                        str(got.reads),
                        str(low.reads),
                        str(got.calls),
                        str(low.calls),
                        ratio(got.calls, low.calls),
                    ]
                )
    return rows


# --- part 2: a no-op resync of 200 Services against moto's server --------------------------------------------------


class OperationTimer:
    """Wall time per (service, operation), from botocore's before-call and after-call events on a client."""

    def __init__(self) -> None:
        self.seconds: collections.Counter[tuple[str, str]] = collections.Counter()

    def attach(self, client: Any) -> None:
        client.meta.events.register("before-call", self._before)
        client.meta.events.register("after-call", self._after)

    def _before(self, context: dict[str, Any], **_: Any) -> None:
        context["bench_started"] = time.perf_counter()

    def _after(self, model: Any, context: dict[str, Any], **_: Any) -> None:
        started = context.pop("bench_started", None)
        if started is not None:
            self.seconds[(model.service_model.service_name, model.name)] += time.perf_counter() - started


class Floor:
    """The baseline: the state a no-op ensure of an NLB needs, read narrowly with boto3, with nothing planned."""

    def __init__(self, options: Mapping[str, Any]) -> None:
        import boto3
        import botocore.config  # type: ignore[import-untyped]

        config = botocore.config.Config(retries={"total_max_attempts": 1, "mode": "standard"})
        self.elbv2 = boto3.client(
            "elbv2",
            region_name=options["region"],
            endpoint_url=options["endpoint_url"],
            aws_access_key_id=options["aws_access_key_id"],
            aws_secret_access_key=options["aws_secret_access_key"],
            config=config,
        )
        self.calls = 0

    def read(self, name: str) -> None:
        elbv2 = self.elbv2
        arn = elbv2.describe_load_balancers(Names=[name])["LoadBalancers"][0]["LoadBalancerArn"]
        elbv2.describe_listeners(LoadBalancerArn=arn)
        groups = [tg["TargetGroupArn"] for tg in elbv2.describe_target_groups(LoadBalancerArn=arn)["TargetGroups"]]
        elbv2.describe_tags(ResourceArns=[arn, *groups])
        for group in groups:
            elbv2.describe_target_group_attributes(TargetGroupArn=group)
            elbv2.describe_target_health(TargetGroupArn=group)
        self.calls += 4 + 2 * len(groups)


def write_nodes(path: Path) -> None:
    """``RESYNC_NODES`` Nodes, each with an InternalIP in the mock's private subnet of its zone."""
    documents = []
    for i in range(RESYNC_NODES):
        zone, prefix = (ZONES[0], "10.0.128") if i % 2 == 0 else (ZONES[1], "10.0.192")
        documents.append(
            f"apiVersion: v1\nkind: Node\n"
            f"metadata: {{name: node-{i}, labels: {{topology.kubernetes.io/zone: {zone}}}}}\n"
            f"status: {{addresses: [{{type: InternalIP, address: {prefix}.{10 + i}}}]}}\n"
        )
    path.write_text("---\n".join(documents), encoding="utf-8")


def write_services(path: Path) -> None:
    documents = [
        f"apiVersion: v1\nkind: Service\nmetadata: {{name: svc-{i:03d}, namespace: bench, uid: uid-{i:03d}}}\n"
        f"spec: {{type: LoadBalancer, ports: [{{name: http, protocol: TCP, port: 80, nodePort: {30000 + i}}}]}}\n"
        for i in range(RESYNC_SERVICES)
    ]
    path.write_text("---\n".join(documents), encoding="utf-8")


@dataclass(frozen=True)
class Resync:
    services: int
    sample: int
    create_seconds: float
    create_calls: Counts
    provider_seconds: list[float]  # one pass over the sample each
    provider_calls: Counts  # over every pass
    floor_seconds: list[float]
    floor_calls: int
    listing_share: float  # of the provider's passes, the time in the region-wide listings
    per_operation: dict[str, float]  # operation -> seconds per Service in the provider's passes


def run_resync() -> Resync:
    import cloudlb
    from cloudlb.testing.mockserver import MockServerProcess
    from cloudlb_aws.provider import AwsProvider

    with tempfile.TemporaryDirectory(prefix="cloudlb-bench-aws-") as tmp:
        work = Path(tmp)
        write_nodes(work / "nodes.yaml")
        write_services(work / "services.yaml")
        server = MockServerProcess("aws", cluster=CLUSTER, seed=[work / "nodes.yaml"], work_dir=work / "mock")
        config = server.start()
        try:
            specs = cloudlb.load_manifests([work / "mock" / "seeded.yaml", work / "services.yaml"], cluster=CLUSTER)
            options = config["options"]
            provider = AwsProvider(
                **options,
                rate_limit=None,
                targets_rate_limit=None,
                retry_initial_delay=0.0,
                manage_security_groups=False,
            )
            return _resync(provider, specs, Floor(options))
        finally:
            server.stop()


def _resync(provider: AwsProvider, specs: Sequence[LoadBalancerSpec], floor: Floor) -> Resync:
    log = provider.clients.log
    started = time.perf_counter()
    create = measure(log, lambda: [provider.ensure(spec) for spec in specs])
    create_seconds = time.perf_counter() - started

    timer = OperationTimer()
    for service in ("elbv2", "elb", "ec2"):
        timer.attach(provider.clients.client(service))
    sample = list(specs[::RESYNC_SAMPLE_EVERY])
    names = [provider.load_balancer_name(spec) for spec in sample]
    floor.read(names[0])  # the floor's client makes its connection outside the timing
    floor.calls = 0
    provider_seconds, floor_seconds = [], []
    mark = log.mark()
    for _ in range(RESYNC_REPEAT):  # interleaved, so that a change in the machine's load hits both alike
        began = time.perf_counter()
        for spec in sample:
            provider.ensure(spec)
        provider_seconds.append(time.perf_counter() - began)
        began = time.perf_counter()
        for name in names:
            floor.read(name)
        floor_seconds.append(time.perf_counter() - began)
    made = log.since(mark)
    writes = [c.operation for c in made if c.mutating]
    if writes:
        raise RuntimeError(f"the no-op resync wrote: {writes}")
    reads = len(made)
    spent = sum(timer.seconds.values()) or 1.0
    listing = sum(
        s for (svc, op), s in timer.seconds.items() if op in ("DescribeLoadBalancers", "DescribeTargetGroups")
    )
    passes = RESYNC_REPEAT * len(sample)
    per_operation = {f"{svc}:{op}": s / passes for (svc, op), s in timer.seconds.most_common()}
    return Resync(
        services=len(specs),
        sample=len(sample),
        create_seconds=create_seconds,
        create_calls=create,
        provider_seconds=provider_seconds,
        provider_calls=Counts(0, 0, reads),
        floor_seconds=floor_seconds,
        floor_calls=floor.calls,
        listing_share=listing / spent,
        per_operation=per_operation,
    )


def resync_rows(result: Resync) -> list[list[str]]:
    scale = result.services / result.sample
    passes = RESYNC_REPEAT * result.sample
    provider = statistics.median(result.provider_seconds)
    floor = statistics.median(result.floor_seconds)

    def row(name: str, seconds: float, calls: float, writes: float, per_service: float) -> list[str]:
        return [
            name,
            f"{seconds:.1f} s",
            f"{per_service * 1000:.0f} ms",
            f"{calls:.1f}",
            f"{writes:.1f}",
            f"{per_service / (floor / result.sample):.2f}x",
        ]

    n = result.services
    return [
        row(
            f"create all {n} (first ensure of each)",
            result.create_seconds,
            result.create_calls.calls / n,
            (result.create_calls.lb_writes + result.create_calls.sg_writes) / n,
            result.create_seconds / n,
        ),
        row(
            f"no-op resync, provider.ensure (est. from {result.sample})",
            provider * scale,
            result.provider_calls.calls / passes,
            0,
            provider / result.sample,
        ),
        row(
            f"floor: the same state read with boto3 (est. from {result.sample})",
            floor * scale,
            result.floor_calls / passes,
            0,
            floor / result.sample,
        ),
    ]


def run() -> None:
    began, load = time.perf_counter(), os.getloadavg()[0]
    rows = count_rows()
    print_table(
        "aws_calls: API calls per scenario (moto in-process; managed security groups; lower bound beside each)",
        [
            "balancer",
            "scenario",
            "ports",
            "targets",
            "LB writes",
            "min",
            "ratio",
            "SG writes",
            "min",
            "reads",
            "min",
            "all calls",
            "min",
            "ratio",
        ],
        rows,
    )
    print("LB writes: elbv2/elb; SG writes: ec2 (security groups and rules); reads: every Describe*. No call failed.")
    counted = time.perf_counter()

    result = run_resync()
    print_table(
        f"aws_calls: a no-op resync of {result.services} Services (1 TCP port, {RESYNC_NODES} node targets each) "
        "against `cloudlb mock-server aws` (moto's server, another process, loopback)",
        ["pass", f"{result.services} Services", "per Service", "calls / Service", "writes / Service", "vs floor"],
        resync_rows(result),
    )
    samples = ", ".join(f"{s:.2f}" for s in result.provider_seconds)
    floors = ", ".join(f"{s:.2f}" for s in result.floor_seconds)
    print(
        f"resync: median of {RESYNC_REPEAT} interleaved passes over every {RESYNC_SAMPLE_EVERY}th Service "
        f"({result.sample}, each seeing all {result.services} in the region), x{result.services // result.sample}; "
        f"pass seconds: provider {samples}; floor {floors}."
    )
    top = ", ".join(f"{op} {s * 1000:.0f} ms" for op, s in list(result.per_operation.items())[:4])
    print(
        f"provider per Service: {top}; the region-wide listings (DescribeLoadBalancers, DescribeTargetGroups) take "
        f"{result.listing_share:.0%} of its time. Rate limits off; managed security groups off (60 rules a group)."
    )
    ended = time.perf_counter()
    print(
        f"wall: calls {counted - began:.0f} s, resync {ended - counted:.0f} s; "
        f"load average {load:.1f} at the start, {os.getloadavg()[0]:.1f} at the end (2 cores)."
    )


if __name__ == "__main__":
    run()
