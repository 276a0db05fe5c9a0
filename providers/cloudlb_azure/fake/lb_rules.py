"""A load balancer's load-balancing rules and inbound NAT rules: references to siblings, and the conflicts the
service refuses.

Where this sits: ``loadbalancers.validate`` calls ``rule``/``nat_rule`` per child, after frontends, pools and
probes, so references can be checked against the same request; then ``conflicts`` over the whole set. References
are stored as canonical IDs so back-references render in one spelling whatever case the client used.
"""

from __future__ import annotations

from collections.abc import Sequence

from cloudlb_azure.fake.common import Json, kept
from cloudlb_azure.fake.errors import bad_request, invalid_reference
from cloudlb_azure.fake.ids import parse_id
from cloudlb_azure.fake.lb_parts import FRONTENDS, POOLS, PROBES, LbContext
from cloudlb_azure.fake.validation import boolean, enum, integer, lookup, mapping, ref_id

__all__ = ["NAT_RULES", "RULES", "conflicts", "nat_rule", "rule"]

RULES, NAT_RULES = "loadBalancingRules", "inboundNatRules"


def _sibling(ctx: LbContext, value: str | None, collection: str, siblings: Sequence[Json], referrer: str) -> str | None:
    """The canonical ID of a child of this same load balancer, or InvalidResourceReference."""
    if value is None:
        return None
    target = parse_id(value, referrer=referrer)
    found = None
    if target.parent.same(ctx.ref) and target.child_kind == collection and target.child_name is not None:
        found = lookup(siblings, target.child_name)
    if found is None:
        raise invalid_reference(value, referrer)
    return ctx.child_id(collection, str(found["name"]))


def _pools(ctx: LbContext, raw: Json, where: str, lb: Json, rid: str) -> list[str]:
    """``backendAddressPool`` and ``backendAddressPools`` together; a GET returns both, so both may come back,
    but they must agree."""
    single = ref_id(raw.get("backendAddressPool"), f"{where}.backendAddressPool")
    listed = raw.get("backendAddressPools")
    if listed is not None and not isinstance(listed, list):
        raise bad_request(
            "InvalidRequestFormat", f"Cannot parse the request: {where}.backendAddressPools must be a list."
        )
    pools: list[str] = []
    for i, entry in enumerate(listed or []):
        value = ref_id(mapping(entry, f"{where}.backendAddressPools[{i}]"), f"{where}.backendAddressPools[{i}]")
        pool_id = _sibling(ctx, value, POOLS, lb[POOLS], rid)
        if pool_id is not None and pool_id not in pools:
            pools.append(pool_id)
    first = _sibling(ctx, single, POOLS, lb[POOLS], rid)
    if first is not None and pools and first not in pools:
        raise bad_request(
            "InvalidRequestFormat", f"{rid}: backendAddressPool {single} is not among its backendAddressPools."
        )
    if first is not None and not pools:
        pools.append(first)
    elif first is not None:
        pools.remove(first)
        pools.insert(0, first)
    return pools


def _required_frontend(ctx: LbContext, raw: Json, where: str, lb: Json, owner: str) -> str:
    """The id of the sibling frontend a rule or NAT rule names; ARM refuses the request without one."""
    frontend = _sibling(
        ctx,
        ref_id(raw.get("frontendIPConfiguration"), f"{where}.frontendIPConfiguration"),
        FRONTENDS,
        lb[FRONTENDS],
        owner,
    )
    if frontend is None:
        raise bad_request(
            "InvalidRequestFormat", f"Cannot parse the request: {where}.frontendIPConfiguration is required."
        )
    return frontend


def rule(ctx: LbContext, item: Json, index: int, lb: Json) -> Json:
    where = f"properties.loadBalancingRules[{index}].properties"
    rid = ctx.child_id(RULES, item["name"])
    raw = item["properties"]
    frontend = _required_frontend(ctx, raw, where, lb, rid)
    pools = _pools(ctx, raw, where, lb, rid)
    probe = _sibling(ctx, ref_id(raw.get("probe"), f"{where}.probe"), PROBES, lb[PROBES], rid)
    protocol = enum(raw.get("protocol"), ("Tcp", "Udp", "All"), f"{where}.protocol")
    frontend_port = integer(raw.get("frontendPort"), f"{where}.frontendPort", 0, 65534)
    backend_port = integer(raw.get("backendPort"), f"{where}.backendPort", 0, 65535, frontend_port)
    if (frontend_port == 0 or backend_port == 0) != (protocol == "All"):
        raise bad_request(
            "InvalidHaPortsRule", f"{rid}: port 0 means all ports and needs protocol All with both ports 0."
        )
    props = kept(raw, also_computed=("backendAddressPool", "backendAddressPools", "probe"))
    props.update(
        frontendIPConfiguration={"id": frontend},
        protocol=protocol,
        frontendPort=frontend_port,
        backendPort=backend_port,
        idleTimeoutInMinutes=integer(raw.get("idleTimeoutInMinutes"), f"{where}.idleTimeoutInMinutes", 4, 100, 4),
        enableFloatingIP=boolean(raw.get("enableFloatingIP"), f"{where}.enableFloatingIP"),
        enableTcpReset=boolean(raw.get("enableTcpReset"), f"{where}.enableTcpReset"),
        disableOutboundSnat=boolean(raw.get("disableOutboundSnat"), f"{where}.disableOutboundSnat"),
        loadDistribution=enum(
            raw.get("loadDistribution"),
            ("Default", "SourceIP", "SourceIPProtocol"),
            f"{where}.loadDistribution",
            "Default",
        ),
    )
    if pools:
        props["backendAddressPool"] = {"id": pools[0]}
        props["backendAddressPools"] = [{"id": pool_id} for pool_id in pools]
    if probe is not None:
        props["probe"] = {"id": probe}
    return {**item, "properties": props}


