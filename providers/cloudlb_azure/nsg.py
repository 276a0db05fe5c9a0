"""A Service's rules in the cluster's network security group: who may reach its frontend.

Where this sits: the provider builds one step from ``nsg_step`` after the balancer's (the rules' destination is the
frontend's address, which a new frontend only has once created). The group is shared with the cluster and with
whoever else writes rules to it, so the step is a read-modify-write under ``If-Match``, retried on 412, that
touches only this Service's rules: those named ``<base>-tcp``/``<base>-udp`` whose description names the Service
(names.py). Every other rule, and every other property of the group, is written back as read.

One rule per protocol: from the Service's source ranges (``loadBalancerSourceRanges``, its annotation, or
``azure-allowed-ip-ranges``), or from ``Internet`` for an external Service without ranges (the group denies
inbound internet traffic by default). An internal Service without ranges needs none: the default rules already let
the virtual network in. The destination is what the targets see: without floating IP the balancer rewrites it to a
target's own address and port, so the rule opens the targets' ports (nodePorts, or the pods' ports) to
``VirtualNetwork``, which holds every target and does not change when they do (cloud-provider-azure lists the node
IPs instead, so every node change rewrites the group, and large clusters run out of prefixes). With floating IP the
packets keep the frontend's address and port, so the rule names those. Priorities are the lowest free ones from
``FIRST_PRIORITY``, and a rule keeps its priority for life.
"""

from __future__ import annotations

import copy
from collections.abc import Mapping, Sequence
from typing import Any

from cloudlb.errors import ConflictError, PermanentError
from cloudlb.model import LoadBalancerSpec, Protocol, Scheme, ServiceRef
from cloudlb.naming import Ownership, ownership
from cloudlb.plan import Action, Change
from cloudlb_azure.arm import Kind, StaleEtagError
from cloudlb_azure.context import AzureStep, Context
from cloudlb_azure.desired import target_port
from cloudlb_azure.lb import drift
from cloudlb_azure.names import description_owner, is_nsg_rule_of, nsg_description, nsg_rule_name
from cloudlb_azure.options import ServiceOptions

__all__ = [
    "FIRST_PRIORITY",
    "LAST_PRIORITY",
    "PENDING_ADDRESS",
    "desired_rules",
    "nsg_converge",
    "nsg_step",
    "rule_owner",
]

Json = dict[str, Any]
FIRST_PRIORITY, LAST_PRIORITY = 500, 4096
PENDING_ADDRESS = "(the frontend's address, once assigned)"
RULES = "securityRules"
ETAG_ATTEMPTS = 10


def desired_rules(
    spec: LoadBalancerSpec, service: ServiceOptions, ref: ServiceRef, base: str, address: str | None
) -> list[Json]:
    """The Service's rules (without priorities); ``ref`` carries the uid to record in their description."""
    if not service.source_ranges and spec.scheme is Scheme.INTERNAL:
        return []
    out = []
    for protocol in (Protocol.TCP, Protocol.UDP):
        listeners = [listener for listener in spec.listeners if listener.protocol is protocol]
        if not listeners:
            continue
        if service.floating_ip:
            destination = address or PENDING_ADDRESS
            ports = sorted({listener.port for listener in listeners})
        else:
            destination = "VirtualNetwork"
            ports = sorted({target_port(listener, spec.target_mode) for listener in listeners})
        ranges = list(service.source_ranges)
        out.append(
            {
                "name": nsg_rule_name(base, protocol.value),
                "properties": {
                    "description": nsg_description(ref),
                    "protocol": protocol.value.capitalize(),
                    "access": "Allow",
                    "direction": "Inbound",
                    "sourcePortRange": "*",
                    "sourceAddressPrefix": None if ranges else "Internet",
                    "sourceAddressPrefixes": ranges or None,
                    "destinationAddressPrefix": destination,
                    "destinationPortRange": None,
                    "destinationPortRanges": [str(port) for port in ports],
                },
            }
        )
    return out


def rule_owner(rule: Mapping[str, Any], base: str, ref: ServiceRef) -> Ownership | None:
    """None for a rule not named like ``base``'s; else whose its description says it is."""
    if not is_nsg_rule_of(str(rule.get("name", "")), base):
        return None
    return ownership(description_owner((rule.get("properties") or {}).get("description"), ref), ref)


