"""The seams inside the AWS provider: what a load balancer type (``Backend``) and the security-group manager offer.

Where this sits: ``provider.py`` drives one ``Backend`` per load balancer type (``nlb.NlbBackend``,
``classic.ClassicBackend``), and ``nlb`` asks a ``SecurityGroupManager`` (``security_groups.SecurityGroups``) for the
groups of each NLB. Everything they hand back is ``AwsStep``s (``cloudlb.apply.Step``): the ``Change``s a plan shows
and the calls, made through ``AwsClients.call``, that make them. Building steps may read the cloud; only running
them may change it.

``UnmanagedSecurityGroups`` is the manager for ``manage_security_groups=False``: the NLB gets exactly the groups the
``-security-groups`` annotation names, and no rule is ever written.
"""

from __future__ import annotations

import enum
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import NamedTuple, Protocol, TypeVar

from cloudlb.apply import Step, Work
from cloudlb.model import LoadBalancerSpec, LoadBalancerStatus, OwnedLoadBalancer, ServiceRef
from cloudlb.plan import Action, Change
from cloudlb_aws.clients import AwsClients
from cloudlb_aws.options import LoadBalancerType, ServiceOptions

__all__ = [
    "AwsStep",
    "AwsWork",
    "Backend",
    "Convergence",
    "Depth",
    "LoadBalancerContext",
    "PortRule",
    "SecurityGroupManager",
    "SecurityGroupPlan",
    "UnmanagedSecurityGroups",
]

AwsStep = Step[AwsClients, str]  # run(clients) answers the id (ARN, group id, name) of what it touched, or None
AwsWork = Work[AwsClients, str]

Obs = TypeVar("Obs")  # a backend's observation


class Depth(enum.Enum):
    """How much a backend's ``observe`` reads."""

    IDENTITY = "identity"  # which balancers and groups exist, with their tags: for get, delete and list
    TARGETS = "targets"  # and the targets of the groups the spec wants: for update_targets
    FULL = "full"  # and everything ensure compares: listeners, health checks, attributes


@dataclass(frozen=True)
class Convergence:
    """What ``Backend.converge`` answers: the work, the status once it ran, and why ``ensure`` must refuse it.

    ``blocked`` is set when a name the work needs is held by a resource that is not this Service's: ``plan`` still
    shows the work, ``ensure`` raises ``ConflictError`` before any step runs.
    """

    work: AwsWork
    status: Callable[[], LoadBalancerStatus]
    blocked: str | None = None


class PortRule(NamedTuple):
    """An IP protocol (``tcp``/``udp``, as EC2 rules spell it) and a port."""

    protocol: str
    port: int


@dataclass
class LoadBalancerContext:
    """What one ensure knows about the NLB it works on, shared by the NLB's steps and the security-group steps.

    Known when the steps are built: ``ref``, ``name``, ``scheme``, ``vpc_id``, the ports, the instance ids and
    ``tags`` (the tags every resource made for this Service carries). Learnt while they run: ``arn`` (None until the
    NLB exists) and ``security_groups``: the groups the NLB must have. A manager puts existing groups there when it
    builds its steps and a group it creates when its step runs; the NLB's create step reads the list then.
    ``current_security_groups`` are the groups the existing NLB has (empty for a new one).
    """

    ref: ServiceRef
    name: str
    scheme: str  # internet-facing | internal
    vpc_id: str
    tags: Mapping[str, str]
    frontend: tuple[PortRule, ...]  # where clients reach the NLB: one per listener protocol and port
    backend: tuple[PortRule, ...]  # where the NLB reaches targets: traffic ports and health-check ports
    instance_ids: tuple[str, ...] = ()  # node targets, whose security groups admit the NLB
    arn: str | None = None
    current_security_groups: tuple[str, ...] = ()
    security_groups: list[str] = field(default_factory=list)


@dataclass(frozen=True)
class SecurityGroupPlan:
    """The security-group steps of one ensure.

    ``before`` runs before the NLB is created or changed (create the managed group and its ingress rules; on an
    existing NLB, SetSecurityGroups when its groups drifted). ``after`` runs once the NLB and its target groups are in
    place (rules on the nodes' groups; removing rules and groups no longer wanted).
    """

    before: tuple[AwsStep, ...] = ()
    after: tuple[AwsStep, ...] = ()


