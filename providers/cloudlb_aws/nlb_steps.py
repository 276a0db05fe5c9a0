"""The steps that change an NLB, its listeners and its target groups: one function per kind of change.

Where this sits: ``nlb.NlbBackend.converge`` compares desired and observed, field group by field group, and calls
these builders only for what drifted; each returns an ``AwsStep`` (the ``Change`` a plan shows and the calls that
make it). Ids learnt while steps run (the ARN of a balancer or target group created a step earlier) travel in
``Ids``, which each step reads when it runs, not when it is built. Every call goes through ``AwsClients.call``.

Targets change by delta: ``RegisterTargets`` in batches of 200 first, then ``DeregisterTargets`` in batches of 200,
so k changed targets of a group cost ceil(k/200) + ceil(k/200) calls and the group never serves fewer targets
than it will once the change is done.
"""

from __future__ import annotations

import contextlib
import ipaddress
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from cloudlb.errors import ConflictError, NotFoundError, PermanentError, TemporaryError
from cloudlb.plan import Action, Change, MapDiff, batched
from cloudlb_aws.clients import AwsClients
from cloudlb_aws.interfaces import AwsStep, LoadBalancerContext
from cloudlb_aws.nlb_model import (
    DEFAULT_ATTRIBUTES,
    AwsTarget,
    DesiredListener,
    DesiredLoadBalancer,
    DesiredTargetGroup,
)
from cloudlb_aws.nlb_observe import ObservedListener
from cloudlb_aws.subnets import Network
from cloudlb_aws.tagging import to_aws

__all__ = [
    "TARGETS_PER_CALL",
    "Ids",
    "create_listener",
    "create_load_balancer",
    "create_target_group",
    "delete_listener",
    "delete_load_balancer",
    "delete_target_group",
    "modify_attributes",
    "modify_health_check",
    "modify_listener_target",
    "replace_listener",
    "set_subnets",
    "tag_resource",
    "target_delta",
]

TARGETS_PER_CALL = 200
LB = "load-balancer"
TG = "target-group"


@dataclass
class Ids:
    """What the steps of one ensure learn as they run: the NLB (in ``lb``) and each target group's ARN by name."""

    lb: LoadBalancerContext
    target_groups: dict[str, str] = field(default_factory=dict)
    dns_name: str | None = None
    vpc_cidrs: Callable[[], tuple[Network, ...]] = tuple

    def lb_arn(self) -> str:
        """The NLB's ARN; a step needing it runs after the NLB exists."""
        if self.lb.arn is None:
            raise PermanentError(f"internal error: no ARN yet for load balancer {self.lb.name}")
        return self.lb.arn

    def group_arn(self, name: str) -> str:
        """The ARN of target group ``name``, created by an earlier step or observed."""
        arn = self.target_groups.get(name)
        if arn is None:
            raise PermanentError(f"internal error: no ARN yet for target group {name}")
        return arn


def _labels(targets: Iterable[AwsTarget]) -> tuple[str, ...]:
    return tuple(sorted(str(t) for t in targets))


def _aws_targets(group: DesiredTargetGroup, targets: Iterable[AwsTarget], ids: Ids) -> list[dict[str, Any]]:
    """Targets as RegisterTargets takes them. An IP outside the VPC (a peered network) needs zone ``all``."""
    out: list[dict[str, Any]] = []
    cidrs = ids.vpc_cidrs() if group.target_type == "ip" else ()
    for target in sorted(targets):
        item: dict[str, Any] = {"Id": target.id, "Port": target.port}
        if group.target_type == "ip" and not any(ipaddress.ip_address(target.id) in net for net in cidrs):
            item["AvailabilityZone"] = "all"
        out.append(item)
    return out


def _register(clients: AwsClients, arn: str, group: DesiredTargetGroup, targets: Iterable[AwsTarget], ids: Ids) -> None:
    for batch in batched(_aws_targets(group, targets, ids), TARGETS_PER_CALL):
        clients.call("elbv2", "RegisterTargets", TargetGroupArn=arn, Targets=list(batch))


def _deregister(clients: AwsClients, arn: str, targets: Iterable[AwsTarget]) -> None:
    items = [{"Id": t.id, "Port": t.port} for t in sorted(targets)]
    for batch in batched(items, TARGETS_PER_CALL):
        clients.call("elbv2", "DeregisterTargets", TargetGroupArn=arn, Targets=list(batch))


