"""Network security groups in the fake ARM: security rules with Azure's field rules, priorities unique per
direction, and the six default rules every NSG shows.

Where this sits: ``kinds`` routes NSG PUTs here, and ``securityRules`` child PUTs/DELETEs after merging the rule
into its NSG, so a rule added either way meets the same checks. Subnets reference NSGs; an NSG still referenced
cannot be deleted.
"""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Callable

from cloudlb_azure.fake.common import Json, Validated, kept, render_children
from cloudlb_azure.fake.errors import bad_request
from cloudlb_azure.fake.ids import ResourceRef
from cloudlb_azure.fake.state import ArmState, StoredResource
from cloudlb_azure.fake.validation import children, enum, optional_string, string_list

__all__ = ["RULES", "check_delete", "render", "validate"]

RULES, DEFAULT_RULES = "securityRules", "defaultSecurityRules"

# (name, direction, priority, access, source prefix, destination prefix): what Azure puts in every NSG.
_DEFAULTS = (
    ("AllowVnetInBound", "Inbound", 65000, "Allow", "VirtualNetwork", "VirtualNetwork"),
    ("AllowAzureLoadBalancerInBound", "Inbound", 65001, "Allow", "AzureLoadBalancer", "*"),
    ("DenyAllInBound", "Inbound", 65500, "Deny", "*", "*"),
    ("AllowVnetOutBound", "Outbound", 65000, "Allow", "VirtualNetwork", "VirtualNetwork"),
    ("AllowInternetOutBound", "Outbound", 65001, "Allow", "*", "Internet"),
    ("DenyAllOutBound", "Outbound", 65500, "Deny", "*", "*"),
)
_SERVICE_TAG = re.compile(r"^[A-Za-z][A-Za-z0-9.]*$")
_PORTS = re.compile(r"^(\d{1,5})(?:-(\d{1,5}))?$")


def validate(
    state: ArmState, ref: ResourceRef, location: str, body: Json, existing: StoredResource | None
) -> Validated:
    raw = body.get("properties") or {}
    if not isinstance(raw, dict):
        raise bad_request("InvalidRequestFormat", "Cannot parse the request: properties must be a JSON object.")
    items = children(raw.get(RULES), f"properties.{RULES}", "security rule")
    limit = state.limits.security_rules_per_nsg
    if len(items) > limit:
        raise bad_request(
            "SecurityRulesLimitReached",
            f"Network security group {ref.id} has {len(items)} rules; the limit is {limit}.",
        )
    rules = [_rule(ref, item, i) for i, item in enumerate(items)]
    seen: dict[tuple[str, int], str] = {}
    for item in rules:
        key = (item["properties"]["direction"], item["properties"]["priority"])
        if key in seen:
            raise bad_request(
                "SecurityRuleConflict",
                f"Security rule {seen[key]} conflicts with rule {item['name']}. Rules cannot have the same Priority "
                "and Direction.",
            )
        seen[key] = item["name"]
    props = kept(raw)
    props[RULES] = rules
    return Validated(properties=props)


def _rule(ref: ResourceRef, item: Json, index: int) -> Json:
    where = f"properties.securityRules[{index}].properties"
    raw = item["properties"]
    name = item["name"]
    props = kept(raw)
    props.update(
        protocol=enum(raw.get("protocol"), ("Tcp", "Udp", "Icmp", "Esp", "Ah", "*"), f"{where}.protocol"),
        access=enum(raw.get("access"), ("Allow", "Deny"), f"{where}.access"),
        direction=enum(raw.get("direction"), ("Inbound", "Outbound"), f"{where}.direction"),
    )
    priority = raw.get("priority")
    if isinstance(priority, bool) or not isinstance(priority, int) or not 100 <= priority <= 4096:
        raise bad_request(
            "SecurityRuleInvalidPriority",
            f"Security rule {name} has invalid Priority {priority}. Value provided: {priority} Allowed range 100-4096.",
        )
    props["priority"] = priority
    description = optional_string(raw.get("description"), f"{where}.description")
    if description is not None and len(description) > 140:
        raise bad_request("InvalidRequestFormat", f"{where}.description is longer than 140 characters.")
    for side in ("source", "destination"):
        _one_of(props, raw, f"{side}AddressPrefix", f"{side}AddressPrefixes", where, name, _check_prefix)
        _one_of(props, raw, f"{side}PortRange", f"{side}PortRanges", where, name, _check_ports)
    return {**item, "properties": props}