def nat_rule(ctx: LbContext, item: Json, index: int, lb: Json) -> Json:
    where = f"properties.inboundNatRules[{index}].properties"
    nid = ctx.child_id(NAT_RULES, item["name"])
    raw = item["properties"]
    frontend = _required_frontend(ctx, raw, where, lb, nid)
    props = kept(raw, also_computed=("backendAddressPool",))
    props.update(
        frontendIPConfiguration={"id": frontend},
        protocol=enum(raw.get("protocol"), ("Tcp", "Udp", "All"), f"{where}.protocol"),
        frontendPort=integer(raw.get("frontendPort"), f"{where}.frontendPort", 1, 65534),
        backendPort=integer(raw.get("backendPort"), f"{where}.backendPort", 1, 65535),
        idleTimeoutInMinutes=integer(raw.get("idleTimeoutInMinutes"), f"{where}.idleTimeoutInMinutes", 4, 100, 4),
        enableFloatingIP=boolean(raw.get("enableFloatingIP"), f"{where}.enableFloatingIP"),
        enableTcpReset=boolean(raw.get("enableTcpReset"), f"{where}.enableTcpReset"),
    )
    return {**item, "properties": props}


def _protocols(protocol: str) -> tuple[str, ...]:
    return ("Tcp", "Udp") if protocol == "All" else (protocol,)


def conflicts(ctx: LbContext, rules: Sequence[Json], nat_rules: Sequence[Json]) -> None:
    """The combinations Azure refuses: one frontend port used twice for a protocol, and two rules that would
    deliver to the same backend port of the same pool (without floating IP, or with it on the same frontend)."""
    frontends: dict[tuple[str, str, int], str] = {}
    all_ports: dict[str, str] = {}  # frontend -> the HA-ports rule on it
    backends: dict[tuple[str, str, int, str], str] = {}
    for collection, items in ((RULES, rules), (NAT_RULES, nat_rules)):
        for item in items:
            rid = ctx.child_id(collection, item["name"])
            props = item["properties"]
            fe = props["frontendIPConfiguration"]["id"].lower()
            if props["frontendPort"] == 0:
                if any(key[0] == fe for key in frontends) or fe in all_ports:
                    raise _frontend_conflict(all_ports.get(fe) or _first(frontends, fe), rid, props)
                all_ports[fe] = rid
            for protocol in _protocols(props["protocol"]):
                key = (fe, protocol, props["frontendPort"])
                other = frontends.get(key) or all_ports.get(fe)
                if other is not None and other != rid:
                    raise _frontend_conflict(other, rid, props)
                frontends[key] = rid
            if collection != RULES:
                continue
            floating = props["enableFloatingIP"]
            for pool in props.get("backendAddressPools", []):
                for protocol in _protocols(props["protocol"]):
                    key4 = (pool["id"].lower(), protocol, props["backendPort"], fe if floating else "")
                    other = backends.get(key4)
                    if other is not None:
                        raise _backend_conflict(other, rid, props, pool["id"], floating)
                    backends[key4] = rid


def _first(frontends: dict[tuple[str, str, int], str], fe: str) -> str:
    return next(rid for key, rid in frontends.items() if key[0] == fe)


def _frontend_conflict(other: str, rid: str, props: Json) -> Exception:
    return bad_request(
        "RulesUseSameFrontendIPConfigurationProtocolAndPort",
        f"Rules {other} and {rid} use the same frontend IP configuration {props['frontendIPConfiguration']['id']}, "
        f"protocol {props['protocol']} and frontend port {props['frontendPort']}.",
    )


def _backend_conflict(other: str, rid: str, props: Json, pool: str, floating: bool) -> Exception:
    if floating:
        return bad_request(
            "RulesUseSameBackendPortProtocolAndPoolAndFrontendIPWithFloatingIPEnabled",
            f"Load balancing rules {other} and {rid} with floating IP enabled use the same protocol "
            f"{props['protocol']} and backend port {props['backendPort']} and frontend IP "
            f"{props['frontendIPConfiguration']['id']}, and must not be used with the same backend address pool "
            f"{pool}.",
        )
    return bad_request(
        "RulesUseSameBackendPortProtocolAndPool",
        f"Load balancing rules {other} and {rid} with floating IP disabled use the same protocol {props['protocol']} "
        f"and backend port {props['backendPort']}, and must not be used with the same backend address pool {pool}.",
    )
