"""What the Azure provider calls things, and how it tells its own parts of a shared load balancer from others'.

Where this sits: every other module of the provider names resources only through this one. Azure's model (one
Standard Load Balancer per cluster and scheme, shared by every Service) means most of a Service's parts are children
of a resource it shares, and children carry no tags. So ownership works in two layers:

- Top-level resources carry tags. The shared load balancer carries ``cloudlb.io/cluster`` and, for each Service
  on it, one **record** tag: key ``cloudlb.io/frontend/<base>``, value ``<namespace>/<name> <uid>``. A public IP
  cloudlb allocates carries the three ownership tags. Tag keys are stored through ``naming.encode_tag_key``,
  since Azure refuses ``/`` in tag names (``cloudlb.io~2fcluster``).
- Children are named from the Service's **base** (``resource_name`` of the Service, which ends in a hash of
  cluster, namespace and name): the frontend IP configuration is ``<base>``, its rules ``<base>-tcp-80``, its probes
  ``<base>-hc-30080``, its pod pool ``<base>``. A child is the Service's only when its name has that exact shape
  AND the load balancer's record for ``<base>`` names the Service. Network security rules have no tags either: they
  are named ``<base>-tcp`` and their description (``cloudlb <cluster> <namespace>/<name> <uid>``) names the owner.

The record and the children are written in the same PUT of the load balancer, so they can never disagree. The
one cost: Azure allows 50 tags on a resource, so at most ``MAX_SERVICES_PER_LB`` Services share one balancer.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Mapping

from cloudlb.errors import InvalidSpecError
from cloudlb.model import Scheme, ServiceRef
from cloudlb.naming import (
    AZURE_NAME_RULES,
    CLUSTER_TAG,
    SERVICE_TAG,
    UID_TAG,
    NameRules,
    decode_tag_key,
    encode_tag_key,
    owner_of,
    resource_name,
)

__all__ = [
    "BASE_RULES",
    "DESCRIPTION_PREFIX",
    "MAX_DESCRIPTION",
    "MAX_SERVICES_PER_LB",
    "MAX_TAGS",
    "NODE_POOL",
    "RECORD_PREFIX",
    "belongs_to",
    "check_resource_name",
    "cluster_tag_key",
    "decoded",
    "description_owner",
    "encoded",
    "is_nsg_rule_of",
    "lb_name",
    "nsg_description",
    "nsg_rule_name",
    "pip_name",
    "probe_name",
    "record",
    "record_base",
    "record_owner",
    "rule_name",
    "service_base",
    "with_uid",
]

MAX_TAGS = 50  # Azure's limit of tags on one resource
MAX_SERVICES_PER_LB = MAX_TAGS - 1  # the cluster tag takes one
# Leaves room for the longest suffix ("-udp-65535", "-pip-abcdef") within Azure's 80 characters.
BASE_RULES = NameRules(max_length=68, allowed="A-Za-z0-9_.-", last="A-Za-z0-9_")
NODE_POOL = "cloudlb-nodes"  # node mode: the one IP-based pool of a cluster's balancer
RECORD_PREFIX = "cloudlb.io/frontend/"
DESCRIPTION_PREFIX = "cloudlb"
MAX_DESCRIPTION = 140  # Azure's limit on a security rule's description
_CHILD_SUFFIX = r"(?:-(?:tcp|udp)-\d{1,5}|-hc-\d{1,5})?"
_NSG_SUFFIX = r"-(?:tcp|udp)"


def check_resource_name(name: str, where: str) -> str:
    """``name`` when Azure accepts it for a network resource (1-80 characters, ...), else ``InvalidSpecError``."""
    if not AZURE_NAME_RULES.is_valid(name):
        raise InvalidSpecError(
            where,
            f"{name!r} is not a valid Azure resource name: 1-80 letters, digits, '_', '.' or '-', starting with a "
            "letter or digit and ending with a letter, digit or '_'",
        )
    return name


def lb_name(cluster: str, scheme: Scheme) -> str:
    """The shared balancer of a cluster and scheme: ``<cluster>`` or ``<cluster>-internal``."""
    name = cluster if scheme is Scheme.EXTERNAL else f"{cluster}-internal"
    return check_resource_name(name, "cluster")


def service_base(ref: ServiceRef) -> str:
    """The Service's frontend name and the stem of every child it owns (no uid: a file-applied spec has none)."""
    return resource_name(ref, BASE_RULES)


