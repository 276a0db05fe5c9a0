"""The reads of one round: the cluster's two shared balancers, the public IPs, the security group.

Where this sits: every ``plan``/``ensure``/``delete`` of ``AzureProvider`` starts from one ``Observed``, and a round
that fails with a temporary error starts again from a new one. The reads, for a Service: GET the balancer of each
scheme (a Service that changed scheme still has parts on the other one), LIST the public IPs of each resource
group one of its addresses may be in, GET the security group when one is configured. A converged Service costs
these reads and nothing else.

A balancer being deleted reads as absent: it is on its way out, and a write to it would be refused anyway. A
balancer holding a cluster's name without that cluster's tag is foreign: never changed, never deleted.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from cloudlb.model import Scheme, ServiceRef
from cloudlb_azure.arm import Arm, Kind, parse_id
from cloudlb_azure.desired import Scope
from cloudlb_azure.lb import is_cluster_lb
from cloudlb_azure.lb_write import frontend_of
from cloudlb_azure.names import lb_name, service_base

__all__ = ["Observed", "Observer"]

Json = dict[str, Any]


@dataclass
class Observed:
    """``lbs``: this cluster's balancer per scheme (None: absent); ``foreign``: the schemes whose balancer name is
    held by someone else's; ``pips``: every public IP in the groups read; ``nsg``: the configured security group
    (None: not configured, or missing, as ``nsg_missing`` tells)."""

    lbs: dict[Scheme, Json | None]
    foreign: set[Scheme] = field(default_factory=set)
    pips: list[Json] = field(default_factory=list)
    nsg: Json | None = None
    nsg_missing: bool = False

    def frontend_pip(self, ref: ServiceRef) -> str | None:
        """The id (lower case) of the public IP the Service's frontend uses now, on either balancer."""
        base = service_base(ref)
        for lb in self.lbs.values():
            frontend = frontend_of(lb, base)
            pip = ((frontend or {}).get("properties") or {}).get("publicIPAddress") or {}
            if pip.get("id"):
                return str(pip["id"]).lower()
        return None


class Observer:
    def __init__(self, arm: Arm, scope: Scope) -> None:
        self.arm = arm
        self.scope = scope

    def balancers(self, cluster: str) -> Observed:
        lbs: dict[Scheme, Json | None] = {}
        foreign: set[Scheme] = set()
        for scheme in (Scheme.EXTERNAL, Scheme.INTERNAL):
            found = self.arm.get(Kind.LOAD_BALANCERS, self.scope.group, lb_name(cluster, scheme))
            if found is not None and (found.get("properties") or {}).get("provisioningState") == "Deleting":
                found = None
            if found is not None and not is_cluster_lb(found, cluster):
                foreign.add(scheme)
                found = None
            lbs[scheme] = found
        return Observed(lbs, foreign)

    def observe(self, ref: ServiceRef, *, pip_groups: tuple[str, ...] = (), nsg: bool = True) -> Observed:
        """The balancers, the public IPs of the configured group, of ``pip_groups`` and of the group of the
        address the Service's frontend uses now, and the security group (when ``nsg`` and one is configured)."""
        observed = self.balancers(ref.cluster)
        groups = {self.scope.group.lower(): self.scope.group}
        groups.update({group.lower(): group for group in pip_groups})
        in_use = observed.frontend_pip(ref)
        if in_use:
            group = parse_id(in_use)[0]
            groups.setdefault(group.lower(), group)
        for group in groups.values():
            observed.pips += self.arm.list(Kind.PUBLIC_IPS, group)
        name = self.scope.options.security_group_name
        if nsg and name:
            observed.nsg = self.arm.get(Kind.SECURITY_GROUPS, self.scope.network_group, name)
            observed.nsg_missing = observed.nsg is None
        return observed
