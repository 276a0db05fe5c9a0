"""The public IP of an external Service: which one its frontend uses, and where it came from.

Where this sits: the provider asks ``plan_public_ip`` for the steps that come before the balancer's write (create
the address, or converge its tags and DNS label) and after it (delete the addresses no frontend should use any
more). Provenance decides what may be deleted: an address cloudlb allocated carries the Service's ownership tags
and goes with it; one the Service names (``azure-pip-name``, or ``loadBalancerIP`` matching an existing address)
belongs to its owner and is used as it is, never changed nor deleted.

An allocated address is named per incarnation of the Service (``names.pip_name``): when a Service is deleted and
recreated under the same name, the new one gets a new address and the old one, tagged with the old uid, is
deleted once the frontend no longer uses it (ARM refuses to delete an address still attached).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from cloudlb.apply import classify
from cloudlb.errors import ConflictError, NotFoundError, ProviderError
from cloudlb.model import LoadBalancerSpec, ServiceRef
from cloudlb.naming import UID_TAG, decode_tag_key, ownership_tags
from cloudlb.plan import Action, Change, map_diff
from cloudlb_azure.arm import Kind, parse_id
from cloudlb_azure.context import AzureStep, Context
from cloudlb_azure.desired import Scope
from cloudlb_azure.names import decoded, encoded, pip_name, with_uid
from cloudlb_azure.options import ServiceOptions

__all__ = ["USER_TAGS", "PipPlan", "desired_tags", "owned_by", "plan_public_ip", "removal_steps", "service_pips"]

Json = dict[str, Any]
USER_TAGS = "cloudlb.io/user-tags"  # the user tag keys cloudlb set, comma-separated, so a dropped one is removed
_CLOUDLB = "cloudlb.io/"


@dataclass
class PipPlan:
    """The public IP part of a round: steps before and after the balancer's write, and the frontend's address."""

    before: list[AzureStep] = field(default_factory=list)
    after: list[AzureStep] = field(default_factory=list)
    pip_id: str | None = None
    address: str | None = None
    blocked: list[ProviderError] = field(default_factory=list)


def desired_tags(spec: LoadBalancerSpec, recorded_uid: str | None) -> dict[str, str]:
    """The tags of an address allocated for ``spec`` (as cloudlb reads them; ``names.encoded`` stores them)."""
    tags = dict(spec.tags)
    if tags:
        tags[USER_TAGS] = ",".join(sorted(tags))
    tags.update(ownership_tags(with_uid(spec.ref, recorded_uid)))
    return tags


def _managed(desired: Mapping[str, str], actual: Mapping[str, str]) -> set[str]:
    """The stored keys a tag diff may touch: cloudlb's, the desired ones, and the user keys cloudlb recorded."""
    recorded = {k for k in decoded(actual).get(USER_TAGS, "").split(",") if k}
    return {k for k in actual if decode_tag_key(k).startswith(_CLOUDLB) or decode_tag_key(k) in recorded} | set(desired)


def _props(pip: Mapping[str, Any]) -> Json:
    return dict(pip.get("properties") or {})


def _label(pip: Mapping[str, Any]) -> str | None:
    return (_props(pip).get("dnsSettings") or {}).get("domainNameLabel")


def plan_public_ip(
    spec: LoadBalancerSpec,
    service: ServiceOptions,
    scope: Scope,
    *,
    base: str,
    found: list[Json],
    in_use: str | None,
) -> PipPlan:
    """``found``: every public IP in the groups an address of this Service may be in; ``in_use``: the id (lower
    case) of the address the Service's frontend uses now, if it has one."""
    out = PipPlan()
    ref = spec.ref
    group = service.pip_resource_group or scope.group
    mine = classify(
        found,
        ref,
        tags=lambda p: decoded(p.get("tags")),
        key=lambda p: str(p.get("id", "")).lower(),
        prefer=lambda p: str(p.get("id", "")).lower() == in_use,
    )
    keep: Json | None = None
    if service.pip_name or spec.load_balancer_ip:
        chosen = _named(found, group, service.pip_name, spec.load_balancer_ip)
        if chosen is None:
            what = service.pip_name or f"with address {spec.load_balancer_ip}"
            out.blocked.append(NotFoundError(f"no public IP {what} in resource group {group}"))
            out.pip_id = scope.pip_id(group, service.pip_name or "(not found)")
        else:
            out.pip_id, out.address = str(chosen["id"]), _props(chosen).get("ipAddress")
            keep = chosen
    elif mine.kept is not None:
        keep = mine.kept
        out.pip_id, out.address = str(keep["id"]), _props(keep).get("ipAddress")
        out.before += _converge(keep, spec, service)
    else:
        name = pip_name(base, ref.uid)
        out.pip_id = scope.pip_id(group, name)
        holder = next((p for p in found if str(p.get("id", "")).lower() == out.pip_id.lower()), None)
        if holder is not None:
            out.blocked.append(ConflictError(f"public IP {name} exists without Service {ref.service}'s tags"))
        out.before.append(_create(spec, service, scope, group, name))
    leftovers = [p for p in (*mine.mine, *mine.stale) if p is not keep]
    out.after += removal_steps(leftovers, "no frontend of the Service uses it any more")
    return out


