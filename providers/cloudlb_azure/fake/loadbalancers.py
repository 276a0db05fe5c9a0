"""Load balancers in the fake ARM: a Standard SKU balancer and its children, validated as one document.

Where this sits: ``kinds`` routes PUTs of a load balancer, and of its writable children (``backendAddressPools``,
``inboundNatRules``), here after merging the child into its parent; so one set of checks covers every way a
balancer can change. The order matters: frontends, pools and probes first, then the rules that reference them.
"""

from __future__ import annotations

from cloudlb_azure.fake.common import Json, Validated, kept, render_children
from cloudlb_azure.fake.errors import bad_request
from cloudlb_azure.fake.ids import ResourceRef
from cloudlb_azure.fake.lb_parts import FRONTENDS, POOLS, PROBES, LbContext, frontends, pool, probe
from cloudlb_azure.fake.lb_rules import NAT_RULES, RULES, conflicts, nat_rule, rule
from cloudlb_azure.fake.state import ArmState, StoredResource
from cloudlb_azure.fake.validation import children, enum, mapping

__all__ = ["WRITABLE_CHILDREN", "render", "validate"]

WRITABLE_CHILDREN = (POOLS, NAT_RULES)
_WHAT = {
    FRONTENDS: "frontend IP configuration",
    POOLS: "backend address pool",
    PROBES: "probe",
    RULES: "load balancing rule",
    NAT_RULES: "inbound NAT rule",
}


def _sku(value: object, ref: ResourceRef, existing: StoredResource | None) -> Json:
    raw = mapping(value, "sku")
    # An absent SKU means Basic, and Basic load balancers can no longer be created.
    name = enum(raw.get("name"), ("Basic", "Standard", "Gateway"), "sku.name", "Basic")
    if name != "Standard":
        raise bad_request(
            "LoadBalancerSkuNotSupported",
            f"Load balancer {ref.id} asks for SKU {name}; only Standard load balancers can be created "
            "(Basic is retired, and the fake does not model Gateway).",
        )
    tier = enum(raw.get("tier"), ("Regional", "Global"), "sku.tier", "Regional")
    if existing is not None and existing.sku is not None and existing.sku.get("tier") != tier:
        raise bad_request("CannotChangeLoadBalancerSku", f"The SKU tier of {ref.id} cannot be changed.")
    return {"name": name, "tier": tier}


def validate(
    state: ArmState, ref: ResourceRef, location: str, body: Json, existing: StoredResource | None
) -> Validated:
    sku = _sku(body.get("sku"), ref, existing)
    raw = mapping(body.get("properties"), "properties")
    ctx = LbContext(state, ref, location, existing)
    items = {key: children(raw.get(key), f"properties.{key}", what) for key, what in _WHAT.items()}
    _limit(ref, len(items[FRONTENDS]), state.limits.frontend_ip_configurations_per_lb, "frontend IP configurations")
    _limit(ref, len(items[RULES]), state.limits.load_balancing_rules_per_lb, "load balancing rules")
    lb = kept(raw)
    lb[FRONTENDS] = frontends(ctx, items[FRONTENDS])
    lb[POOLS] = [pool(ctx, item, i) for i, item in enumerate(items[POOLS])]
    lb[PROBES] = [probe(ctx, item, i) for i, item in enumerate(items[PROBES])]
    lb[RULES] = [rule(ctx, item, i, lb) for i, item in enumerate(items[RULES])]
    lb[NAT_RULES] = [nat_rule(ctx, item, i, lb) for i, item in enumerate(items[NAT_RULES])]
    kinds = {"subnet" in fe["properties"] for fe in lb[FRONTENDS]}
    if len(kinds) > 1:
        raise bad_request(
            "LoadBalancerWithPublicAndPrivateFrontendIPConfigurations",
            f"Load balancer {ref.id} cannot have both public and private frontend IP configurations.",
        )
    internal = kinds == {True}
    for item in lb[RULES]:
        if item["properties"]["protocol"] == "All" and not internal:
            raise bad_request(
                "HaPortsRequireInternalLoadBalancer",
                f"Rule {ref.child(RULES, item['name']).id} uses all ports, which only internal load balancers allow.",
            )
    conflicts(ctx, lb[RULES], lb[NAT_RULES])
    return Validated(properties=lb, sku=sku)


def _limit(ref: ResourceRef, count: int, limit: int, what: str) -> None:
    if count > limit:
        raise bad_request(
            "LoadBalancerLimitExceeded",
            f"Load balancer {ref.id} has {count} {what}; a Standard load balancer allows {limit}.",
        )


def render(state: ArmState, res: StoredResource) -> Json:
    """The ``properties`` of a load balancer as a GET returns them, back-references included."""
    ps = state.provisioning_state(res)
    users: dict[str, dict[str, dict[str, list[Json]]]] = {FRONTENDS: {}, POOLS: {}, PROBES: {}}

    def used_by(collection: str, target: str, field: str, user: str) -> None:
        name = target.rsplit("/", 1)[-1].lower()
        users[collection].setdefault(name, {}).setdefault(field, []).append({"id": user})

    for collection in (RULES, NAT_RULES):
        for item in res.properties.get(collection, []):
            user = res.ref.child(collection, item["name"]).id
            props = item["properties"]
            used_by(FRONTENDS, props["frontendIPConfiguration"]["id"], collection, user)
            if collection == RULES:
                for pool_ref in props.get("backendAddressPools", []):
                    used_by(POOLS, pool_ref["id"], RULES, user)
                if "probe" in props:
                    used_by(PROBES, props["probe"]["id"], RULES, user)
    out = kept(res.properties, also_computed=_WHAT)
    for collection in _WHAT:
        out[collection] = render_children(res, collection, ps, back_refs=users.get(collection))
    out["provisioningState"] = ps
    out["resourceGuid"] = res.resource_guid
    return out
