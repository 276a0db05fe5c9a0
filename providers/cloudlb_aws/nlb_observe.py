"""Observing the NLBs and target groups of one Service, found by their tags and never by name alone.

Where this sits: ``nlb.NlbBackend`` calls ``NlbObserver.observe`` before it plans anything. The reads, in order:

1. ``DescribeLoadBalancers``, every page (400 a page): every balancer in the region, of which the NLBs are kept;
2. ``DescribeTargetGroups``, every page: every target group, so that one orphaned by a crash is found too;
3. ``DescribeTags``, 20 ARNs a call, for the ARNs whose owner ``OwnerIndex`` does not know and for this Service's
   (their tags are diffed, so they are read fresh): one call for a Service with up to 19 ports, once warm;
4. ``DescribeListeners`` of the kept NLB (none when there is no NLB yet);
5. per target group the spec still wants: ``DescribeTargetGroupAttributes`` and ``DescribeTargetHealth``.

So a converged NLB with P ports costs 4 + 2P reads. ``update_targets`` (``Depth.TARGETS``) skips the listeners and
the attributes: 3 + P. ``get`` and ``delete`` (``Depth.IDENTITY``) read only the first three: 3. The same listing
tells whose each name is, so a name held by another cluster's balancer is known without another read.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from cloudlb.apply import Classified, classify
from cloudlb.errors import NotFoundError, TemporaryError
from cloudlb.model import ServiceRef
from cloudlb_aws.clients import AwsClients
from cloudlb_aws.interfaces import Depth
from cloudlb_aws.nlb_model import DEFAULT_ATTRIBUTES, AwsTarget
from cloudlb_aws.tagging import OwnerIndex, from_aws

__all__ = [
    "NlbObservation",
    "NlbObserver",
    "ObservedListener",
    "ObservedLoadBalancer",
    "ObservedTargetGroup",
]

_HEALTH_FIELDS = (
    "HealthCheckEnabled",
    "HealthCheckProtocol",
    "HealthCheckPort",
    "HealthCheckPath",
    "HealthCheckIntervalSeconds",
    "HealthCheckTimeoutSeconds",
    "HealthyThresholdCount",
    "UnhealthyThresholdCount",
)
_GONE = frozenset({"draining"})  # deregistered already: neither a member to keep nor one to remove again


@dataclass(frozen=True)
class ObservedListener:
    """A listener of the kept NLB."""

    arn: str
    port: int
    protocol: str
    certificate: str | None
    target_group_arn: str | None


@dataclass(frozen=True)
class ObservedLoadBalancer:
    """An NLB carrying this Service's tags. ``listeners`` is read for the kept one only."""

    arn: str
    name: str
    scheme: str
    vpc_id: str
    dns_name: str
    subnets: tuple[str, ...]
    security_groups: tuple[str, ...]
    tags: Mapping[str, str]
    listeners: tuple[ObservedListener, ...] = ()


@dataclass(frozen=True)
class ObservedTargetGroup:
    """A target group carrying this Service's tags. ``attributes`` and ``targets`` are read for wanted ones only."""

    arn: str
    name: str
    protocol: str
    port: int
    target_type: str
    health_check: Mapping[str, Any]
    tags: Mapping[str, str]
    attributes: Mapping[str, str] | None = None
    targets: frozenset[AwsTarget] | None = None


@dataclass(frozen=True)
class NlbObservation:
    """Everything NLB-side of one Service. ``taken`` are names held by balancers or target groups not of this
    Service (another cluster's, another tool's), which cloudlb must not reuse."""

    ref: ServiceRef
    load_balancers: Classified[ObservedLoadBalancer]
    target_groups: Classified[ObservedTargetGroup]
    taken_names: frozenset[str]
    depth: Depth = Depth.FULL

    @property
    def exists(self) -> bool:
        """Whether the Service has anything NLB-side (a balancer or a target group, its own or stale)."""
        lbs, tgs = self.load_balancers, self.target_groups
        return bool(lbs.mine or lbs.stale or tgs.mine or tgs.stale)