def _one_of(
    props: Json, raw: Json, single: str, plural: str, where: str, rule: str, check: Callable[[str, str], None]
) -> None:
    """Exactly one of the singular and plural forms, as Azure requires (an empty list counts as absent)."""
    one = optional_string(raw.get(single), f"{where}.{single}")
    many = string_list(raw.get(plural), f"{where}.{plural}")
    if (one is None) == (not many):
        raise bad_request(
            "SecurityRuleParameterContainsUnsupportedValue",
            f"Security rule {rule} must set exactly one of {single} and {plural}.",
        )
    for value in [one] if one is not None else many:
        check(value, rule)
    if one is not None:
        props[single] = one
        props.pop(plural, None)
    else:
        props[plural] = many
        props.pop(single, None)


def _check_prefix(value: str, rule: str) -> None:
    if value == "*" or _SERVICE_TAG.match(value):
        return
    try:
        ipaddress.ip_network(value, strict=False)
    except ValueError:
        raise bad_request(
            "SecurityRuleInvalidAddressPrefix",
            f"Security rule {rule} has invalid Address prefix. Value provided: {value}",
        ) from None


def _check_ports(value: str, rule: str) -> None:
    if value == "*":
        return
    match = _PORTS.match(value)
    low = int(match.group(1)) if match else -1
    high = int(match.group(2) or low) if match else -1
    if not match or not 0 <= low <= high <= 65535:
        raise bad_request(
            "SecurityRuleInvalidPortRange", f"Security rule {rule} has invalid Port range. Value provided: {value}"
        )


def _defaults(res: StoredResource, ps: str) -> list[Json]:
    out = []
    for name, direction, priority, access, source, destination in _DEFAULTS:
        ref = res.ref.child(DEFAULT_RULES, name)
        props = {
            "description": f"Default rule {name}",
            "protocol": "*",
            "sourcePortRange": "*",
            "destinationPortRange": "*",
            "sourceAddressPrefix": source,
            "destinationAddressPrefix": destination,
            "access": access,
            "priority": priority,
            "direction": direction,
            "provisioningState": ps,
        }
        out.append({"name": name, "id": ref.id, "etag": res.etag, "type": ref.arm_type, "properties": props})
    return out


def _subnets_using(state: ArmState, res: StoredResource) -> list[str]:
    out = []
    for vnet in state.all("virtualNetworks"):
        for subnet in vnet.properties.get("subnets", []):
            if str(subnet["properties"].get("networkSecurityGroup", {}).get("id", "")).lower() == res.ref.id.lower():
                out.append(vnet.ref.child("subnets", subnet["name"]).id)
    return out


def render(state: ArmState, res: StoredResource) -> Json:
    ps = state.provisioning_state(res)
    out = kept(res.properties)
    out[RULES] = render_children(res, RULES, ps)
    out[DEFAULT_RULES] = _defaults(res, ps)
    subnets = _subnets_using(state, res)
    if subnets:
        out["subnets"] = [{"id": subnet} for subnet in subnets]
    out["provisioningState"] = ps
    out["resourceGuid"] = res.resource_guid
    return out


def check_delete(state: ArmState, res: StoredResource) -> None:
    subnets = _subnets_using(state, res)
    if subnets:
        raise bad_request(
            "InUseNetworkSecurityGroupCannotBeDeleted",
            f"Network security group {res.ref.id} cannot be deleted because it is in use by the following resources: "
            f"{', '.join(subnets)}.",
        )
