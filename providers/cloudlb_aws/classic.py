"""``ClassicBackend``: a Service's classic ELB (``service.beta.kubernetes.io/aws-load-balancer-type: clb``).

Where this sits: ``AwsProvider`` drives it through the ``Backend`` protocol (interfaces.py), beside the NLB's. The
desired balancer comes from classic_model.py, the calls from classic_steps.py, and its security groups from a
``SecurityGroups`` of kind ``clb`` (security_groups.py): in a VPC a classic ELB always has a group, so with managed
groups it gets its own frontend group and its nodes' groups admit it; with ``manage_security_groups=False`` it
gets the ``-security-groups`` annotation's groups, or the VPC's default.

The reads of ``observe``: DescribeLoadBalancers (every page of 400), DescribeTags for the names whose owner is not
known yet and for this Service's (20 a call), and the two security-group reads by tag. ``converge`` adds the node
reads of node_groups.py (only for instances it does not remember), and for a new balancer the subnet discovery and
the group-name check. A converged classic ELB costs 4 reads for ``ensure`` and 2 for ``update_targets``; nothing is
written unless something drifted.

The order of a converge: stale balancers go first (they hold our name); then the groups' ``before`` steps; the new
balancer (with its listeners and health check) or the kept one's listeners, health check, subnets and tags; the
instances by delta; the balancers this one replaces; the groups' ``after`` steps.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from cloudlb.apply import Classified, classify
from cloudlb.errors import NotFoundError, TemporaryError
from cloudlb.model import Ingress, LoadBalancerSpec, LoadBalancerStatus, OwnedLoadBalancer, ServiceRef
from cloudlb.naming import UID_TAG, Ownership, ownership
from cloudlb.plan import field_drift, map_diff, set_diff
from cloudlb_aws import classic_steps as steps
from cloudlb_aws.classic_model import ClassicListener, DesiredClassic, check_classic, classic_name, desired_classic
from cloudlb_aws.clients import AwsClients
from cloudlb_aws.interfaces import (
    AwsStep,
    AwsWork,
    Convergence,
    Depth,
    LoadBalancerContext,
    PortRule,
    SecurityGroupManager,
)
from cloudlb_aws.options import AwsOptions, LoadBalancerType, ServiceOptions
from cloudlb_aws.security_groups import GroupObservation, SecurityGroups
from cloudlb_aws.subnets import Subnets
from cloudlb_aws.tagging import OwnerIndex, desired_tags, from_aws, managed

__all__ = ["ClassicBackend", "ClassicObservation", "ObservedClassic"]

_STALE = "left by an earlier Service with another uid"


@dataclass(frozen=True)
class ObservedClassic:
    """A classic ELB carrying this Service's tags, as DescribeLoadBalancers reports it."""

    name: str
    dns_name: str
    scheme: str
    vpc_id: str
    subnets: tuple[str, ...]
    security_groups: tuple[str, ...]
    listeners: frozenset[ClassicListener]
    health_check: Mapping[str, Any]
    instances: frozenset[str]
    tags: Mapping[str, str]


@dataclass(frozen=True)
class ClassicObservation:
    """Everything classic of one Service. ``taken`` are names held by balancers that are not this Service's;
    ``groups`` is None when not read (``Depth.TARGETS``, or unmanaged groups)."""

    ref: ServiceRef
    balancers: Classified[ObservedClassic]
    taken: frozenset[str]
    groups: GroupObservation | None
    depth: Depth


