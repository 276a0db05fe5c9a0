"""The steps that change security groups and their rules: one builder per kind of change.

Where this sits: ``security_groups.SecurityGroups`` decides what drifted and calls these builders; each returns an
``AwsStep`` (the ``Change`` a plan shows and the EC2 calls that make it). The frontend group's id is learnt when its
create step runs, so rules name it as ``NEW`` until then and ``ManagedGroup`` resolves it at run time.

Errors, and why they are handled so: a rule already present (``InvalidPermission.Duplicate``: an earlier attempt
took effect and its answer was lost) turns into ``TemporaryError``, so the provider observes again and finds the
rule by its tags instead of adding it twice. A rule or group already gone is what a revoke or delete wanted. A group
still in use (``DependencyViolation``: an ENI of a balancer deleted a moment ago) is temporary too.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, NamedTuple

from cloudlb.errors import ConflictError, NotFoundError, PermanentError, TemporaryError
from cloudlb.naming import SERVICE_TAG, UID_TAG
from cloudlb.plan import Action, Change, MapDiff
from cloudlb_aws.clients import AwsClients
from cloudlb_aws.interfaces import AwsStep, LoadBalancerContext
from cloudlb_aws.tagging import to_aws

__all__ = [
    "NEW",
    "ROLE_TAG",
    "Attach",
    "ManagedGroup",
    "Rule",
    "attach_groups",
    "authorize",
    "create_group",
    "delete_group",
    "revoke",
    "set_classic_groups",
    "set_nlb_groups",
    "tag_group",
]

ROLE_TAG = "cloudlb.io/role"  # <kind>-frontend (the balancer's group and its rules) or <kind>-backend (node rules)
NEW = "(new group)"  # the frontend group before its create step ran
GROUP = "security-group"
RULES = "security-group-rules"
IN_USE_RETRY = 5.0  # seconds: how long AWS usually takes to let go of a deleted balancer's network interfaces

Attach = Callable[[AwsClients, str, list[str]], None]  # (clients, balancer id, group ids)


class Rule(NamedTuple):
    """An ingress rule as cloudlb compares them: the group holding it, protocol, port and source (a CIDR or a
    group id). Two rules with the same key are the same rule to EC2."""

    group: str
    protocol: str
    port: int
    source: str

    def label(self) -> str:
        return f"{self.protocol}/{self.port} from {self.source}"


@dataclass
class ManagedGroup:
    """The frontend group's id: observed, or set by its create step when it runs."""

    id: str | None = None

    def require(self) -> str:
        if self.id is None:
            raise PermanentError("internal error: the security group was not created before its rules")
        return self.id

    def resolve(self, rule: Rule) -> Rule:
        """``rule`` with ``NEW`` replaced by the group's id."""
        if NEW not in (rule.group, rule.source):
            return rule
        gid = self.require()
        return rule._replace(
            group=gid if rule.group == NEW else rule.group, source=gid if rule.source == NEW else rule.source
        )


def set_nlb_groups(clients: AwsClients, arn: str, groups: list[str]) -> None:
    """An NLB's groups (``arn`` is its ARN)."""
    clients.call("elbv2", "SetSecurityGroups", LoadBalancerArn=arn, SecurityGroups=groups)


def set_classic_groups(clients: AwsClients, name: str, groups: list[str]) -> None:
    """A classic ELB's groups (``name`` is its name)."""
    clients.call("elb", "ApplySecurityGroupsToLoadBalancer", LoadBalancerName=name, SecurityGroups=groups)


def _labels(rules: Sequence[Rule]) -> tuple[str, ...]:
    return tuple(sorted(r.label() for r in rules))


def _permissions(rules: Sequence[Rule], description: str) -> list[dict[str, Any]]:
    """IpPermissions: one per protocol and port, listing its sources (CIDRs, IPv6 CIDRs, groups)."""
    out: dict[tuple[str, int], dict[str, Any]] = {}
    for rule in rules:
        perm = out.setdefault(
            (rule.protocol, rule.port),
            {"IpProtocol": rule.protocol, "FromPort": rule.port, "ToPort": rule.port},
        )
        if rule.source.startswith("sg-"):
            perm.setdefault("UserIdGroupPairs", []).append({"GroupId": rule.source, "Description": description})
        elif rule.source.startswith("pl-"):
            perm.setdefault("PrefixListIds", []).append({"PrefixListId": rule.source, "Description": description})
        elif ":" in rule.source:
            perm.setdefault("Ipv6Ranges", []).append({"CidrIpv6": rule.source, "Description": description})
        else:
            perm.setdefault("IpRanges", []).append({"CidrIp": rule.source, "Description": description})
    return list(out.values())


def _description(tags: Mapping[str, str]) -> str:
    """What a person reading the group in the console sees: whose rule this is (the tags say it to cloudlb)."""
    text = f"cloudlb.io/service={tags.get(SERVICE_TAG, '')} uid={tags.get(UID_TAG, '')} {tags.get(ROLE_TAG, '')}"
    return text.strip()[:255]


def _authorize(clients: AwsClients, holder: str, rules: Sequence[Rule], tags: Mapping[str, str]) -> None:
    try:
        clients.call(
            "ec2",
            "AuthorizeSecurityGroupIngress",
            GroupId=holder,
            IpPermissions=_permissions(rules, _description(tags)),
            TagSpecifications=[{"ResourceType": "security-group-rule", "Tags": to_aws(tags)}],
        )
    except ConflictError as exc:
        raise TemporaryError(f"a rule on {holder} exists already; observing again: {exc}") from exc


