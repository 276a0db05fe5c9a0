"""``SecurityGroups``: the managed security group of a Service's balancer and the rules on its nodes' groups.

Where this sits: ``nlb.NlbBackend`` (and ``classic.ClassicBackend``, through ``for_classic``) ask it for the
``SecurityGroupPlan`` of one ensure and for the steps that remove everything on delete (the ``SecurityGroupManager``
protocol of interfaces.py). The calls themselves are built in sg_steps.py.

What it manages, per Service and balancer kind (``nlb`` or ``clb``):
- one *frontend* group on the balancer, named with core naming and tagged like every resource of the Service plus
  ``cloudlb.io/role: <kind>-frontend``, with one ingress rule per source range (0.0.0.0/0 when there is none) and
  listener port and protocol;
- *backend* rules on each node's group (the instance's group tagged ``kubernetes.io/cluster/<cluster>``, else its
  first group) admitting the frontend group on every node port and health-check port.
Each rule is created with the Service's ownership tags and ``cloudlb.io/role`` (``TagSpecifications`` of type
``security-group-rule``, which EC2 and moto both honour) and a description naming the Service for humans. Rules
are found by those tags alone: a rule without them is never revoked, wherever it is. Groups are found by tags too;
one left by a crash is adopted, a stale or duplicate one is removed after the rules that reference it.

The reads of ``plan_steps``: DescribeSecurityGroups (this Service's groups, by tag) and DescribeSecurityGroupRules
(its rules, by tag); the node groups come from node_groups.py, which reads the instances only when it does not
know them yet (it remembers them for five minutes). A group not yet created adds one DescribeSecurityGroups by
name (is the name free?). Converged, that is 2 reads.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass

from cloudlb.apply import Classified, classify
from cloudlb.errors import InvalidSpecError
from cloudlb.model import LoadBalancerSpec, OwnedLoadBalancer, ServiceRef
from cloudlb.naming import CLUSTER_TAG, SERVICE_TAG, UID_TAG, NameRules, owner_of, resource_name
from cloudlb.plan import map_diff
from cloudlb_aws import sg_steps
from cloudlb_aws.clients import AwsClients
from cloudlb_aws.interfaces import AwsStep, LoadBalancerContext, SecurityGroupPlan
from cloudlb_aws.node_groups import NodeGroups
from cloudlb_aws.options import SECURITY_GROUPS, AwsOptions, ServiceOptions
from cloudlb_aws.sg_steps import NEW, ROLE_TAG, Attach, ManagedGroup, Rule
from cloudlb_aws.tagging import from_aws, k8s_cluster_tag, managed

__all__ = [
    "ANYWHERE",
    "ROLE_TAG",
    "SG_NAME_RULES",
    "GroupObservation",
    "ObservedGroup",
    "ObservedRule",
    "Rule",
    "SecurityGroups",
]

ANYWHERE = "0.0.0.0/0"
# EC2 group names: up to 255 characters; "sg-" is reserved for ids.
SG_NAME_RULES = NameRules(max_length=255, allowed="A-Za-z0-9._-", forbidden_prefixes=("sg-",))


@dataclass(frozen=True)
class ObservedGroup:
    """A security group carrying this Service's tags and this kind's frontend role."""

    id: str
    name: str
    vpc_id: str
    tags: Mapping[str, str]


@dataclass(frozen=True)
class ObservedRule:
    """An ingress rule carrying this Service's tags and one of this kind's roles."""

    id: str
    rule: Rule
    tags: Mapping[str, str]


@dataclass(frozen=True)
class GroupObservation:
    """What one Service holds of a kind: its frontend groups and its rules, mine and stale (naming.ownership)."""

    ref: ServiceRef
    groups: Classified[ObservedGroup]
    rules: Classified[ObservedRule]

    @property
    def exists(self) -> bool:
        """Whether the Service holds any group or rule of this kind."""
        return bool(self.groups.mine or self.groups.stale or self.rules.mine or self.rules.stale)

    def only_mine(self) -> GroupObservation:
        """The same without what earlier incarnations left: for removing one incarnation only."""
        return GroupObservation(self.ref, Classified(self.groups.mine, ()), Classified(self.rules.mine, ()))


class SecurityGroups:
    """The ``SecurityGroupManager`` of managed groups (module docstring). ``kind`` names the balancer type whose
    groups these are (so an NLB's and a classic ELB's groups never mix during a type change) and ``attach`` sets an
    existing balancer's groups (SetSecurityGroups for an NLB, whose ``LoadBalancerContext.arn`` is its ARN)."""

    def __init__(
        self,
        clients: AwsClients,
        options: AwsOptions | None = None,
        *,
        kind: str = "nlb",
        attach: Attach = sg_steps.set_nlb_groups,
        nodes: NodeGroups | None = None,
    ) -> None:
        self.clients = clients
        self.options = options
        self.kind = kind
        self.attach = attach
        self.nodes = nodes or NodeGroups(clients)

    def for_classic(self) -> SecurityGroups:
        """The manager of classic ELBs' groups: its own role tags; ``arn`` in the context is the ELB's name."""
        return SecurityGroups(
            self.clients, self.options, kind="clb", attach=sg_steps.set_classic_groups, nodes=self.nodes
        )

    @property
    def frontend_role(self) -> str:
        return f"{self.kind}-frontend"

    @property
    def backend_role(self) -> str:
        return f"{self.kind}-backend"

    def group_name(self, ref: ServiceRef) -> str:
        """The frontend group's name: deterministic, unique per cluster, Service and kind through naming's hash."""
        return resource_name(ref, SG_NAME_RULES, self.kind)

    # --- the SecurityGroupManager protocol ------------------------------------------------------------------------

    def attaches_groups(self, spec: LoadBalancerSpec, service: ServiceOptions) -> bool:
        """Always: a managed balancer always has a group, so that source ranges can change without replacing it.
        Refuses (no call) source ranges with the ``-security-groups`` annotation: they would need the managed
        group, and the annotation's groups are the user's, never written."""
        if service.security_groups and spec.source_ranges:
            raise InvalidSpecError(
                f'metadata.annotations["{SECURITY_GROUPS}"]',
                "source ranges need cloudlb's managed security group; remove the annotation or "
                "spec.loadBalancerSourceRanges (the annotation's groups are used as they are)",
            )
        return True

    def plan_steps(self, spec: LoadBalancerSpec, service: ServiceOptions, lb: LoadBalancerContext) -> SecurityGroupPlan:
        """The steps converging groups and rules for ``spec`` (reads listed in the module docstring)."""
        return self.plan_from(self.observe(spec.ref), spec, service, lb)

    def delete_steps(self, ref: ServiceRef) -> list[AwsStep]:
        """Revoke this Service's rules on other groups, then delete its groups; [] when it holds none."""
        return self.removal_steps(self.observe(ref).only_mine())

    # --- observing ------------------------------------------------------------------------------------------------

    def observe(self, ref: ServiceRef) -> GroupObservation:
        """This Service's groups and rules of this kind, found by their tags (2 reads)."""
        owner = [
            {"Name": f"tag:{CLUSTER_TAG}", "Values": [ref.cluster]},
            {"Name": f"tag:{SERVICE_TAG}", "Values": [ref.service]},
        ]
        groups = [
            ObservedGroup(g["GroupId"], g.get("GroupName", ""), g.get("VpcId", ""), from_aws(g.get("Tags")))
            for page in self.clients.pages(
                "ec2",
                "DescribeSecurityGroups",
                Filters=[*owner, {"Name": f"tag:{ROLE_TAG}", "Values": [self.frontend_role]}],
            )
            for g in page.get("SecurityGroups", [])
        ]
        roles = {"Name": f"tag:{ROLE_TAG}", "Values": [self.frontend_role, self.backend_role]}
        rules = [
            ObservedRule(r["SecurityGroupRuleId"], _rule(r), from_aws(r.get("Tags")))
            for page in self.clients.pages("ec2", "DescribeSecurityGroupRules", Filters=[*owner, roles])
            for r in page.get("SecurityGroupRules", [])
            if not r.get("IsEgress")
        ]
        return GroupObservation(
            ref,
            classify(groups, ref, tags=lambda g: g.tags, key=lambda g: g.id),
            classify(rules, ref, tags=lambda r: r.tags, key=lambda r: r.id),
        )

    # --- planning -------------------------------------------------------------------------------------------------

    def plan_from(
        self, observed: GroupObservation, spec: LoadBalancerSpec, service: ServiceOptions, lb: LoadBalancerContext
    ) -> SecurityGroupPlan:
        """``plan_steps`` over an observation already made (classic.py observes once for get, delete and ensure)."""
        self.attaches_groups(spec, service)
        wants_group = not service.security_groups
        mine = observed.groups.mine
        kept = next((g for g in mine if g.vpc_id == lb.vpc_id), None) if wants_group else None
        duplicates = [g for g in mine if g is not kept]
        group = ManagedGroup(kept.id if kept else None)
        rule_tags = self._rule_tags(lb)

        # Desired rules; NEW stands for the frontend group until its create step has run.
        frontend: set[Rule] = set()
        sources: list[str] = list(service.security_groups)
        if wants_group:
            gid = kept.id if kept else NEW
            sources = [gid]
            ranges = spec.source_ranges or (ANYWHERE,)
            frontend = {Rule(gid, p.protocol, p.port, cidr) for cidr in ranges for p in lb.frontend}
        nodes = self.nodes.resolve(spec.cluster, lb.instance_ids) if lb.instance_ids else ()
        backend = {Rule(n, p.protocol, p.port, s) for n in nodes for s in sources for p in lb.backend}
        lb.security_groups[:] = [kept.id] if kept else ([] if wants_group else sources)

        # What an earlier incarnation left goes first: its group holds the name a new group needs.
        stale = GroupObservation(
            observed.ref, Classified((), observed.groups.stale), Classified((), observed.rules.stale)
        )
        before = self.removal_steps(stale, reason="left by an earlier Service with another uid")
        if wants_group and kept is None:
            name = self.group_name(spec.ref)
            known = {g.id for g in (*mine, *observed.groups.stale)}
            before.append(
                sg_steps.create_group(
                    group,
                    lb,
                    name=name,
                    description=_text(f"cloudlb {self.kind} frontend of {spec.ref.service} in {spec.cluster}"),
                    tags={**lb.tags, ROLE_TAG: self.frontend_role},
                    rules=sorted(frontend),
                    rule_tags={**rule_tags, ROLE_TAG: self.frontend_role},
                    taken=self._name_taken(name, lb.vpc_id, known),
                )
            )

        # Rule deltas: only what is missing is authorized, only what is ours and unwanted is revoked.
        have = {r.rule for r in observed.rules.mine}
        wanted = frontend | backend
        gone = {g.id for g in duplicates}  # their own rules go with them
        unwanted = [r for r in observed.rules.mine if r.rule not in wanted and r.rule.group not in gone]
        if kept is not None:
            add = sorted(frontend - have)
            if add:
                tags = {**rule_tags, ROLE_TAG: self.frontend_role}
                before.append(sg_steps.authorize(kept.id, add, tags, group, label=kept.name))
            drop = [r for r in unwanted if r.rule.group == kept.id]
            if drop:
                before.append(sg_steps.revoke(kept.id, [r.id for r in drop], [r.rule for r in drop], label=kept.name))
        if lb.arn is not None and set(lb.current_security_groups) != set(sources):  # NEW never matches
            before.append(sg_steps.attach_groups(self.attach, lb, group))

        after: list[AwsStep] = []
        for node in nodes:
            add = sorted(r for r in backend - have if r.group == node)
            if add:
                after.append(sg_steps.authorize(node, add, {**rule_tags, ROLE_TAG: self.backend_role}, group))
        elsewhere = [r for r in unwanted if kept is None or r.rule.group != kept.id]
        after += self._revocations(elsewhere)
        reason = "no longer used by the load balancer"
        after += [sg_steps.delete_group(g.id, g.name, reason=reason) for g in duplicates]
        if kept is not None:
            after += self._tag_steps(kept, {**lb.tags, ROLE_TAG: self.frontend_role})
        return SecurityGroupPlan(before=tuple(before), after=tuple(after))

    def removal_steps(self, observed: GroupObservation, *, reason: str = "the Service is gone") -> list[AwsStep]:
        """Everything ``observed`` holds, removed: its rules on groups that stay first, then its groups (a group
        referenced by another group's rule cannot be deleted)."""
        groups = [*observed.groups.mine, *observed.groups.stale]
        gone = {g.id for g in groups}
        rules = [r for r in (*observed.rules.mine, *observed.rules.stale) if r.rule.group not in gone]
        return self._revocations(rules) + [sg_steps.delete_group(g.id, g.name, reason=reason) for g in groups]

    def orphans(self, cluster: str, balancers: Iterable[ServiceRef]) -> list[OwnedLoadBalancer]:
        """Frontend groups of ``cluster`` whose Service (of any uid) has no balancer among ``balancers`` (one read):
        what a crash between creating a group and creating its balancer leaves, listed so that gc can remove it."""
        have = {(r.namespace, r.name) for r in balancers}
        out = []
        filters = [
            {"Name": f"tag:{CLUSTER_TAG}", "Values": [cluster]},
            {"Name": f"tag:{ROLE_TAG}", "Values": [self.frontend_role]},
        ]
        for page in self.clients.pages("ec2", "DescribeSecurityGroups", Filters=filters):
            for g in page.get("SecurityGroups", []):
                owner = owner_of(from_aws(g.get("Tags")))
                if owner is None or owner.cluster != cluster or (owner.namespace, owner.name) in have:
                    continue
                out.append(
                    OwnedLoadBalancer(
                        owner.cluster, owner.namespace, owner.name, owner.uid, g.get("GroupName", ""), g["GroupId"]
                    )
                )
        return out

    # --- helpers --------------------------------------------------------------------------------------------------

    def _rule_tags(self, lb: LoadBalancerContext) -> dict[str, str]:
        """Ownership only: a rule needs to say whose it is, not carry the user's tags."""
        tags = {CLUSTER_TAG: lb.ref.cluster, SERVICE_TAG: lb.ref.service, UID_TAG: lb.ref.uid}
        tags.update({k: lb.tags[k] for k in (CLUSTER_TAG, SERVICE_TAG, UID_TAG) if lb.tags.get(k)})
        tags[k8s_cluster_tag(lb.ref.cluster)] = "owned"
        return tags

    def _name_taken(self, name: str, vpc_id: str, known: set[str]) -> bool:
        """Whether a group of that name that is not among ``known`` (this Service's, found by tags) is in the VPC."""
        filters = [{"Name": "group-name", "Values": [name]}]
        if vpc_id:
            filters.append({"Name": "vpc-id", "Values": [vpc_id]})
        answer = self.clients.call("ec2", "DescribeSecurityGroups", Filters=filters)
        return any(g["GroupId"] not in known for g in answer.get("SecurityGroups", []))

    @staticmethod
    def _revocations(rules: Iterable[ObservedRule]) -> list[AwsStep]:
        """One revoke per group holding any of ``rules``."""
        by_group: dict[str, list[ObservedRule]] = {}
        for r in rules:
            by_group.setdefault(r.rule.group, []).append(r)
        return [
            sg_steps.revoke(holder, [r.id for r in held], [r.rule for r in held], label=holder)
            for holder, held in sorted(by_group.items())
        ]

    def _tag_steps(self, kept: ObservedGroup, wanted: Mapping[str, str]) -> list[AwsStep]:
        ours = managed(wanted, kept.tags)
        # Ownership tags name the group's owner for good: a uid recorded once is never rewritten.
        frozen = {CLUSTER_TAG, SERVICE_TAG, UID_TAG}
        diff = map_diff(wanted, kept.tags, ignore=lambda key: key in frozen or not ours(key))
        return [sg_steps.tag_group(kept.id, kept.name, diff)] if diff else []


def _rule(item: Mapping[str, object]) -> Rule:
    """An observed rule as its key; a port range or protocol cloudlb never writes keys as itself (so is unwanted)."""
    referenced = item.get("ReferencedGroupInfo")
    source = item.get("CidrIpv4") or item.get("CidrIpv6") or item.get("PrefixListId")
    if isinstance(referenced, Mapping) and referenced.get("GroupId"):
        source = referenced["GroupId"]
    low, high = item.get("FromPort"), item.get("ToPort")
    port = int(low) if isinstance(low, int) and low == high else -1
    return Rule(str(item.get("GroupId", "")), str(item.get("IpProtocol", "")), port, str(source or ""))


_ALLOWED = frozenset("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789. _-:/()#,@[]+=&;{}!$*")


def _text(value: str) -> str:
    """A description EC2 accepts (a fixed character set, 255 characters)."""
    return "".join(c if c in _ALLOWED else "_" for c in value)[:255]