def create_target_group(group: DesiredTargetGroup, tags: Mapping[str, str], ids: Ids, *, reason: str) -> AwsStep:
    """CreateTargetGroup, then its attributes (only those AWS does not default to) and its targets."""
    fields = {
        "protocol": group.protocol,
        "port": group.port,
        "target_type": group.target_type,
        "health_check": {k.removeprefix("HealthCheck"): v for k, v in group.health_check.items()},
    }
    change = Change(
        Action.CREATE, TG, group.name, {k: (None, v) for k, v in fields.items()}, _labels(group.targets), (), reason
    )

    def run(clients: AwsClients) -> str:
        answer = clients.call(
            "elbv2",
            "CreateTargetGroup",
            Name=group.name,
            Protocol=group.protocol,
            Port=group.port,
            VpcId=ids.lb.vpc_id,
            TargetType=group.target_type,
            Tags=to_aws(tags),
            **group.health_check,
        )
        arn = str(answer["TargetGroups"][0]["TargetGroupArn"])
        ids.target_groups[group.name] = arn
        changed = {k: v for k, v in group.attributes.items() if DEFAULT_ATTRIBUTES.get(k) != v}
        if changed:
            attributes = [{"Key": k, "Value": v} for k, v in sorted(changed.items())]
            clients.call("elbv2", "ModifyTargetGroupAttributes", TargetGroupArn=arn, Attributes=attributes)
        _register(clients, arn, group, group.targets, ids)
        return arn

    return AwsStep((change,), run)


def target_delta(
    group: DesiredTargetGroup, arn: str, add: frozenset[AwsTarget], remove: frozenset[AwsTarget], ids: Ids
) -> AwsStep:
    """Register ``add`` (every batch), then deregister ``remove``: the pool never dips below its new self."""
    change = Change(
        Action.UPDATE, "targets", f"{group.name} {group.label}", added=_labels(add), removed=_labels(remove)
    )

    def run(clients: AwsClients) -> str:
        _register(clients, arn, group, add, ids)
        _deregister(clients, arn, remove)
        return arn

    return AwsStep((change,), run, targets_only=True)


def modify_health_check(group: DesiredTargetGroup, arn: str, drift: Mapping[str, tuple[Any, Any]]) -> AwsStep:
    """ModifyTargetGroup with the whole desired health check (AWS needs the path with an HTTP protocol)."""
    change = Change(Action.UPDATE, "health-check", group.name, fields=dict(drift))

    def run(clients: AwsClients) -> str:
        clients.call("elbv2", "ModifyTargetGroup", TargetGroupArn=arn, **group.health_check)
        return arn

    return AwsStep((change,), run)


def modify_attributes(group: DesiredTargetGroup, arn: str, drift: Mapping[str, tuple[Any, Any]]) -> AwsStep:
    """ModifyTargetGroupAttributes with the drifted keys only."""
    change = Change(Action.UPDATE, "attributes", group.name, fields=dict(drift))
    attributes = [{"Key": k, "Value": str(new)} for k, (_, new) in sorted(drift.items())]

    def run(clients: AwsClients) -> str:
        clients.call("elbv2", "ModifyTargetGroupAttributes", TargetGroupArn=arn, Attributes=attributes)
        return arn

    return AwsStep((change,), run)


def tag_resource(kind: str, name: str, arn: str, diff: MapDiff) -> AwsStep:
    """AddTags for keys to set, RemoveTags for keys to drop: at most one call each."""
    change = Change(Action.UPDATE, "tags", f"{kind} {name}", fields={i.key: (i.old, i.new) for i in diff.items()})

    def run(clients: AwsClients) -> str:
        if diff.set:
            clients.call("elbv2", "AddTags", ResourceArns=[arn], Tags=to_aws(diff.set))
        if diff.remove:
            clients.call("elbv2", "RemoveTags", ResourceArns=[arn], TagKeys=sorted(diff.remove))
        return arn

    return AwsStep((change,), run)


def create_load_balancer(
    desired: DesiredLoadBalancer, subnets: tuple[str, ...], tags: Mapping[str, str], ids: Ids, *, reason: str
) -> AwsStep:
    """CreateLoadBalancer (type network) in ``subnets``, with EIPs when asked, and the security groups the
    manager put in the context by the time this runs."""
    shown: dict[str, Any] = {"scheme": desired.scheme, "subnets": list(subnets)}
    if desired.eip_allocations:
        shown["eip_allocations"] = list(desired.eip_allocations)
    change = Change(Action.CREATE, LB, desired.name, {k: (None, v) for k, v in shown.items()}, reason=reason)

    def run(clients: AwsClients) -> str:
        params: dict[str, Any] = {
            "Name": desired.name,
            "Type": "network",
            "Scheme": desired.scheme,
            "IpAddressType": "ipv4",
            "Tags": to_aws(tags),
        }
        if desired.eip_allocations:
            pairs = zip(subnets, desired.eip_allocations, strict=True)
            params["SubnetMappings"] = [{"SubnetId": s, "AllocationId": a} for s, a in pairs]
        else:
            params["Subnets"] = list(subnets)
        if desired.attaches_groups:
            if not ids.lb.security_groups:
                raise PermanentError(f"no security group was prepared for load balancer {desired.name}")
            params["SecurityGroups"] = list(ids.lb.security_groups)
        answer = clients.call("elbv2", "CreateLoadBalancer", **params)["LoadBalancers"][0]
        ids.lb.arn = str(answer["LoadBalancerArn"])
        ids.dns_name = answer.get("DNSName")
        return ids.lb.arn

    return AwsStep((change,), run)


