"""ARM resource IDs and names for the fake: parsing, building and the naming rules ARM enforces.

Where this sits: the router parses request paths with ``parse_path``; validators resolve references between
resources (a rule's probe, a frontend's public IP) with ``parse_id``. ARM compares IDs and names without regard to
case, so lookups go through ``key``; responses keep the case a resource was created with.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from cloudlb_azure.fake.errors import ArmError, bad_request

__all__ = [
    "CHILDREN",
    "KINDS",
    "NAMESPACE",
    "ResourceRef",
    "canonical_child",
    "canonical_kind",
    "check_group_name",
    "check_name",
    "parse_id",
]

NAMESPACE = "Microsoft.Network"

# The top-level collections the fake serves, and the child collections of each, in ARM's spelling.
KINDS = ("loadBalancers", "publicIPAddresses", "networkSecurityGroups", "virtualNetworks")
CHILDREN: dict[str, tuple[str, ...]] = {
    "loadBalancers": (
        "frontendIPConfigurations",
        "backendAddressPools",
        "loadBalancingRules",
        "probes",
        "inboundNatRules",
    ),
    "publicIPAddresses": (),
    "networkSecurityGroups": ("securityRules", "defaultSecurityRules"),
    "virtualNetworks": ("subnets",),
}

# Network resource names: 1-80 characters of letters, digits, '_', '.' and '-'; they start with a letter or digit
# and end with a letter, digit or '_'.
_NAME = re.compile(r"^[A-Za-z0-9](?:[A-Za-z0-9_.-]{0,78}[A-Za-z0-9_])?$")
# Resource group names: 1-90 characters of word characters, '(', ')', '.' and '-', not ending in '.'.
_GROUP = re.compile(r"^[-\w.()]{0,89}[-\w()]$")


def canonical_kind(segment: str) -> str | None:
    lowered = segment.lower()
    return next((kind for kind in KINDS if kind.lower() == lowered), None)


def canonical_child(kind: str, segment: str) -> str | None:
    lowered = segment.lower()
    return next((child for child in CHILDREN.get(kind, ()) if child.lower() == lowered), None)


def check_name(name: str, what: str) -> None:
    if not _NAME.match(name):
        raise bad_request(
            "InvalidResourceName",
            f"Resource name {name!r} for {what} is invalid. The name can be up to 80 characters long. It must begin "
            "with a word character, and it must end with a word character or with '_'. The name may contain word "
            "characters or '.', '-', '_'.",
        )


def check_group_name(name: str) -> None:
    if not _GROUP.match(name):
        raise bad_request("InvalidResourceGroup", f"The provided resource group name {name!r} has invalid characters.")


@dataclass(frozen=True)
class ResourceRef:
    """A Microsoft.Network resource, or one child of it. ``kind`` and ``child_kind`` are in ARM's spelling."""

    subscription: str
    group: str
    kind: str
    name: str
    child_kind: str | None = None
    child_name: str | None = None

    @property
    def key(self) -> tuple[str, str, str]:
        """How the state indexes the top-level resource: case-insensitive, like ARM."""
        return (self.kind, self.group.lower(), self.name.lower())

    @property
    def arm_type(self) -> str:
        base = f"{NAMESPACE}/{self.kind}"
        return f"{base}/{self.child_kind}" if self.child_kind else base

    @property
    def parent(self) -> ResourceRef:
        return ResourceRef(self.subscription, self.group, self.kind, self.name)

    def child(self, child_kind: str, child_name: str) -> ResourceRef:
        return ResourceRef(self.subscription, self.group, self.kind, self.name, child_kind, child_name)

    @property
    def id(self) -> str:
        group = f"/subscriptions/{self.subscription}/resourceGroups/{self.group}"
        base = f"{group}/providers/{NAMESPACE}/{self.kind}/{self.name}"
        return f"{base}/{self.child_kind}/{self.child_name}" if self.child_kind else base

    def same(self, other: ResourceRef) -> bool:
        return self.id.lower() == other.id.lower()


def parse_id(value: object, *, referrer: str) -> ResourceRef:
    """A reference as ARM accepts one in a request body; a malformed one is a 400 naming the referrer."""
    if not isinstance(value, str):
        raise bad_request("InvalidRequestFormat", f"{referrer}: a resource reference needs a string 'id'.")
    parts = value.strip("/").split("/")
    ok = (
        len(parts) in (8, 10)
        and parts[0].lower() == "subscriptions"
        and parts[2].lower() == "resourcegroups"
        and parts[4].lower() == "providers"
        and parts[5].lower() == NAMESPACE.lower()
    )
    kind = canonical_kind(parts[6]) if ok else None
    child = canonical_child(kind, parts[8]) if kind and len(parts) == 10 else None
    if kind is None or (len(parts) == 10 and child is None) or not all(parts):
        raise ArmError(400, "LinkedInvalidPropertyId", f"Property id '{value}' at path '{referrer}' is invalid.")
    return ResourceRef(parts[1], parts[3], kind, parts[7], child, parts[9] if child else None)