class ClassicBackend:
    """The ``Backend`` for ``LoadBalancerType.CLB`` (module docstring). ``security_groups`` is the provider's
    manager: a managed one (``SecurityGroups``) lends its clients and options to this type's own; any other means
    unmanaged groups."""

    type = LoadBalancerType.CLB

    def __init__(
        self,
        clients: AwsClients,
        options: AwsOptions,
        *,
        security_groups: SecurityGroupManager | None = None,
        subnets: Subnets | None = None,
    ) -> None:
        self.clients = clients
        self.options = options
        self.subnets = subnets or Subnets(clients, options)
        self.groups: SecurityGroups | None = None
        if isinstance(security_groups, SecurityGroups):
            self.groups = security_groups.for_classic()
        elif security_groups is None and options.manage_security_groups:
            self.groups = SecurityGroups(clients, options).for_classic()
        self.owners = OwnerIndex(self._fetch_tags)

    def load_balancer_name(self, spec: LoadBalancerSpec, service: ServiceOptions) -> str:
        return classic_name(spec)

    def check(self, spec: LoadBalancerSpec, service: ServiceOptions) -> None:
        """Refuse what a classic ELB cannot do (classic_model.check_classic), without a call."""
        check_classic(spec, service)
        if self.groups is not None:
            self.groups.attaches_groups(spec, service)
        desired_classic(spec, service, self.options)  # a node without an instance id fails here

    # --- observing ------------------------------------------------------------------------------------------------

    def observe(self, spec: LoadBalancerSpec, service: ServiceOptions, depth: Depth = Depth.FULL) -> ClassicObservation:
        """This Service's classic ELBs, found by tags, and (but for ``Depth.TARGETS``) its groups."""
        listing = self._list()
        self.owners.retain(lb["LoadBalancerName"] for lb in listing)
        try:
            tags = self.owners.tags_for([lb["LoadBalancerName"] for lb in listing], spec.ref)
        except NotFoundError as exc:  # deleted between the listing and the tags: look again
            raise TemporaryError(f"classic ELBs changed while observing {spec.ref}: {exc}") from exc
        name = classic_name(spec)
        balancers = classify(
            (_observed(lb, tags[lb["LoadBalancerName"]]) for lb in listing if lb["LoadBalancerName"] in tags),
            spec.ref,
            tags=lambda lb: lb.tags,
            key=lambda lb: lb.name,
            prefer=lambda lb: lb.name == name,
        )
        taken = frozenset(lb["LoadBalancerName"] for lb in listing if lb["LoadBalancerName"] not in tags)
        groups = self.groups.observe(spec.ref) if self.groups is not None and depth is not Depth.TARGETS else None
        return ClassicObservation(spec.ref, balancers, taken, groups, depth)

    def exists(self, observed: ClassicObservation) -> bool:
        lbs = observed.balancers
        return bool(lbs.mine or lbs.stale or (observed.groups is not None and observed.groups.exists))

    def status(self, observed: ClassicObservation) -> LoadBalancerStatus | None:
        kept = observed.balancers.kept
        return None if kept is None else _status(kept.name, kept.dns_name)

    # --- converging -----------------------------------------------------------------------------------------------

    def converge(self, spec: LoadBalancerSpec, service: ServiceOptions, observed: ClassicObservation) -> Convergence:
        """The steps of the module docstring, for what drifted only."""
        desired = desired_classic(spec, service, self.options)
        candidate = observed.balancers.kept
        kept = candidate if candidate is not None and candidate.name == desired.name else None
        learnt = steps.Learnt()

        def status() -> LoadBalancerStatus:
            return _status(desired.name, learnt.dns_name or (kept.dns_name if kept else ""))

        if observed.depth is Depth.TARGETS:
            out = self._instance_steps(desired, kept)
            return Convergence(AwsWork(desired.name, kept.name if kept else None, tuple(out)), status)
        subnets: tuple[str, ...] = ()
        if kept is None:
            resolved = self.subnets.resolve(
                spec.cluster, internal=desired.scheme == "internal", explicit=desired.subnets
            )
            subnets, vpc_id = resolved.ids, resolved.vpc_id
        else:
            vpc_id = kept.vpc_id
        lb = _context(spec, service, desired, kept, vpc_id)
        forget = self.owners.forget
        out = [steps.delete_load_balancer(s.name, reason=_STALE, forget=forget) for s in observed.balancers.stale]
        plan = None
        if self.groups is not None:
            groups = observed.groups if observed.groups is not None else self.groups.observe(spec.ref)
            plan = self.groups.plan_from(groups, spec, service, lb)
            out += plan.before
        else:
            lb.security_groups[:] = list(service.security_groups)
        if kept is None:
            mine = observed.balancers.mine
            reason = "replaces " + ", ".join(b.name for b in mine) if mine else "no classic ELB is tagged for it"
            tags = desired_tags(spec, service)
            out.append(steps.create_load_balancer(desired, subnets, tags, lb, learnt, reason=reason))
        else:
            out += self._drift_steps(spec, service, desired, kept)
        out += self._instance_steps(desired, kept)
        reason = f"replaced by {desired.name}"
        out += [
            steps.delete_load_balancer(b.name, reason=reason, forget=forget)
            for b in observed.balancers.mine
            if b is not kept
        ]
        if plan is not None:
            out += plan.after
        blocked = None
        if kept is None and desired.name in observed.taken:
            blocked = (
                f"{desired.name}: the name is held by a classic ELB without this Service's tags (another cluster's "
                "or another tool's); cloudlb never adopts nor deletes it"
            )
        return Convergence(AwsWork(desired.name, kept.name if kept else None, tuple(out)), status, blocked)

    def _drift_steps(
        self, spec: LoadBalancerSpec, service: ServiceOptions, desired: DesiredClassic, kept: ObservedClassic
    ) -> list[AwsStep]:
        out: list[AwsStep] = []
        add, remove = desired.listeners - kept.listeners, kept.listeners - desired.listeners
        if add or remove:
            replaced = frozenset({lst.port for lst in add} & {lst.port for lst in remove})
            out.append(steps.listener_delta(kept.name, add, remove, replaced=replaced))
        if drift := field_drift(desired.health_check, kept.health_check):
            out.append(steps.configure_health_check(kept.name, desired.health_check, drift))
        wanted = tuple(sorted(desired.subnets))
        if wanted and all(s.startswith("subnet-") for s in wanted) and wanted != kept.subnets:
            out.append(steps.subnet_delta(kept.name, kept.subnets, wanted))
        unmanaged = self.groups is None and service.security_groups
        if unmanaged and set(service.security_groups) != set(kept.security_groups):
            out.append(steps.set_groups(kept.name, kept.security_groups, service.security_groups))
        tags = desired_tags(spec, service, recorded_uid=kept.tags.get(UID_TAG))
        diff = map_diff(tags, kept.tags, ignore=lambda key: not managed(tags, kept.tags)(key))
        if diff:
            out.append(steps.tag_load_balancer(kept.name, diff))
        return out

    def _instance_steps(self, desired: DesiredClassic, kept: ObservedClassic | None) -> list[AwsStep]:
        diff = set_diff(desired.instances, kept.instances if kept else frozenset())
        return [steps.instance_delta(desired.name, diff.add, diff.remove)] if diff else []

    # --- removing and gc ------------------------------------------------------------------------------------------

    def remove(self, observed: ClassicObservation) -> list[AwsStep]:
        """Delete this incarnation's classic ELBs, then its groups' rules and groups (stale ones are left to the
        live Service's ensure, or to gc: observed from a stale uid, they would be the live Service's)."""
        forget = self.owners.forget
        out = [
            steps.delete_load_balancer(b.name, reason="the Service is gone", forget=forget)
            for b in observed.balancers.mine
        ]
        if self.groups is not None:
            groups = observed.groups if observed.groups is not None else self.groups.observe(observed.ref)
            out += self.groups.removal_steps(groups.only_mine())
        return out

    def list_owned(self, cluster: str) -> list[OwnedLoadBalancer]:
        """Every classic ELB whose tags name ``cluster``, and every frontend group of ``cluster`` left without one."""
        listing = self._list()
        names = [lb["LoadBalancerName"] for lb in listing]
        owners = self.owners.owners(names)
        out = [
            OwnedLoadBalancer(owner.cluster, owner.namespace, owner.name, owner.uid, name, name)
            for name in names
            if (owner := owners.get(name)) is not None and owner.cluster == cluster
        ]
        if self.groups is not None:
            out += self.groups.orphans(cluster, (o.ref for o in out))
        return sorted(out, key=lambda o: (o.namespace, o.name, o.cloud_id))

    def observe_owned(self, owned: OwnedLoadBalancer) -> ClassicObservation | None:
        """The classic ELB (or orphan group) ``owned`` names, if its tags still name ``owned.ref``; None for an id
        of another type (an NLB's ARN)."""
        cloud_id = owned.cloud_id
        if cloud_id.startswith("arn:") or (cloud_id.startswith("sg-") and self.groups is None):
            return None
        groups = self.groups.observe(owned.ref).only_mine() if self.groups is not None else None
        mine: tuple[ObservedClassic, ...] = ()
        if not cloud_id.startswith("sg-"):
            try:
                listing = self.clients.call("elb", "DescribeLoadBalancers", LoadBalancerNames=[cloud_id])
                tags = self._fetch_tags([cloud_id]).get(cloud_id, {})
            except NotFoundError:
                listing, tags = {}, {}
            mine = tuple(
                _observed(lb, tags)
                for lb in listing.get("LoadBalancerDescriptions", [])
                if ownership(tags, owned.ref) is Ownership.MINE
            )
        elif groups is not None and not any(g.id == cloud_id for g in groups.groups.mine):
            groups = None  # the group is gone, or no longer this Service's
        return ClassicObservation(owned.ref, Classified(mine, ()), frozenset(), groups, Depth.IDENTITY)

    # --- reads ----------------------------------------------------------------------------------------------------

    def _list(self) -> list[dict[str, Any]]:
        pages = self.clients.pages("elb", "DescribeLoadBalancers", PageSize=400)
        return [lb for page in pages for lb in page.get("LoadBalancerDescriptions", [])]

    def _fetch_tags(self, names: Sequence[str]) -> dict[str, dict[str, str]]:
        answer = self.clients.call("elb", "DescribeTags", LoadBalancerNames=list(names))
        return {d["LoadBalancerName"]: from_aws(d.get("Tags")) for d in answer.get("TagDescriptions", [])}


