"""Public IP addresses in the fake ARM: Standard SKU, Static, an address allocated on create and kept for life,
and an optional DNS label that yields ``<label>.<location>.cloudapp.azure.com``.

Where this sits: ``kinds`` routes public IP PUTs and DELETEs here. Load balancer frontends reference these by ID;
a public IP still referenced cannot be deleted, and a GET shows the frontend using it as ``ipConfiguration``.
Addresses are data only (a 20.x range that is never contacted).
"""

from __future__ import annotations

import re

from cloudlb_azure.fake.common import Json, Validated, kept
from cloudlb_azure.fake.errors import bad_request
from cloudlb_azure.fake.ids import ResourceRef
from cloudlb_azure.fake.lb_parts import public_ip_user
from cloudlb_azure.fake.state import ArmState, StoredResource
from cloudlb_azure.fake.validation import enum, integer, mapping, optional_string

__all__ = ["check_delete", "render", "validate"]

# DNS labels: 3-63 characters, lowercase letters, digits and hyphens, starting with a letter.
_LABEL = re.compile(r"^[a-z][a-z0-9-]{1,61}[a-z0-9]$")


def _fqdn(label: str, location: str) -> str:
    return f"{label}.{location.lower().replace(' ', '')}.cloudapp.azure.com"


def validate(
    state: ArmState, ref: ResourceRef, location: str, body: Json, existing: StoredResource | None
) -> Validated:
    raw_sku = mapping(body.get("sku"), "sku")
    # An absent SKU means Basic, and Basic public IPs can no longer be created.
    sku_name = enum(raw_sku.get("name"), ("Basic", "Standard", "StandardV2"), "sku.name", "Basic")
    if sku_name != "Standard":
        raise bad_request(
            "PublicIPSkuNotSupported",
            f"Public IP {ref.id} asks for SKU {sku_name}; only Standard public IPs can be created here.",
        )
    sku = {"name": sku_name, "tier": enum(raw_sku.get("tier"), ("Regional", "Global"), "sku.tier", "Regional")}
    raw = mapping(body.get("properties"), "properties")
    method = enum(
        raw.get("publicIPAllocationMethod"), ("Static", "Dynamic"), "properties.publicIPAllocationMethod", "Dynamic"
    )
    if method != "Static":
        raise bad_request(
            "StandardSkuPublicIPAddressesMustBeStatic",
            f"Standard SKU public IP {ref.id} must have publicIPAllocationMethod set to Static.",
        )
    version = enum(raw.get("publicIPAddressVersion"), ("IPv4", "IPv6"), "properties.publicIPAddressVersion", "IPv4")
    props = kept(raw, also_computed=("ipAddress", "dnsSettings"))
    props.update(
        publicIPAllocationMethod=method,
        publicIPAddressVersion=version,
        idleTimeoutInMinutes=integer(raw.get("idleTimeoutInMinutes"), "properties.idleTimeoutInMinutes", 4, 30, 4),
    )
    if existing is not None:
        before = existing.properties
        if before["publicIPAddressVersion"] != version or (existing.sku or {}).get("tier") != sku["tier"]:
            raise bad_request(
                "PublicIPAddressPropertyCannotBeChanged", f"The SKU and IP version of {ref.id} cannot be changed."
            )
        props["ipAddress"] = before["ipAddress"]
    else:
        # The address is the service's choice; one a client sends (e.g. echoed from a GET) is ignored.
        props["ipAddress"] = state.allocate_public_ip(version)
    dns = _dns(state, ref, location, mapping(raw.get("dnsSettings"), "properties.dnsSettings"))
    if dns:
        props["dnsSettings"] = dns
    return Validated(properties=props, sku=sku)


def _dns(state: ArmState, ref: ResourceRef, location: str, raw: Json) -> Json:
    label = optional_string(raw.get("domainNameLabel"), "properties.dnsSettings.domainNameLabel")
    out = kept(raw, also_computed=("fqdn", "domainNameLabel"))
    if not label:
        return out
    if not _LABEL.match(label):
        raise bad_request(
            "InvalidDomainNameLabel",
            f"The domain name label {label} is invalid. It must conform to the following regular expression: "
            f"{_LABEL.pattern}.",
        )
    fqdn = _fqdn(label, location)
    for other in state.all("publicIPAddresses"):
        if not other.ref.same(ref) and other.properties.get("dnsSettings", {}).get("fqdn") == fqdn:
            raise bad_request("DnsRecordInUse", f"DNS record {fqdn} is already used by another public IP.")
    out.update(domainNameLabel=label, fqdn=fqdn)
    return out


def render(state: ArmState, res: StoredResource) -> Json:
    out = kept(res.properties)
    user = public_ip_user(state, res)
    if user is not None:
        out["ipConfiguration"] = {"id": user}
    out["ipTags"] = out.get("ipTags", [])
    out["provisioningState"] = state.provisioning_state(res)
    out["resourceGuid"] = res.resource_guid
    return out


def check_delete(state: ArmState, res: StoredResource) -> None:
    user = public_ip_user(state, res)
    if user is not None:
        # Azure answers 400 here (not 409): the request is refused, there is no conflicting write to retry.
        raise bad_request(
            "PublicIPAddressCannotBeDeleted",
            f"Public IP address {res.ref.id} can not be deleted since it is still allocated to resource {user}. "
            "In order to delete the public IP, disassociate/detach the Public IP address from the resource.",
        )