class NlbObserver:
    """The reads of the module docstring, with one ``OwnerIndex`` shared by every Service the provider serves."""

    def __init__(self, clients: AwsClients) -> None:
        self.clients = clients
        self.owners = OwnerIndex(self._fetch_tags)

    def observe(
        self,
        ref: ServiceRef,
        *,
        prefer_name: str | None = None,
        wanted_groups: Iterable[str] = (),
        depth: Depth = Depth.FULL,
    ) -> NlbObservation:
        """This Service's NLBs and target groups. The kept NLB is the one named ``prefer_name`` when there is one.
        Deeper than ``Depth.IDENTITY``, target groups named in ``wanted_groups`` get their targets read, and at
        ``Depth.FULL`` their attributes and the kept NLB's listeners too."""
        balancers = self.list_load_balancers()
        groups = self.list_target_groups()
        self.owners.retain([lb["LoadBalancerArn"] for lb in balancers] + [tg["TargetGroupArn"] for tg in groups])
        try:
            arns = [lb["LoadBalancerArn"] for lb in balancers] + [tg["TargetGroupArn"] for tg in groups]
            tags = self.owners.tags_for(arns, ref)  # one DescribeTags takes balancers and target groups alike
        except NotFoundError as exc:  # deleted between the listing and the tags: look again
            raise TemporaryError(f"resources changed while observing {ref}: {exc}") from exc
        # ``tags`` holds this Service's resources (any uid) only: every other name is someone else's.
        taken = frozenset(lb["LoadBalancerName"] for lb in balancers if lb["LoadBalancerArn"] not in tags) | frozenset(
            tg["TargetGroupName"] for tg in groups if tg["TargetGroupArn"] not in tags
        )
        lbs = classify(
            (_load_balancer(lb, tags[lb["LoadBalancerArn"]]) for lb in balancers if lb["LoadBalancerArn"] in tags),
            ref,
            tags=lambda lb: lb.tags,
            key=lambda lb: lb.arn,
            prefer=(lambda lb: lb.name == prefer_name) if prefer_name else None,
        )
        kept = lbs.kept
        if kept is not None and depth is Depth.FULL:
            lbs = Classified((_with_listeners(kept, self.listeners(kept.arn)), *lbs.duplicates), lbs.stale)
        wanted = frozenset(wanted_groups) if depth is not Depth.IDENTITY else frozenset()
        tgs = classify(
            (
                self._detail(_target_group(tg, tags[tg["TargetGroupArn"]]), wanted, depth)
                for tg in groups
                if tg["TargetGroupArn"] in tags
            ),
            ref,
            tags=lambda tg: tg.tags,
            key=lambda tg: tg.arn,
        )
        return NlbObservation(ref, lbs, tgs, taken, depth)

    def list_load_balancers(self) -> list[dict[str, Any]]:
        """Every NLB in the region (every page of DescribeLoadBalancers)."""
        pages = self.clients.pages("elbv2", "DescribeLoadBalancers", PageSize=400)
        return [lb for page in pages for lb in page.get("LoadBalancers", []) if lb.get("Type") == "network"]

    def list_target_groups(self) -> list[dict[str, Any]]:
        """Every target group in the region (every page of DescribeTargetGroups)."""
        pages = self.clients.pages("elbv2", "DescribeTargetGroups", PageSize=400)
        return [tg for page in pages for tg in page.get("TargetGroups", [])]

    def listeners(self, lb_arn: str) -> tuple[ObservedListener, ...]:
        """The listeners of one NLB."""
        pages = self.clients.pages("elbv2", "DescribeListeners", LoadBalancerArn=lb_arn, PageSize=400)
        return tuple(_listener(item) for page in pages for item in page.get("Listeners", []))

    def targets(self, tg_arn: str) -> frozenset[AwsTarget]:
        """The registered targets of one target group, without those already draining."""
        answer = self.clients.call("elbv2", "DescribeTargetHealth", TargetGroupArn=tg_arn)
        return frozenset(
            AwsTarget(str(d["Target"]["Id"]), int(d["Target"]["Port"]))
            for d in answer.get("TargetHealthDescriptions", [])
            if (d.get("TargetHealth") or {}).get("State") not in _GONE
        )

    def attributes(self, tg_arn: str) -> dict[str, str]:
        """A target group's attributes, with AWS's defaults for the keys it leaves out."""
        answer = self.clients.call("elbv2", "DescribeTargetGroupAttributes", TargetGroupArn=tg_arn)
        return {**DEFAULT_ATTRIBUTES, **{a["Key"]: str(a["Value"]) for a in answer.get("Attributes", [])}}

    def _detail(self, tg: ObservedTargetGroup, wanted: frozenset[str], depth: Depth) -> ObservedTargetGroup:
        if tg.name not in wanted:
            return tg
        attributes = self.attributes(tg.arn) if depth is Depth.FULL else None
        return ObservedTargetGroup(
            tg.arn,
            tg.name,
            tg.protocol,
            tg.port,
            tg.target_type,
            tg.health_check,
            tg.tags,
            attributes,
            self.targets(tg.arn),
        )

    def _fetch_tags(self, arns: Sequence[str]) -> dict[str, dict[str, str]]:
        answer = self.clients.call("elbv2", "DescribeTags", ResourceArns=list(arns))
        return {d["ResourceArn"]: from_aws(d.get("Tags")) for d in answer.get("TagDescriptions", [])}


