"""The steps that change a classic ELB: one builder per kind of change, each an ``AwsStep`` on the ``elb`` API.

Where this sits: ``classic.ClassicBackend.converge`` calls these only for what drifted. A classic ELB is known by
its name, which is also what ``LoadBalancerContext.arn`` holds for it once it exists. Instances change by delta:
RegisterInstancesWithLoadBalancer first, then DeregisterInstancesFromLoadBalancer, ``INSTANCES_PER_CALL`` a call.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from cloudlb.errors import NotFoundError
from cloudlb.plan import Action, Change, MapDiff, batched
from cloudlb_aws.classic_model import ClassicListener, DesiredClassic
from cloudlb_aws.clients import AwsClients
from cloudlb_aws.interfaces import AwsStep, LoadBalancerContext
from cloudlb_aws.tagging import to_aws

__all__ = [
    "INSTANCES_PER_CALL",
    "Learnt",
    "configure_health_check",
    "create_load_balancer",
    "delete_load_balancer",
    "instance_delta",
    "listener_delta",
    "set_groups",
    "subnet_delta",
    "tag_load_balancer",
]

INSTANCES_PER_CALL = 200  # the same batch as ELBv2's targets; AWS publishes no lower limit for classic ELBs
LB = "load-balancer"


@dataclass
class Learnt:
    """What a create step learns for the status: the new balancer's DNS name."""

    dns_name: str | None = None


def _listener_labels(listeners: Iterable[ClassicListener]) -> list[str]:
    return sorted(listener.label() for listener in listeners)


def create_load_balancer(
    desired: DesiredClassic,
    subnets: tuple[str, ...],
    tags: Mapping[str, str],
    lb: LoadBalancerContext,
    learnt: Learnt,
    *,
    reason: str,
) -> AwsStep:
    """CreateLoadBalancer with its listeners, subnets, groups (``lb.security_groups`` as they are when this step
    runs) and tags, then ConfigureHealthCheck (AWS's default check is not the spec's)."""
    shown = {
        "scheme": desired.scheme,
        "subnets": list(subnets),
        "listeners": _listener_labels(desired.listeners),
        "health_check": desired.health_check["Target"],
    }
    change = Change(Action.CREATE, LB, desired.name, {k: (None, v) for k, v in shown.items()}, reason=reason)

    def run(clients: AwsClients) -> str:
        params: dict[str, Any] = {
            "LoadBalancerName": desired.name,
            "Listeners": [listener.to_aws() for listener in sorted(desired.listeners)],
            "Subnets": list(subnets),
            "Tags": to_aws(tags),
        }
        if desired.scheme == "internal":
            params["Scheme"] = "internal"
        if lb.security_groups:
            params["SecurityGroups"] = list(lb.security_groups)
        answer = clients.call("elb", "CreateLoadBalancer", **params)
        learnt.dns_name = answer.get("DNSName")
        lb.arn = desired.name
        clients.call(
            "elb", "ConfigureHealthCheck", LoadBalancerName=desired.name, HealthCheck=dict(desired.health_check)
        )
        return desired.name

    return AwsStep((change,), run)


def configure_health_check(name: str, health_check: Mapping[str, Any], drift: Mapping[str, Any]) -> AwsStep:
    """ConfigureHealthCheck with the whole desired check."""
    change = Change(Action.UPDATE, "health-check", name, fields=dict(drift))

    def run(clients: AwsClients) -> str:
        clients.call("elb", "ConfigureHealthCheck", LoadBalancerName=name, HealthCheck=dict(health_check))
        return name

    return AwsStep((change,), run)