class SecurityGroupManager(Protocol):
    """The security groups of NLBs: the managed group on the NLB (source ranges) and the rules on the nodes' groups.

    Every rule and group it writes must be identifiable as cloudlb's and this Service's, and ``delete_steps`` must
    leave none behind. With no change needed, ``plan_steps`` returns no step (0 mutating calls).
    """

    def attaches_groups(self, spec: LoadBalancerSpec, service: ServiceOptions) -> bool:
        """Whether the NLB for ``spec`` has security groups at all. No cloud call. AWS fixes this when the NLB is
        created, so a change of answer replaces the NLB (the answer is part of its name)."""
        ...

    def plan_steps(self, spec: LoadBalancerSpec, service: ServiceOptions, lb: LoadBalancerContext) -> SecurityGroupPlan:
        """The steps that converge the groups and rules for ``spec``; may read the cloud, never writes."""
        ...

    def delete_steps(self, ref: ServiceRef) -> list[AwsStep]:
        """Steps removing every group and rule made for ``ref`` (matching its uid as ``naming.ownership`` does),
        run after the NLB and its target groups are gone; [] when there is none. May read, never writes."""
        ...

    def orphans(self, cluster: str, balancers: Iterable[ServiceRef]) -> list[OwnedLoadBalancer]:
        """Managed groups of ``cluster`` whose Service has no balancer among ``balancers`` (what a crash between
        creating the group and creating the NLB leaves), as gc entries whose ``cloud_id`` is the group's id."""
        ...


class UnmanagedSecurityGroups:
    """``manage_security_groups=False``: the NLB gets the annotation's groups as they are; no rule is written."""

    def __init__(self, clients: AwsClients) -> None:
        self.clients = clients

    def attaches_groups(self, spec: LoadBalancerSpec, service: ServiceOptions) -> bool:
        """True when the Service names groups with ``-security-groups``."""
        return bool(service.security_groups)

    def plan_steps(self, spec: LoadBalancerSpec, service: ServiceOptions, lb: LoadBalancerContext) -> SecurityGroupPlan:
        """Hand the annotation's groups to the NLB, and set them on an existing one whose groups differ."""
        wanted = list(service.security_groups)
        lb.security_groups[:] = wanted
        if lb.arn is None or not wanted or set(wanted) == set(lb.current_security_groups):
            return SecurityGroupPlan()
        arn = lb.arn
        change = Change(
            Action.UPDATE,
            "security-groups",
            lb.name,
            fields={"groups": (sorted(lb.current_security_groups), sorted(wanted))},
        )

        def run(clients: AwsClients) -> str:
            clients.call("elbv2", "SetSecurityGroups", LoadBalancerArn=arn, SecurityGroups=wanted)
            return arn

        return SecurityGroupPlan(before=(AwsStep((change,), run),))

    def delete_steps(self, ref: ServiceRef) -> list[AwsStep]:
        """Nothing was made, so nothing is removed."""
        return []

    def orphans(self, cluster: str, balancers: Iterable[ServiceRef]) -> list[OwnedLoadBalancer]:
        """Nothing was made, so nothing is left over."""
        return []


class Backend(Protocol[Obs]):
    """One AWS load balancer type. The provider observes every backend for a spec, converges the one its type
    names and removes what the others hold for the Service: that is how a type change replaces the balancer (the
    new one is built before the old one goes)."""

    type: LoadBalancerType

    def load_balancer_name(self, spec: LoadBalancerSpec, service: ServiceOptions) -> str:
        """The balancer's name for ``spec``: deterministic and within AWS's limits. No cloud call."""
        ...

    def check(self, spec: LoadBalancerSpec, service: ServiceOptions) -> None:
        """Refuse, without any cloud call, a spec this type cannot serve (``InvalidSpecError`` naming the field, or
        ``UnsupportedFeatureError``)."""
        ...

    def observe(self, spec: LoadBalancerSpec, service: ServiceOptions, depth: Depth = Depth.FULL) -> Obs:
        """Read what this type holds for ``spec``'s Service, found by tags, as deep as ``depth``. Reads only.
        ``get`` and ``delete`` pass an identity-only spec and the options parsed from it."""
        ...

    def exists(self, observed: Obs) -> bool:
        """Whether ``observed`` holds anything of the Service (a balancer, a group, its own or stale)."""
        ...

    def converge(self, spec: LoadBalancerSpec, service: ServiceOptions, observed: Obs) -> Convergence:
        """The work making the cloud match ``spec`` (observed at ``Depth.FULL``): no step when it already does.
        Target-pool steps are marked ``targets_only``; with an observation at ``Depth.TARGETS``, only those are
        meaningful. May read (e.g. subnets for a new balancer), never writes."""
        ...

    def remove(self, observed: Obs) -> list[AwsStep]:
        """Steps deleting everything ``observed`` holds for the Service, security groups included; [] if nothing."""
        ...

    def status(self, observed: Obs) -> LoadBalancerStatus | None:
        """The Service's balancer of this type as ``status.loadBalancer``, or None when there is none."""
        ...

    def list_owned(self, cluster: str) -> list[OwnedLoadBalancer]:
        """Every balancer of this type whose tags name ``cluster``."""
        ...

    def observe_owned(self, owned: OwnedLoadBalancer) -> Obs | None:
        """What ``remove`` should delete for ``owned`` (from ``list_owned``): None when ``owned.cloud_id`` is not of
        this type. The id alone proves nothing: only resources whose tags still name ``owned.ref`` are included."""
        ...