def _named(found: Iterable[Json], group: str, name: str | None, address: str | None) -> Json | None:
    for pip in found:
        in_group = parse_id(str(pip.get("id", "")))[0].lower() == group.lower()
        if name and in_group and str(pip.get("name", "")).lower() == name.lower():
            return pip
        if not name and address and _props(pip).get("ipAddress") == address:
            return pip
    return None


def _create(spec: LoadBalancerSpec, service: ServiceOptions, scope: Scope, group: str, name: str) -> AzureStep:
    props: Json = {"publicIPAllocationMethod": "Static", "publicIPAddressVersion": "IPv4"}
    if service.dns_label:
        props["dnsSettings"] = {"domainNameLabel": service.dns_label}
    body = {
        "location": scope.options.location,
        "sku": {"name": "Standard", "tier": "Regional"},
        "tags": encoded(desired_tags(spec, None)),
        "properties": props,
    }
    shown = {"resource_group": (None, group), "sku": (None, "Standard"), "allocation": (None, "Static")}
    if service.dns_label:
        shown["dns_label"] = (None, service.dns_label)

    def run(ctx: Context) -> str:
        created = ctx.arm.put(Kind.PUBLIC_IPS, group, name, body, create_only=True)
        ctx.resolved.address = _props(created).get("ipAddress")
        return str(created["id"])

    change = Change(Action.CREATE, "public-ip", name, fields=shown, reason="allocated for the Service")
    return AzureStep((change,), run)


def _converge(pip: Json, spec: LoadBalancerSpec, service: ServiceOptions) -> list[AzureStep]:
    """Tag and DNS label drift of an address cloudlb allocated: one PUT when the label changes (it carries the
    tags too), else one PATCH of the tags."""
    group, name = parse_id(str(pip["id"]))
    actual: dict[str, str] = dict(pip.get("tags") or {})
    wanted = encoded(desired_tags(spec, decoded(actual).get(UID_TAG)))
    managed = _managed(wanted, actual)
    diff = map_diff(wanted, actual, ignore=lambda key: key not in managed)
    changes = []
    if diff:
        fields = {decode_tag_key(item.key): (item.old, item.new) for item in diff.items()}
        changes.append(Change(Action.UPDATE, "tags", name, fields=fields))
    tags = diff.apply(actual)
    if _label(pip) == service.dns_label:
        if not changes:
            return []
        return [
            AzureStep(tuple(changes), lambda ctx: str(ctx.arm.patch_tags(Kind.PUBLIC_IPS, group, name, tags)["id"]))
        ]
    changes.append(Change(Action.UPDATE, "public-ip", name, fields={"dns_label": (_label(pip), service.dns_label)}))
    body: Json = {key: pip[key] for key in ("location", "sku", "zones") if key in pip}
    props = _props(pip)
    props["dnsSettings"] = {"domainNameLabel": service.dns_label} if service.dns_label else {}
    body.update(tags=tags, properties=props)
    etag = str(pip.get("etag"))
    return [
        AzureStep(tuple(changes), lambda ctx: str(ctx.arm.put(Kind.PUBLIC_IPS, group, name, body, if_match=etag)["id"]))
    ]


def removal_steps(pips: Iterable[Json], reason: str) -> list[AzureStep]:
    out = []
    for pip in pips:
        group, name = parse_id(str(pip["id"]))

        def run(ctx: Context, group: str = group, name: str = name) -> str:
            ctx.arm.delete(Kind.PUBLIC_IPS, group, name)
            return f"{group}/{name}"

        out.append(AzureStep((Change(Action.DELETE, "public-ip", name, reason=reason),), run))
    return out


def service_pips(pips: Iterable[Json], ref: ServiceRef) -> list[Json]:
    """The addresses of ``ref``'s Service, of this incarnation or an earlier one."""
    found = classify(pips, ref, tags=lambda p: decoded(p.get("tags")), key=lambda p: str(p.get("id")))
    return [*found.mine, *found.stale]


def owned_by(pips: Iterable[Json], ref: ServiceRef) -> list[Json]:
    """The addresses whose tags name ``ref``'s Service exactly (MINE, not an earlier incarnation's)."""
    return list(classify(pips, ref, tags=lambda p: decoded(p.get("tags")), key=lambda p: str(p.get("id"))).mine)