def _load_balancer(lb: Mapping[str, Any], tags: Mapping[str, str]) -> ObservedLoadBalancer:
    return ObservedLoadBalancer(
        arn=lb["LoadBalancerArn"],
        name=lb["LoadBalancerName"],
        scheme=lb.get("Scheme", ""),
        vpc_id=lb.get("VpcId", ""),
        dns_name=lb.get("DNSName", ""),
        subnets=tuple(sorted(z["SubnetId"] for z in lb.get("AvailabilityZones", []) if z.get("SubnetId"))),
        security_groups=tuple(lb.get("SecurityGroups") or ()),
        tags=tags,
    )


def _with_listeners(lb: ObservedLoadBalancer, listeners: tuple[ObservedListener, ...]) -> ObservedLoadBalancer:
    return ObservedLoadBalancer(
        lb.arn, lb.name, lb.scheme, lb.vpc_id, lb.dns_name, lb.subnets, lb.security_groups, lb.tags, listeners
    )


def _target_group(tg: Mapping[str, Any], tags: Mapping[str, str]) -> ObservedTargetGroup:
    return ObservedTargetGroup(
        arn=tg["TargetGroupArn"],
        name=tg["TargetGroupName"],
        protocol=tg.get("Protocol", ""),
        port=int(tg.get("Port") or 0),
        target_type=tg.get("TargetType", ""),
        health_check={k: tg[k] for k in _HEALTH_FIELDS if k in tg},
        tags=tags,
    )


def _listener(item: Mapping[str, Any]) -> ObservedListener:
    certificates = item.get("Certificates") or []
    actions = item.get("DefaultActions") or []
    forward: Mapping[str, Any] = next((a for a in actions if a.get("Type") == "forward"), {})
    target = forward.get("TargetGroupArn")
    if target is None:
        groups = (forward.get("ForwardConfig") or {}).get("TargetGroups") or []
        target = groups[0]["TargetGroupArn"] if len(groups) == 1 else None
    return ObservedListener(
        arn=item["ListenerArn"],
        port=int(item["Port"]),
        protocol=item.get("Protocol", ""),
        certificate=certificates[0].get("CertificateArn") if certificates else None,
        target_group_arn=target,
    )