def nsg_converge(
    current: Json,
    wanted: Sequence[Json],
    *,
    ref: ServiceRef,
    base: str,
    max_rules: int,
    claim: frozenset[Ownership] = frozenset({Ownership.MINE, Ownership.STALE}),
) -> tuple[list[Change], Json | None]:
    """The changes that bring ``ref``'s rules in ``current`` to ``wanted``, and the group to PUT (None: none).
    ``claim``: which of the Service's rules are replaced (an ensure also takes over an earlier incarnation's; a
    delete removes only the exact Service's)."""
    props = current.get("properties") or {}
    rules: list[Json] = list(props.get(RULES) or [])
    ours = {}
    for rule in rules:
        owner = rule_owner(rule, base, ref)
        if owner is Ownership.FOREIGN and any(str(w["name"]).lower() == str(rule["name"]).lower() for w in wanted):
            raise ConflictError(f"security rule {rule['name']} exists without Service {ref.service}'s description")
        if owner in claim:
            ours[str(rule["name"]).lower()] = rule
    changes: list[Change] = []
    kept: list[Json] = [r for r in rules if str(r["name"]).lower() not in ours]
    taken = {
        (r.get("properties") or {}).get("priority")
        for r in rules
        if (r.get("properties") or {}).get("direction") == "Inbound"
    }
    for want in wanted:
        have = ours.pop(str(want["name"]).lower(), None)
        if have is None:
            priority = next((p for p in range(FIRST_PRIORITY, LAST_PRIORITY + 1) if p not in taken), None)
            if priority is None:
                raise PermanentError(f"no free inbound priority from {FIRST_PRIORITY} to {LAST_PRIORITY} is left")
            taken.add(priority)
            shown = {k: (None, v) for k, v in want["properties"].items() if v is not None}
            changes.append(
                Change(Action.CREATE, "security-rule", want["name"], fields={**shown, "priority": (None, priority)})
            )
            kept.append({"name": want["name"], "properties": {**want["properties"], "priority": priority}})
            continue
        found = drift(want["properties"], have.get("properties") or {})
        if found:
            changes.append(Change(Action.UPDATE, "security-rule", want["name"], fields=found))
            priority = (have.get("properties") or {}).get("priority")
            kept.append({"name": have["name"], "properties": {**want["properties"], "priority": priority}})
        else:
            kept.append(have)
    changes += [Change(Action.DELETE, "security-rule", str(rule["name"])) for rule in ours.values()]
    if not changes:
        return changes, None
    if len(kept) > max_rules:
        raise PermanentError(f"the security group would hold {len(kept)} rules; Azure allows {max_rules}")
    new = copy.deepcopy(current)
    new.setdefault("properties", {})[RULES] = kept
    return changes, new


def nsg_step(
    changes: Sequence[Change],
    first: Json,
    wanted: Any,
    *,
    group: str,
    name: str,
    ref: ServiceRef,
    base: str,
    max_rules: int,
    claim: frozenset[Ownership] = frozenset({Ownership.MINE, Ownership.STALE}),
) -> AzureStep:
    """The group's read-modify-write. ``wanted(address)`` builds the rules once the frontend's address is known;
    the first attempt uses the group as observed, a 412 re-reads it."""

    def run(ctx: Context) -> str:
        current: Json | None = first
        for _ in range(ETAG_ATTEMPTS):
            if current is None:
                raise PermanentError(f"network security group {name} in {group} is gone")
            _, new = nsg_converge(
                current, wanted(ctx.resolved.address), ref=ref, base=base, max_rules=max_rules, claim=claim
            )
            if new is None:
                return str(current.get("id"))
            try:
                return str(ctx.arm.put(Kind.SECURITY_GROUPS, group, name, new, if_match=str(current.get("etag")))["id"])
            except StaleEtagError:
                current = ctx.arm.get(Kind.SECURITY_GROUPS, group, name)
        raise StaleEtagError(f"network security group {name}: changed under every one of {ETAG_ATTEMPTS} writes")

    return AzureStep(tuple(changes), run)