def rule_name(base: str, protocol: str, port: int) -> str:
    return f"{base}-{protocol.lower()}-{port}"


def probe_name(base: str, port: int) -> str:
    return f"{base}-hc-{port}"


def nsg_rule_name(base: str, protocol: str) -> str:
    return f"{base}-{protocol.lower()}"


def pip_name(base: str, uid: str) -> str:
    """A public IP per incarnation of the Service: a recreated Service (another uid) gets a new one while the old
    one, still attached, is replaced and then deleted. A spec without a uid uses the plain name."""
    if not uid:
        return f"{base}-pip"
    return f"{base}-pip-{hashlib.sha256(uid.encode()).hexdigest()[:6]}"


def belongs_to(child: str, base: str) -> bool:
    """Whether a load balancer child's name has the shape of one of ``base``'s (frontend, rule, probe, pool)."""
    return re.fullmatch(re.escape(base) + _CHILD_SUFFIX, child, flags=re.IGNORECASE) is not None


def is_nsg_rule_of(rule: str, base: str) -> bool:
    return re.fullmatch(re.escape(base) + _NSG_SUFFIX, rule, flags=re.IGNORECASE) is not None


# --- tags ---------------------------------------------------------------------------------------------------------


def encoded(tags: Mapping[str, str]) -> dict[str, str]:
    """Tags as stored on Azure."""
    return {encode_tag_key(key): value for key, value in tags.items()}


def decoded(tags: Mapping[str, str] | None) -> dict[str, str]:
    """Tags as cloudlb reads them."""
    return {decode_tag_key(key): value for key, value in (tags or {}).items()}


def cluster_tag_key() -> str:
    return encode_tag_key(CLUSTER_TAG)


def record(ref: ServiceRef, base: str) -> tuple[str, str]:
    """The record tag (stored key, value) that says the children named from ``base`` are ``ref``'s."""
    value = f"{ref.service} {ref.uid}" if ref.uid else ref.service
    return encode_tag_key(RECORD_PREFIX + base), value


def record_base(stored_key: str) -> str | None:
    """The base a stored tag key records, or None when the key is not a record."""
    key = decode_tag_key(stored_key)
    return key[len(RECORD_PREFIX) :] if key.startswith(RECORD_PREFIX) and len(key) > len(RECORD_PREFIX) else None


def record_owner(cluster: str, value: str) -> dict[str, str]:
    """A record's value as the three ownership tags, for ``naming.ownership``."""
    service, _, uid = value.partition(" ")
    return {CLUSTER_TAG: cluster, SERVICE_TAG: service, UID_TAG: uid}


def nsg_description(ref: ServiceRef) -> str:
    """``cloudlb <cluster> <namespace>/<name> <uid>``; when that passes the 140 characters Azure allows, only
    ``cloudlb <uid>``: the rule's name, made from the Service's base, already stands for cluster and Service."""
    full = " ".join([DESCRIPTION_PREFIX, ref.cluster, ref.service] + ([ref.uid] if ref.uid else []))
    if len(full) <= MAX_DESCRIPTION:
        return full
    return " ".join([DESCRIPTION_PREFIX] + ([ref.uid] if ref.uid else []))


def description_owner(description: str | None, ref: ServiceRef | None = None) -> dict[str, str]:
    """A security rule's description as ownership tags; ``{}`` when cloudlb did not write it. The short form names
    only a uid: it is read for ``ref``, whose base the rule's name was checked against."""
    parts = (description or "").split(" ")
    if parts[0] != DESCRIPTION_PREFIX:
        return {}
    if len(parts) in (3, 4):
        tags = {CLUSTER_TAG: parts[1], SERVICE_TAG: parts[2], UID_TAG: parts[3] if len(parts) == 4 else ""}
        return tags if owner_of(tags) is not None else {}
    if len(parts) <= 2 and ref is not None:
        return {CLUSTER_TAG: ref.cluster, SERVICE_TAG: ref.service, UID_TAG: parts[1] if len(parts) == 2 else ""}
    return {}


def with_uid(ref: ServiceRef, recorded: str | None) -> ServiceRef:
    """``ref``, keeping a uid already recorded when ``ref`` has none (a file-applied spec still names the
    Service a controller recorded)."""
    if ref.uid or not recorded:
        return ref
    return ServiceRef(ref.cluster, ref.namespace, ref.name, recorded)