def _observed(lb: Mapping[str, Any], tags: Mapping[str, str]) -> ObservedClassic:
    listeners = frozenset(
        ClassicListener(
            int(item["LoadBalancerPort"]),
            str(item["Protocol"]).upper(),
            int(item["InstancePort"]),
            item.get("SSLCertificateId") or None,
        )
        for item in (d["Listener"] for d in lb.get("ListenerDescriptions", []))
    )
    return ObservedClassic(
        name=lb["LoadBalancerName"],
        dns_name=lb.get("DNSName", ""),
        scheme=lb.get("Scheme", ""),
        vpc_id=lb.get("VPCId", ""),
        subnets=tuple(sorted(lb.get("Subnets") or ())),
        security_groups=tuple(lb.get("SecurityGroups") or ()),
        listeners=listeners,
        health_check=dict(lb.get("HealthCheck") or {}),
        instances=frozenset(i["InstanceId"] for i in lb.get("Instances", [])),
        tags=tags,
    )


def _context(
    spec: LoadBalancerSpec,
    service: ServiceOptions,
    desired: DesiredClassic,
    kept: ObservedClassic | None,
    vpc_id: str,
) -> LoadBalancerContext:
    """What the security groups need: listener ports in front, node ports and the health-check port behind."""
    frontend = tuple(PortRule("tcp", lst.port) for lst in sorted(desired.listeners))
    backend = [PortRule("tcp", lst.instance_port) for lst in sorted(desired.listeners)]
    backend.append(PortRule("tcp", desired.health_port))
    return LoadBalancerContext(
        ref=spec.ref,
        name=desired.name,
        scheme=desired.scheme,
        vpc_id=vpc_id,
        tags=desired_tags(spec, service),
        frontend=frontend,
        backend=tuple(dict.fromkeys(backend)),
        instance_ids=tuple(sorted(desired.instances)),
        arn=kept.name if kept else None,
        current_security_groups=kept.security_groups if kept else (),
    )


def _status(name: str, dns_name: str) -> LoadBalancerStatus:
    return LoadBalancerStatus(ingress=(Ingress(hostname=dns_name or None),), cloud_name=name, cloud_id=name)