def listener_delta(
    name: str, add: frozenset[ClassicListener], remove: frozenset[ClassicListener], *, replaced: frozenset[int]
) -> AwsStep:
    """At most two calls. New ports are created before old ones go; a port whose listener changed (protocol,
    node port, certificate) is deleted first, since a classic ELB has one listener per port."""
    changes = [Change(Action.CREATE, "listener", lst.label()) for lst in sorted(add) if lst.port not in replaced]
    changes += [Change(Action.DELETE, "listener", lst.label()) for lst in sorted(remove) if lst.port not in replaced]
    changes += [
        Change(
            Action.REPLACE,
            "listener",
            f"port {port}",
            fields={
                "listener": (
                    next(lst.label() for lst in remove if lst.port == port),
                    next(lst.label() for lst in add if lst.port == port),
                )
            },
        )
        for port in sorted(replaced)
    ]
    created = [lst.to_aws() for lst in sorted(add)]
    deleted = sorted({lst.port for lst in remove})

    def run(clients: AwsClients) -> str:
        if replaced:
            clients.call("elb", "DeleteLoadBalancerListeners", LoadBalancerName=name, LoadBalancerPorts=deleted)
            clients.call("elb", "CreateLoadBalancerListeners", LoadBalancerName=name, Listeners=created)
            return name
        if created:
            clients.call("elb", "CreateLoadBalancerListeners", LoadBalancerName=name, Listeners=created)
        if deleted:
            clients.call("elb", "DeleteLoadBalancerListeners", LoadBalancerName=name, LoadBalancerPorts=deleted)
        return name

    return AwsStep(tuple(changes), run)


def instance_delta(name: str, add: frozenset[str], remove: frozenset[str]) -> AwsStep:
    """Register ``add`` (every batch), then deregister ``remove``: the pool never dips below its new self."""
    change = Change(Action.UPDATE, "instances", name, added=tuple(sorted(add)), removed=tuple(sorted(remove)))

    def run(clients: AwsClients) -> str:
        for batch in batched(add, INSTANCES_PER_CALL):
            instances = [{"InstanceId": i} for i in batch]
            clients.call("elb", "RegisterInstancesWithLoadBalancer", LoadBalancerName=name, Instances=instances)
        for batch in batched(remove, INSTANCES_PER_CALL):
            instances = [{"InstanceId": i} for i in batch]
            clients.call("elb", "DeregisterInstancesFromLoadBalancer", LoadBalancerName=name, Instances=instances)
        return name

    return AwsStep((change,), run, targets_only=True)


def subnet_delta(name: str, before: tuple[str, ...], after: tuple[str, ...]) -> AwsStep:
    """Attach the new subnets, then detach the old ones."""
    change = Change(Action.UPDATE, LB, name, fields={"subnets": (list(before), list(after))})
    attach = sorted(set(after) - set(before))
    detach = sorted(set(before) - set(after))

    def run(clients: AwsClients) -> str:
        if attach:
            clients.call("elb", "AttachLoadBalancerToSubnets", LoadBalancerName=name, Subnets=attach)
        if detach:
            clients.call("elb", "DetachLoadBalancerFromSubnets", LoadBalancerName=name, Subnets=detach)
        return name

    return AwsStep((change,), run)


def set_groups(name: str, before: tuple[str, ...], after: tuple[str, ...]) -> AwsStep:
    """ApplySecurityGroupsToLoadBalancer with the ``-security-groups`` annotation's groups (unmanaged groups)."""
    change = Change(Action.UPDATE, "security-groups", name, fields={"groups": (sorted(before), list(after))})

    def run(clients: AwsClients) -> str:
        clients.call("elb", "ApplySecurityGroupsToLoadBalancer", LoadBalancerName=name, SecurityGroups=list(after))
        return name

    return AwsStep((change,), run)


def tag_load_balancer(name: str, diff: MapDiff) -> AwsStep:
    """AddTags for keys to set, RemoveTags for keys to drop: at most one call each."""
    change = Change(Action.UPDATE, "tags", f"{LB} {name}", fields={i.key: (i.old, i.new) for i in diff.items()})

    def run(clients: AwsClients) -> str:
        if diff.set:
            clients.call("elb", "AddTags", LoadBalancerNames=[name], Tags=to_aws(diff.set))
        if diff.remove:
            clients.call("elb", "RemoveTags", LoadBalancerNames=[name], Tags=[{"Key": k} for k in sorted(diff.remove)])
        return name

    return AwsStep((change,), run)


def delete_load_balancer(name: str, *, reason: str, forget: Callable[[str], None]) -> AwsStep:
    """DeleteLoadBalancer (its listeners go with it; AWS answers success for a name already gone)."""
    change = Change(Action.DELETE, LB, name, reason=reason)

    def run(clients: AwsClients) -> str:
        with contextlib.suppress(NotFoundError):
            clients.call("elb", "DeleteLoadBalancer", LoadBalancerName=name)
        forget(name)
        return name

    return AwsStep((change,), run)