def set_subnets(name: str, arn: str, before: tuple[str, ...], after: tuple[str, ...]) -> AwsStep:
    """SetSubnets on an existing NLB."""
    change = Change(Action.UPDATE, LB, name, fields={"subnets": (list(before), list(after))})

    def run(clients: AwsClients) -> str:
        clients.call("elbv2", "SetSubnets", LoadBalancerArn=arn, Subnets=list(after))
        return arn

    return AwsStep((change,), run)


def _listener_params(listener: DesiredListener, ids: Ids) -> dict[str, Any]:
    params: dict[str, Any] = {
        "Protocol": listener.protocol,
        "Port": listener.port,
        "DefaultActions": [{"Type": "forward", "TargetGroupArn": ids.group_arn(listener.target_group)}],
    }
    if listener.certificate:
        params["Certificates"] = [{"CertificateArn": listener.certificate}]
    return params


def create_listener(listener: DesiredListener, ids: Ids) -> AwsStep:
    """CreateListener on the NLB, forwarding to its target group."""
    shown = {"protocol": listener.protocol, "target_group": listener.target_group}
    if listener.certificate:
        shown["certificate"] = listener.certificate
    change = Change(Action.CREATE, "listener", listener.label, {k: (None, v) for k, v in shown.items()})

    def run(clients: AwsClients) -> str:
        answer = clients.call(
            "elbv2", "CreateListener", LoadBalancerArn=ids.lb_arn(), **_listener_params(listener, ids)
        )
        return str(answer["Listeners"][0]["ListenerArn"])

    return AwsStep((change,), run)


def replace_listener(listener: DesiredListener, have: ObservedListener, ids: Ids) -> AwsStep:
    """A protocol or certificate change: the listener is deleted, then created anew on the same port.

    ELBv2 itself could modify TCP<->TLS and certificates in place; moto, the fake every test runs against, models
    ModifyListener for HTTP(S) only, so the replacement is the one path both agree on.
    """
    drift = {"protocol": (have.protocol, listener.protocol), "certificate": (have.certificate, listener.certificate)}
    drift = {k: v for k, v in drift.items() if v[0] != v[1]}
    change = Change(Action.REPLACE, "listener", listener.label, fields=drift)

    def run(clients: AwsClients) -> str:
        with contextlib.suppress(NotFoundError):
            clients.call("elbv2", "DeleteListener", ListenerArn=have.arn)
        answer = clients.call(
            "elbv2", "CreateListener", LoadBalancerArn=ids.lb_arn(), **_listener_params(listener, ids)
        )
        return str(answer["Listeners"][0]["ListenerArn"])

    return AwsStep((change,), run)


def modify_listener_target(listener: DesiredListener, have: ObservedListener, before: str, ids: Ids) -> AwsStep:
    """ModifyListener pointing the listener at a new target group (which was built and filled first)."""
    change = Change(Action.UPDATE, "listener", listener.label, fields={"target_group": (before, listener.target_group)})

    def run(clients: AwsClients) -> str:
        actions = [{"Type": "forward", "TargetGroupArn": ids.group_arn(listener.target_group)}]
        clients.call("elbv2", "ModifyListener", ListenerArn=have.arn, DefaultActions=actions)
        return have.arn

    return AwsStep((change,), run)


def delete_listener(label: str, arn: str) -> AwsStep:
    """DeleteListener; one already gone is what the step wanted."""
    change = Change(Action.DELETE, "listener", label)

    def run(clients: AwsClients) -> str:
        with contextlib.suppress(NotFoundError):
            clients.call("elbv2", "DeleteListener", ListenerArn=arn)
        return arn

    return AwsStep((change,), run)


def delete_load_balancer(name: str, arn: str, *, reason: str, forget: Callable[[str], None]) -> AwsStep:
    """DeleteLoadBalancer (its listeners go with it)."""
    change = Change(Action.DELETE, LB, f"{name} ({arn})", reason=reason)

    def run(clients: AwsClients) -> str:
        with contextlib.suppress(NotFoundError):
            clients.call("elbv2", "DeleteLoadBalancer", LoadBalancerArn=arn)
        forget(arn)
        return arn

    return AwsStep((change,), run)


def delete_target_group(name: str, arn: str, *, reason: str, forget: Callable[[str], None]) -> AwsStep:
    """DeleteTargetGroup. AWS may call it still in use for a moment after its balancer went: that is temporary,
    and the provider's next round observes again and retries it."""
    change = Change(Action.DELETE, TG, name, reason=reason)

    def run(clients: AwsClients) -> str:
        try:
            clients.call("elbv2", "DeleteTargetGroup", TargetGroupArn=arn)
        except NotFoundError:
            pass
        except ConflictError as exc:
            raise TemporaryError(f"target group {name} is still in use; retrying: {exc}", retry_after=2.0) from exc
        forget(arn)
        return arn

    return AwsStep((change,), run)