def create_group(
    group: ManagedGroup,
    lb: LoadBalancerContext,
    *,
    name: str,
    description: str,
    tags: Mapping[str, str],
    rules: Sequence[Rule],
    rule_tags: Mapping[str, str],
    taken: bool,
) -> AwsStep:
    """CreateSecurityGroup with its tags (one call, so it is never untagged), then its ingress rules. The balancer's
    steps read ``lb.security_groups`` when they run, after this one."""
    fields = {"vpc": (None, lb.vpc_id), "ingress": (None, list(_labels(rules)))}
    reason = "its name is held by a group without this Service's tags" if taken else "the load balancer's own group"
    change = Change(Action.CREATE, GROUP, name, fields=fields, reason=reason)

    def run(clients: AwsClients) -> str:
        if taken:
            raise ConflictError(
                f"security group {name} exists in {lb.vpc_id} without the tags of service {lb.ref}; "
                "cloudlb never adopts nor deletes it"
            )
        answer = clients.call(
            "ec2",
            "CreateSecurityGroup",
            GroupName=name,
            Description=description,
            VpcId=lb.vpc_id,
            TagSpecifications=[{"ResourceType": "security-group", "Tags": to_aws(tags)}],
        )
        gid = str(answer["GroupId"])
        group.id = gid
        lb.security_groups[:] = [gid]
        if rules:
            _authorize(clients, gid, [group.resolve(r) for r in rules], rule_tags)
        return gid

    return AwsStep((change,), run)


def authorize(
    holder: str, rules: Sequence[Rule], tags: Mapping[str, str], group: ManagedGroup, *, label: str | None = None
) -> AwsStep:
    """One AuthorizeSecurityGroupIngress for the missing ``rules`` of group ``holder``, tagged with ``tags``."""
    change = Change(Action.UPDATE, RULES, label or holder, added=_labels(rules))

    def run(clients: AwsClients) -> str:
        _authorize(clients, holder, [group.resolve(r) for r in rules], tags)
        return holder

    return AwsStep((change,), run)


def revoke(holder: str, rule_ids: Sequence[str], rules: Sequence[Rule], *, label: str) -> AwsStep:
    """One RevokeSecurityGroupIngress by rule id, for cloudlb's rules only (found by their tags)."""
    change = Change(Action.UPDATE, RULES, label, removed=_labels(rules))

    def run(clients: AwsClients) -> str:
        try:
            clients.call("ec2", "RevokeSecurityGroupIngress", GroupId=holder, SecurityGroupRuleIds=list(rule_ids))
        except NotFoundError:
            # One of them is gone already, which fails the whole call: the rest go one at a time.
            for rule_id in rule_ids:
                with contextlib.suppress(NotFoundError):
                    clients.call("ec2", "RevokeSecurityGroupIngress", GroupId=holder, SecurityGroupRuleIds=[rule_id])
        return holder

    return AwsStep((change,), run)


def attach_groups(attach: Attach, lb: LoadBalancerContext, group: ManagedGroup) -> AwsStep:
    """Set an existing balancer's groups to ``lb.security_groups`` as they are when this step runs."""
    wanted = list(lb.security_groups) or [NEW]
    change = Change(Action.UPDATE, "security-groups", lb.name, {"groups": (sorted(lb.current_security_groups), wanted)})

    def run(clients: AwsClients) -> str:
        if lb.arn is None:
            raise PermanentError(f"internal error: no id for load balancer {lb.name}")
        groups = list(lb.security_groups) or [group.require()]
        attach(clients, lb.arn, groups)
        return lb.arn

    return AwsStep((change,), run)


def delete_group(gid: str, name: str, *, reason: str) -> AwsStep:
    """DeleteSecurityGroup; its own rules go with it. Rules elsewhere that reference it are revoked before."""
    change = Change(Action.DELETE, GROUP, f"{name} ({gid})", reason=reason)

    def run(clients: AwsClients) -> str:
        try:
            clients.call("ec2", "DeleteSecurityGroup", GroupId=gid)
        except NotFoundError:
            pass
        except ConflictError as exc:
            raise TemporaryError(
                f"security group {name} ({gid}) is still in use (a balancer's network interface going away, or a "
                f"rule of another group that is not cloudlb's referring to it); retrying: {exc}",
                retry_after=IN_USE_RETRY,
            ) from exc
        return gid

    return AwsStep((change,), run)


def tag_group(gid: str, name: str, diff: MapDiff) -> AwsStep:
    """CreateTags for keys to set, DeleteTags for keys to drop: at most one call each."""
    change = Change(Action.UPDATE, "tags", f"{GROUP} {name}", fields={i.key: (i.old, i.new) for i in diff.items()})

    def run(clients: AwsClients) -> str:
        if diff.set:
            clients.call("ec2", "CreateTags", Resources=[gid], Tags=to_aws(diff.set))
        if diff.remove:
            clients.call("ec2", "DeleteTags", Resources=[gid], Tags=[{"Key": k} for k in sorted(diff.remove)])
        return gid

    return AwsStep((change,), run)
